"""The London Datastore tables, built in two steps from the catalogue's specifications (catalogue.py).

1. `month_cells`: one month's harmonised crimes reduced once to the cells each table needs (its key
   columns, as published, and a count). The `monthly_cells` asset stores them per month.
2. `assemble`: the cells of a window's months → the wide table (key columns, then one integer `YYYYMM`
   column per month, oldest first; rows that are zero in every month left out; sorted by the keys).
   `extend` adds months to a table built earlier, giving the same table as `assemble` of all its months.

Windows for release month M: `24m` = M-23..M and `historical` = first month..M-24, both clipped to the
first month the DataMart holds (a month before it has no data, so it gets no column). A window with no
month (an early release has no historical months) gives a table with the key columns only and no rows.
"""

import numpy as np
import pandas as pd

from metpipeline.catalogue import CATALOGUE, WINDOWS, DatasetSpec, headline, spec
from metpipeline.memory import RELEASE_EVERY_COLUMNS, release_pools
from metpipeline.months.arithmetic import add_months, month_range
from metpipeline.reference import AVIATION_BOROUGH, UNKNOWN_BOROUGH

__all__ = ["WINDOWS", "add_months", "month_range"]

SLUGS = tuple(CATALOGUE)
COUNT = "count"
# Not a published table: the airports pseudo-borough's crimes by the borough where they happened, which
# the 2026 layout counts there instead of in a row of their own (datasets/layouts.py). Its cells have the
# borough table's key columns.
AIRPORTS = "airports_by_location"


def datastore_file_name(slug: str, window: str) -> str:
    """e.g. `MPS Borough Level Crime (most recent 24 months).csv`."""
    return spec(slug).file_name(window)


def key_columns(slug: str) -> list[str]:
    return spec(slug).key_columns


def window_months(release_month: str, window: str, first_month: str) -> list[str]:
    if window == "24m":
        return month_range(max(first_month, add_months(release_month, -23)), release_month)
    if window == "historical":
        return month_range(first_month, add_months(release_month, -24))
    raise ValueError(f"unknown window {window!r}: expected one of {WINDOWS}")


def _as_str(values: pd.Series) -> pd.Series:
    """`values.astype(str)` for values with no missing value; a categorical converts its categories only."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.cat.categories.astype(str)
        return pd.Series(categories.take(values.cat.codes.to_numpy()), index=values.index, name=values.name)
    return values.astype(str)


def _cells_of(rows: pd.DataFrame, dataset: DatasetSpec) -> pd.DataFrame:
    """Records → (published key columns…, count), one row per observed key, sorted by the keys."""
    sources = dataset.source_columns
    # Rule 6: ward and LSOA counts leave out crimes with no geocode (a key column is empty).
    mask = np.ones(len(rows), dtype=bool)
    for column in sources:
        mask &= rows[column].notna().to_numpy()
    if mask.any():
        grouped = (
            rows.loc[mask, sources].groupby(sources, observed=True, sort=False).size().reset_index(name=COUNT)
        )
    else:
        grouped = pd.DataFrame(
            {**{c: pd.Series(dtype=str) for c in sources}, COUNT: pd.Series(dtype="int64")}
        )
    out = pd.DataFrame(index=grouped.index)
    for key in dataset.keys:
        values = _as_str(grouped[key.source])
        out[key.published] = values.str.upper() if key.upper else values
    out[COUNT] = grouped[COUNT].astype("int64")
    # Distinct source values can publish as the same key (case), so group again on the published form.
    out = out.groupby(dataset.key_columns, sort=True, observed=True)[COUNT].sum().reset_index()
    return out


def month_cells(harmonised: pd.DataFrame, dataset: DatasetSpec) -> pd.DataFrame:
    """The month's cells of one table: its published key columns and the crimes (or records) counted."""
    return _cells_of(dataset.counted_rows(harmonised), dataset)


