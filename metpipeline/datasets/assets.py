"""Dagster assets of the datasets stage: the four Datastore tables of a release month, both windows."""

from functools import lru_cache
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from metpipeline.datasets.build import (
    KEY_COLUMNS,
    WINDOWS,
    add_months,
    airports_name,
    build_airports_by_location,
    build_table,
    month_range,
    window_months,
)
from metpipeline.harmonise.assets import harmonised_offences
from metpipeline.harmonise.rules import HATE_COLUMNS
from metpipeline.partitions import FIRST_MONTH, monthly_partitions
from metpipeline.resources import WorkAreaResource


class MissingMonths(RuntimeError):
    """A month between the first partition and the release month has no harmonised file."""


# The harmonised columns the Datastore tables are built from (the key columns of every slug, the month
# and the flags); text columns are read dictionary-encoded, i.e. as categoricals.
# (`flag_type` and `flag_text` are derived from the flags by the flagged table.)
_TEXT_COLUMNS = sorted(
    {column for keys in KEY_COLUMNS.values() for _, column in keys} - {"flag_type", "flag_text"}
    | {"month", "borough_name"}
)
COLUMNS = [*_TEXT_COLUMNS, *HATE_COLUMNS, "domestic_abuse"]


@lru_cache(maxsize=8)
def _load(files: tuple[tuple[str, int, int], ...]) -> pd.DataFrame:
    # Keyed by path, mtime and size: the four dataset assets of one run read the files once, and a
    # re-harmonised month (new mtime) is never served stale. Only the columns the tables need are read,
    # text as dictionaries unified across months, so 15 million crimes take integer codes, not strings.
    tables = [pq.read_table(path, columns=COLUMNS, read_dictionary=_TEXT_COLUMNS) for path, _, _ in files]
    if not tables:
        return pd.DataFrame(columns=COLUMNS)
    table = pa.concat_tables(tables, promote_options="permissive").unify_dictionaries()
    return table.to_pandas(ignore_metadata=True)


def _ranges(months: list[str]) -> str:
    """['2022-01', '2022-02', '2022-05'] → '2022-01..2022-02, 2022-05' (a missing span reads as one)."""
    runs: list[list[str]] = []
    for month in months:
        if runs and add_months(runs[-1][-1], 1) == month:
            runs[-1].append(month)
        else:
            runs.append([month])
    return ", ".join(r[0] if len(r) == 1 else f"{r[0]}..{r[-1]}" for r in runs)


def load_harmonised(area, release_month: str, first_month: str = FIRST_MONTH) -> pd.DataFrame:
    """Harmonised crimes of every month first_month..release_month, failing on any missing month."""
    months = month_range(first_month, release_month)
    paths = [Path(area.harmonised_path(m)) for m in months]
    missing = [m for m, p in zip(months, paths, strict=True) if not p.is_file()]
    if missing:
        raise MissingMonths(
            f"{release_month}: no harmonised file for {len(missing)} months ({_ranges(missing)}): "
            f"run `metpipeline backfill {first_month} {release_month}`"
        )
    stats = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    return _load(stats)


def _materialise(
    context: dg.AssetExecutionContext, workarea: WorkAreaResource, slug: str
) -> dg.MaterializeResult:
    area = workarea.area
    metadata: dict[str, dict] = {}
    for month in context.partition_keys:
        harmonised = load_harmonised(area, month)
        for window in WINDOWS:
            months = window_months(month, window, FIRST_MONTH)
            table = build_table(harmonised, slug, months)
            area.write_parquet(area.release_dir(month, "counts", f"{slug}__{window}.parquet"), table)
            if slug == "borough":  # where the 2026 layout counts the airports' crimes
                airports = build_airports_by_location(harmonised, months)
                area.write_parquet(area.release_dir(month, "counts", airports_name(window)), airports)
            month_columns = [c for c in table.columns if c.isdigit()]
            totals: pd.Series | list[tuple[str, int]] = (
                table.groupby(table.columns[0])[month_columns].sum().sum(axis=1) if len(table) else []
            )
            metadata[f"{month} {window}"] = {
                "rows": int(len(table)),
                "month_columns": [month_columns[0], month_columns[-1]] if month_columns else [],
                "total": int(table[month_columns].to_numpy().sum()) if month_columns else 0,
                "totals_by_first_column": {str(k): int(v) for k, v in dict(totals).items()},
            }
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(sum(m["rows"] for m in metadata.values())),
            "tables": dg.MetadataValue.json(metadata),
        }
    )


def _dataset_asset(slug: str, title: str):
    @dg.asset(
        name=f"{slug}_dataset",
        partitions_def=monthly_partitions,
        group_name="datasets",
        deps=[harmonised_offences],
        description=f"{title}: the 24-month and historical Datastore tables of the release month, "
        "before disclosure control (releases/M/counts/).",
    )
    def _asset(context: dg.AssetExecutionContext, workarea: WorkAreaResource) -> dg.MaterializeResult:
        return _materialise(context, workarea, slug)

    return _asset


borough_dataset = _dataset_asset("borough", "MPS Borough Level Crime")
ward_dataset = _dataset_asset("ward", "MPS Ward Level Crime")
lsoa_dataset = _dataset_asset("lsoa", "MPS LSOA Level Crime")
flagged_dataset = _dataset_asset("flagged", "MPS Flagged Crime by Borough")
