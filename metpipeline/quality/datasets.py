"""Suite `datasets`: the counts files (and publishable CSVs) have the exact published layout, valid counts,
and totals that reconcile with the reconciliation ledger, so nothing is lost between harmonise and publish.
"""

import pandas as pd

from metpipeline.catalogue import DatasetSpec, spec
from metpipeline.months.arithmetic import month_columns, yyyymm

SUITE_VERSION = "datasets-1.0.0"
COUNT_PATTERN = r"^(?:0|[1-9][0-9]*|\[c\])$"  # a non-negative integer or the suppression marker


def window_months(month: str, window: str, first_month: str) -> list[str]:
    """YYYYMM columns a file of the window must have: 24m = M-23..M, historical = first..M-24."""
    end = pd.Period(month, "M") if window == "24m" else pd.Period(month, "M") - 24
    start = max(pd.Period(month, "M") - 23, pd.Period(first_month, "M")) if window == "24m" else None
    start = start or pd.Period(first_month, "M")
    if end < start:
        return []
    return [p.strftime("%Y%m") for p in pd.period_range(start, end, freq="M")]


def as_spec(dataset: "DatasetSpec | str") -> DatasetSpec:
    """A catalogue specification, given it or its slug."""
    return dataset if isinstance(dataset, DatasetSpec) else spec(dataset)


def column_schema(slug: "DatasetSpec | str", files: dict[str, pd.DataFrame], month: str, first_month: str):
    import great_expectations.expectations as gxe

    return [
        (
            frame.head(0),
            [
                gxe.ExpectTableColumnsToMatchOrderedList(
                    column_list=as_spec(slug).key_columns + window_months(month, window, first_month)
                )
            ],
        )
        for window, frame in files.items()
    ]


def counts_valid(slug: "DatasetSpec | str", files: dict[str, pd.DataFrame], month: str, first_month: str):
    import great_expectations.expectations as gxe

    out = []
    for frame in files.values():
        long = pd.DataFrame({"count": distinct_cells(frame, month_columns(frame))})
        out.append((long, [gxe.ExpectColumnValuesToMatchRegex(column="count", regex=COUNT_PATTERN)]))
    return out


def distinct_cells(frame: pd.DataFrame, months: list[str]) -> pd.Series:
    """Each distinct value of the month columns once, as text (a missing cell as `<NA>`, which fails).

    Whether a value matches the pattern does not depend on how often it occurs, so the expectation
    judges the distinct values: a few thousand rows instead of every cell of a historical table (tens of
    millions for the LSOA file, which as text took seconds and gigabytes)."""
    if not months:
        return pd.Series([], dtype=str)
    parts = [pd.Series(frame[m].unique()) for m in months]
    values = pd.concat(parts, ignore_index=True).astype("string").fillna("<NA>").astype(str)
    return values.drop_duplicates().sort_values(kind="stable").reset_index(drop=True)


def expected_total(slug: "DatasetSpec | str", ledger: dict, withheld: int = 0) -> int | None:
    """What the month's column must add up to, from the reconciliation ledger (the catalogue says which
    total: every counted crime, the geocoded ones, or none where records overlap, as flags do)."""
    dataset = as_spec(slug)
    counted, ng = int(ledger["counted"]), ledger.get("not_geocoded", {})
    if dataset.reconciles_to == "counted":
        return counted
    if dataset.reconciles_to == "geocoded":
        return counted - int(ng.get(dataset.slug, 0)) - withheld
    return None


def totals_reconcile(
    slug: "DatasetSpec | str", files: dict[str, pd.DataFrame], month: str, ledger: dict, withheld: int = 0
):
    import great_expectations.expectations as gxe

    frame, col = files.get("24m"), yyyymm(month)
    target = expected_total(slug, ledger, withheld)
    if frame is None or target is None:
        return []
    values = pd.to_numeric(frame[col], errors="coerce") if col in frame else pd.Series([], dtype=float)
    view = pd.DataFrame({"month_total": values})
    return [
        (view, [gxe.ExpectColumnSumToBeBetween(column="month_total", min_value=target, max_value=target)])
    ]