def airports_cells(harmonised: pd.DataFrame, dataset: DatasetSpec) -> pd.DataFrame:
    """The airports pseudo-borough's crimes (recorded by Aviation Security, SO18) as borough cells whose
    borough is where each crime happened: the ward's borough, else the LSOA's, else `Unknown`."""
    air = harmonised[(harmonised["borough_name"] == AVIATION_BOROUGH).to_numpy(dtype=bool)]
    located = air["ward_borough_name"].astype("string").fillna(air["lsoa_borough_name"].astype("string"))
    frame = pd.DataFrame(
        {
            "mps_major": air["mps_major"].astype("string"),
            "mps_minor": air["mps_minor"].astype("string"),
            "borough_name": located.fillna(UNKNOWN_BOROUGH),
        }
    )
    return _cells_of(frame, dataset)


def all_month_cells(harmonised: pd.DataFrame, specs=None) -> dict[str, pd.DataFrame]:
    """Every table's cells of one month (and the airports' cells, for the 2026 borough layout)."""
    specs = list(CATALOGUE.values()) if specs is None else specs
    out = {s.slug: month_cells(harmonised, s) for s in specs}
    for s in specs:
        if s.airports_row:
            out[airports_table(s.slug)] = airports_cells(harmonised, s)
    return out


def empty_table(dataset: DatasetSpec, month_columns: list[str]) -> pd.DataFrame:
    """A table of no rows (no cells in its months): key columns of no type (Parquet stores them as null),
    month columns int64. Its bytes are part of the counts and history files, so keep it as it is."""
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in dataset.key_columns})
    for column in month_columns:
        frame[column] = pd.Series(dtype="int64")
    return frame


def assemble(cells: pd.DataFrame, dataset: DatasetSpec, months: list[str]) -> pd.DataFrame:
    """The wide table of `months` from their cells (columns: key columns, `month` as `YYYY-MM`, `count`)."""
    keys = dataset.key_columns
    month_columns = [m.replace("-", "") for m in months]
    cells = cells[cells["month"].isin(months).to_numpy(dtype=bool)] if len(cells) else cells
    if not len(cells):
        return empty_table(dataset, month_columns)
    # Row ids by key (categorical keys group by code); one matrix filled by (row, month) positions: the
    # cells are already unique per key and month, so plain assignment suffices.
    row = cells.groupby(keys, observed=True, sort=False).ngroup().to_numpy()
    position = {m: i for i, m in enumerate(months)}
    column = _as_str(cells["month"]).map(position).to_numpy()
    matrix = np.zeros((int(row.max()) + 1, len(months)), dtype="int64")
    matrix[row, column] = cells[COUNT].to_numpy(dtype="int64")
    _, first = np.unique(row, return_index=True)
    wide = pd.DataFrame({k: _as_str(cells[k].iloc[first]).to_numpy(dtype=object) for k in keys})
    wide = pd.concat([wide, pd.DataFrame(matrix, columns=month_columns)], axis=1)
    return _sorted(wide, dataset)


def _sorted(wide: pd.DataFrame, dataset: DatasetSpec) -> pd.DataFrame:
    for key in dataset.key_columns:  # one text dtype however the table was made (assembled or extended)
        wide[key] = wide[key].astype(str)
    wide = wide.sort_values(dataset.key_columns, kind="stable").reset_index(drop=True)
    wide.columns.name = None
    return wide


