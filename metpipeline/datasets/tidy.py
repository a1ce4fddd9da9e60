"""Wide Datastore table → tidy long form (a row per non-zero cell), for the publishable `<slug>-tidy` files.

Cells may be integers or the suppression marker `[c]` (after disclosure control): the long form carries
`count` as nullable Int64 (missing where suppressed) and a boolean `suppressed`. Cells whose count is 0
are left out (a long table lists what happened; zeros are implied, as the wide files leave out rows
that are zero in every month); suppressed cells are always kept.
"""

import re

import pandas as pd

from metpipeline.catalogue import CATALOGUE
from metpipeline.datasets.build import key_columns

SUPPRESSED = "[c]"
_MONTH = re.compile(r"^\d{6}$")

# Published key column → tidy column name, per slug (from the catalogue).
TIDY_NAMES: dict[str, dict[str, str]] = {slug: spec.tidy_names for slug, spec in CATALOGUE.items()}


def tidy_columns(slug: str) -> list[str]:
    """`month`, the geography codes and names, the categories (or flags), `count`, `suppressed`."""
    return ["month", *TIDY_NAMES[slug].values(), "count", "suppressed"]


def to_tidy(wide: pd.DataFrame, slug: str) -> pd.DataFrame:
    """One row per non-zero or suppressed cell, months as `YYYY-MM`, sorted by month then keys."""
    keys = key_columns(slug)
    months = [c for c in wide.columns if _MONTH.match(str(c))]
    unexpected = [c for c in wide.columns if c not in keys and c not in months]
    if unexpected:
        raise ValueError(f"{slug}: columns neither key nor YYYYMM month: {unexpected}")
    long = wide.melt(id_vars=keys, value_vars=months, var_name="month", value_name="cell")
    cell = long["cell"].astype("string").str.strip()
    suppressed = (cell == SUPPRESSED).fillna(False).astype(bool)
    count = pd.to_numeric(cell.mask(suppressed), errors="raise").astype("Int64")
    out = long[keys].rename(columns=TIDY_NAMES[slug])
    out["month"] = long["month"].str[:4] + "-" + long["month"].str[4:]
    out["count"] = count
    out["suppressed"] = suppressed
    out = out[tidy_columns(slug)]
    out = out[(out["count"] != 0).fillna(True).to_numpy(dtype=bool) | suppressed.to_numpy(dtype=bool)]
    order = ["month", *TIDY_NAMES[slug].values()]
    return out.sort_values(order, kind="stable").reset_index(drop=True)
