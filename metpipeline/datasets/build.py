"""The London Datastore tables: harmonised crimes of many months → one wide table per slug and window.

Windows for release month M: `24m` = M-23..M and `historical` = first month..M-24, both clipped to the
first month the DataMart holds (a month before it has no data, so it gets no column). A window with no
month (an early release has no historical months) gives a table with the key columns only and no rows.
"""

import pandas as pd

from metpipeline.harmonise.rules import HATE_COLUMNS
from metpipeline.reference import AVIATION_BOROUGH, HATE_STRANDS, UNKNOWN_BOROUGH

SLUGS = ("borough", "ward", "lsoa", "flagged")
WINDOWS = ("24m", "historical")

# Key columns of each Datastore file, in published order, and the harmonised column each comes from.
KEY_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "borough": [("MajorText", "mps_major"), ("MinorText", "mps_minor"), ("BoroughName", "borough_name")],
    "ward": [
        ("MajorText", "mps_major"),
        ("MinorText", "mps_minor"),
        ("WardName", "ward_name"),
        ("WardCode", "ward_code"),
        ("LookUp_BoroughName", "ward_borough_name"),
    ],
    "lsoa": [
        ("LSOA Code", "lsoa_code"),
        ("LSOA Name", "lsoa_name"),
        ("Borough", "lsoa_borough_name"),
        ("Major Category", "mps_major"),
        ("Minor Category", "mps_minor"),
    ],
    "flagged": [("FlagType", "flag_type"), ("FlagText", "flag_text"), ("BoroughName", "borough_name")],
}
TITLES = {
    "borough": "MPS Borough Level Crime",
    "ward": "MPS Ward Level Crime",
    "lsoa": "MPS LSOA Level Crime",
    "flagged": "MPS Flagged Crime by Borough",
}
_UPPER = {"MajorText", "MinorText", "Major Category", "Minor Category", "FlagType", "FlagText"}


def datastore_file_name(slug: str, window: str) -> str:
    """e.g. `MPS Borough Level Crime (most recent 24 months).csv`."""
    suffix = "(most recent 24 months)" if window == "24m" else "(Historical)"
    return f"{TITLES[slug]} {suffix}.csv"


def key_columns(slug: str) -> list[str]:
    return [published for published, _ in KEY_COLUMNS[slug]]


def add_months(month: str, n: int) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + mon - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_range(first: str, last: str) -> list[str]:
    """Every `YYYY-MM` from first to last inclusive (empty when last < first)."""
    out = []
    month = first
    while month <= last:
        out.append(month)
        month = add_months(month, 1)
    return out


def window_months(release_month: str, window: str, first_month: str) -> list[str]:
    if window == "24m":
        return month_range(max(first_month, add_months(release_month, -23)), release_month)
    if window == "historical":
        return month_range(first_month, add_months(release_month, -24))
    raise ValueError(f"unknown window {window!r}: expected one of {WINDOWS}")


def _flag_rows(harmonised: pd.DataFrame) -> pd.DataFrame:
    """One row per (crime, flag): hate strands as HATE CRIME / strand, domestic abuse as DOMESTIC ABUSE."""
    parts = []
    for column, strand in zip(HATE_COLUMNS, HATE_STRANDS, strict=True):
        part = harmonised.loc[harmonised[column], ["month", "borough_name"]].copy()
        part["flag_type"], part["flag_text"] = "HATE CRIME", strand
        parts.append(part)
    part = harmonised.loc[harmonised["domestic_abuse"], ["month", "borough_name"]].copy()
    part["flag_type"], part["flag_text"] = "DOMESTIC ABUSE", "DOMESTIC ABUSE"
    parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _as_str(values: pd.Series) -> pd.Series:
    """`values.astype(str)` for values with no missing value; a categorical converts its categories only."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.cat.categories.astype(str)
        return pd.Series(categories.take(values.cat.codes.to_numpy()), index=values.index, name=values.name)
    return values.astype(str)


def build_table(harmonised: pd.DataFrame, slug: str, months: list[str]) -> pd.DataFrame:
    """The wide table of `slug` over `months`: key columns, then one integer `YYYYMM` column per month
    (oldest first); rows that are zero in every month left out; sorted by the key columns."""
    keys = KEY_COLUMNS[slug]
    group_columns = [column for _, column in keys]
    month_columns = [m.replace("-", "") for m in months]
    source = _flag_rows(harmonised) if slug == "flagged" else harmonised
    # One mask over the rows: the window's months, and (rule 6) ward and LSOA counts leave out crimes with
    # no geocode. Only the key and month columns are taken, and grouped as they are (categorical keys
    # group by code, observed combinations only); text work is done on the grouped result, not per crime.
    mask = source["month"].isin(months)
    for column in group_columns:
        mask &= source[column].notna()
    if mask.any():
        sizes = (
            source.loc[mask, [*group_columns, "month"]]
            .groupby([*group_columns, "month"], observed=True, sort=False)
            .size()
        )
        grouped = sizes.reset_index(name="_count")
        for column in group_columns:
            grouped[column] = _as_str(grouped[column])
        grouped["_month"] = _as_str(grouped["month"]).str.replace("-", "", regex=False)
        counts = grouped.set_index([*group_columns, "_month"])["_count"].unstack("_month", fill_value=0)
        wide = counts.reindex(columns=month_columns, fill_value=0).reset_index()
    else:
        wide = pd.DataFrame(columns=group_columns + month_columns)
    wide = wide.rename(columns={column: published for published, column in keys})
    for published in key_columns(slug):
        wide[published] = wide[published].astype(str)
        if published in _UPPER:
            wide[published] = wide[published].str.upper()
    for column in month_columns:
        wide[column] = wide[column].astype("int64")
    wide = wide[key_columns(slug) + month_columns]
    wide = wide.sort_values(key_columns(slug), kind="stable").reset_index(drop=True)
    wide.columns.name = None
    return wide


def build_airports_by_location(harmonised: pd.DataFrame, months: list[str]) -> pd.DataFrame:
    """The airports pseudo-borough's crimes (recorded by Aviation Security, SO18) as a borough table whose
    borough is where each crime happened: the ward's borough, else the LSOA's, else `Unknown`. The 2026
    layout counts them there instead of in a row of their own (datasets/layouts.py)."""
    air = harmonised[(harmonised["borough_name"] == AVIATION_BOROUGH).to_numpy(dtype=bool)]
    located = air["ward_borough_name"].astype("string").fillna(air["lsoa_borough_name"].astype("string"))
    frame = pd.DataFrame(
        {
            "mps_major": air["mps_major"].astype("string"),
            "mps_minor": air["mps_minor"].astype("string"),
            "borough_name": located.fillna(UNKNOWN_BOROUGH),
            "month": air["month"].astype("string"),
        }
    )
    return build_table(frame, "borough", months)


def airports_name(window: str) -> str:
    """The counts file of `build_airports_by_location` beside `borough__<window>.parquet`."""
    return f"borough__{window}__airports_by_location.parquet"


def build_datasets(
    harmonised: pd.DataFrame, release_month: str, first_month: str
) -> dict[tuple[str, str], pd.DataFrame]:
    """Every (slug, window) table of the release month from the harmonised crimes of all months ≤ M."""
    return {
        (slug, window): build_table(harmonised, slug, window_months(release_month, window, first_month))
        for slug in SLUGS
        for window in WINDOWS
    }