def extend(
    earlier: pd.DataFrame, cells: pd.DataFrame, dataset: DatasetSpec, months: list[str]
) -> pd.DataFrame:
    """`earlier` (a wide table of months before `months`) with the columns of `months` added from their
    cells: the same table as `assemble` of all the months (rows zero in every month never appear).

    Keys are unique in both tables (as `assemble` and `extend` make them; `historical_table` rebuilds a
    stored table that has a repeated key). `earlier` is consumed: its month columns are popped, each as
    soon as it is copied, so the historical LSOA table is held about once, not three times as a merge,
    fill and sort held it (benchmarks/RESULTS.md)."""
    keys = dataset.key_columns
    added = assemble(cells, dataset, months)
    # Where each added row's key is in `earlier`; keys not there yet become new rows (zero before).
    where = pd.MultiIndex.from_frame(earlier[keys]).get_indexer(pd.MultiIndex.from_frame(added[keys]))
    new = np.flatnonzero(where < 0)
    where[new] = len(earlier) + np.arange(len(new))
    n = len(earlier) + len(new)
    key_frame = pd.concat([earlier[keys], added[keys].iloc[new]], ignore_index=True).astype(str)
    # The keys are unique, so this is the row order `_sorted` gives, whatever order the rows came in.
    order = key_frame.sort_values(keys, kind="stable").index.to_numpy()
    in_order = order if len(new) or (order != np.arange(n)).any() else None

    month_columns = [c for c in earlier.columns if c not in keys] + [
        c for c in added.columns if c not in keys
    ]
    if n == 0:  # no cells in any month: the empty table exactly as `assemble` makes it
        return empty_table(dataset, month_columns)
    # One block of counts, filled a column at a time (pandas keeps int64 columns as rows of one 2-D block).
    block = np.empty((len(month_columns), n), dtype="int64")
    zeros = np.zeros(len(new), dtype="int64")
    for i, column in enumerate(month_columns):
        if column in added.columns:
            values = np.zeros(n, dtype="int64")
            values[where] = added[column].to_numpy(dtype="int64")
        else:
            values = earlier.pop(column).to_numpy(dtype="int64")  # popped: freed once copied
            values = np.concatenate([values, zeros]) if len(new) else values
        if in_order is None:
            block[i] = values
        else:
            np.take(values, in_order, out=block[i])
        if i % RELEASE_EVERY_COLUMNS == RELEASE_EVERY_COLUMNS - 1:
            release_pools(heaps=False)  # the popped columns (Arrow's memory), before the block grows
    counts = pd.DataFrame(block.T, columns=month_columns, copy=False)
    wide = pd.concat([key_frame.iloc[order].reset_index(drop=True), counts], axis=1)
    wide.columns.name = None
    return wide


def _from_crimes(harmonised: pd.DataFrame, months: list[str], cells_of, dataset: DatasetSpec) -> pd.DataFrame:
    """A wide table straight from the harmonised crimes: each month reduced by `cells_of`, then assembled."""
    parts = []
    for month in months:
        crimes = harmonised[(harmonised["month"].astype(str) == month).to_numpy(dtype=bool)]
        parts.append(cells_of(crimes).assign(month=month))
    return assemble(pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(), dataset, months)


def build_table(harmonised: pd.DataFrame, slug: str, months: list[str]) -> pd.DataFrame:
    """The wide table of `slug` over `months` straight from the harmonised crimes of those months."""
    dataset = spec(slug)
    return _from_crimes(harmonised, months, lambda crimes: month_cells(crimes, dataset), dataset)


def build_airports_by_location(harmonised: pd.DataFrame, slug: str, months: list[str]) -> pd.DataFrame:
    """The table of the airports' crimes by where they happened, shaped as `slug`, straight from crimes."""
    dataset = spec(slug)
    return _from_crimes(harmonised, months, lambda crimes: airports_cells(crimes, dataset), dataset)


def airports_table(slug: str) -> str:
    """The cell store's name of a table's airports-by-location cells (the borough table's: `airports`)."""
    return AIRPORTS if slug == headline().slug else f"{slug}__{AIRPORTS}"


def airports_name(slug: str, window: str) -> str:
    """The counts file of a table's airports-by-location table beside `<slug>__<window>.parquet`."""
    return f"{slug}__{window}__{AIRPORTS}.parquet"


def build_datasets(
    harmonised: pd.DataFrame, release_month: str, first_month: str
) -> dict[tuple[str, str], pd.DataFrame]:
    """Every (slug, window) table of the release month from the harmonised crimes of all months ≤ M."""
    return {
        (slug, window): build_table(harmonised, slug, window_months(release_month, window, first_month))
        for slug in SLUGS
        for window in WINDOWS
    }
