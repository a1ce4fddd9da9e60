"""Suite `volume`: the month's total and each major category against the trailing twelve months.

Outside +-25% of the trailing mean is a warning shown to the data owner, not a block. With fewer than
twelve months of history the comparison uses what exists and says so.
"""

from collections.abc import Iterable
from typing import Any, cast

import pandas as pd

from metpipeline.months.arithmetic import month_columns, yyyymm

SUITE_VERSION = "volume-1.0.0"
TOLERANCE = 0.25
TRAILING = 12


def comparison(borough: pd.DataFrame, month: str) -> pd.DataFrame:
    """One row per scope (`ALL CRIME` and each major): count, trailing mean, months of history, ratio."""
    cols = month_columns(borough)
    col = yyyymm(month)
    history = [c for c in cols if c < col][-TRAILING:]
    by_major = borough.groupby("MajorText")[[*history, col]].sum()
    table = pd.concat([pd.DataFrame([by_major.sum()], index=["ALL CRIME"]), by_major])
    out = pd.DataFrame(
        {
            "scope": table.index.astype(str),
            "count": table[col].astype(int).to_numpy(),
            "trailing_mean": table[history].mean(axis=1).to_numpy() if history else float("nan"),
        }
    )
    out["months_of_history"] = len(history)
    out["ratio"] = (out["count"] / out["trailing_mean"]).where(out["trailing_mean"] > 0)
    return out


def within_range(table: pd.DataFrame):
    import great_expectations.expectations as gxe

    expectation = gxe.ExpectColumnValuesToBeBetween(
        column="ratio", min_value=1 - TOLERANCE, max_value=1 + TOLERANCE
    )
    return [(table[["scope", "ratio"]], [expectation])]


def outside(table: pd.DataFrame) -> list[dict]:
    bad = table[(table["ratio"] < 1 - TOLERANCE) | (table["ratio"] > 1 + TOLERANCE)]
    return [
        {"scope": r.scope, "count": int(r.count), "trailing_mean": round(float(r.trailing_mean), 1),
         "change_pct": round((float(r.ratio) - 1) * 100, 1)}
        # Named-tuple rows: `r.count` is the column, which stubs take for tuple.count.
        for r in cast(Iterable[Any], bad.itertuples())
    ]  # fmt: skip
