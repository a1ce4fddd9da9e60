"""Dagster assets of the datasets stage, derived from the catalogue (catalogue.py).

    harmonised_offences[M] ─► monthly_cells[M] ─► <slug>_dataset[M]  (reads monthly_cells[first..M])

`monthly_cells` reduces a month's crimes once to the cells of every table. Each dataset asset declares the
months it reads (first month .. M) with a partition mapping, so the UI's lineage and staleness are true: a
re-harmonised month makes stale every release whose files contain it. The historical table (first ..
M-24) is extended from the last one built when none of its months changed (their cells' sha256 are
compared), and rebuilt from the cells otherwise.
"""

import json

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from metpipeline.catalogue import CATALOGUE, WINDOWS, DatasetSpec
from metpipeline.cellstore import CELLS_INPUT_MANAGER, MissingMonths, MonthlyCells, write_month
from metpipeline.datasets.build import (
    airports_name,
    airports_table,
    all_month_cells,
    assemble,
    extend,
    window_months,
)
from metpipeline.harmonise.assets import harmonised_offences
from metpipeline.months.partitions import FIRST_MONTH, FROM_FIRST_MONTH, ONE_RUN, monthly_partitions
from metpipeline.reference import HATE_COLUMNS
from metpipeline.resources import WorkAreaResource
from metpipeline.workarea import WorkArea

__all__ = ["MissingMonths"]

CELLS_ASSET = "monthly_cells"
# Bumped when the wide tables' construction changes, so a historical table built by earlier code is rebuilt.
TABLE_VERSION = "1"

# The harmonised columns the cells are made from (every table's key sources, the month and the flags).
_TEXT_COLUMNS = sorted(
    {k.source for s in CATALOGUE.values() for k in s.keys} - {"flag_type", "flag_text"}
    | {"month", "borough_name", "ward_borough_name", "lsoa_borough_name", "mps_major", "mps_minor"}
)
COLUMNS = [*_TEXT_COLUMNS, *HATE_COLUMNS, "domestic_abuse"]


def read_harmonised(area: WorkArea, month: str) -> pd.DataFrame:
    path = area.harmonised_path(month)
    if not path.is_file():
        raise FileNotFoundError(
            f"{month}: no harmonised file at {path}: materialise harmonised_offences first"
        )
    names = set(pq.read_schema(path).names)
    # Text as dictionaries (categoricals): the cells are grouped by code, not by string.
    text = [c for c in _TEXT_COLUMNS if c in names]
    table = pq.read_table(path, columns=[c for c in COLUMNS if c in names], read_dictionary=text)
    return table.to_pandas(ignore_metadata=True)


@dg.asset(
    name=CELLS_ASSET,
    partitions_def=monthly_partitions,
    group_name="datasets",
    deps=[harmonised_offences],
    backfill_policy=ONE_RUN,
    description="The month's counted crimes reduced once to the cells of every published table (key "
    "columns and count; cells/YYYY-MM/). The dataset assets assemble their windows from these.",
)
def monthly_cells(context: dg.AssetExecutionContext, workarea: WorkAreaResource) -> dg.MaterializeResult:
    area = workarea.area
    rows: dict[str, int] = {}
    for month in context.partition_keys:
        tables = all_month_cells(read_harmonised(area, month))
        write_month(area, month, tables)
        for name, frame in tables.items():
            rows[name] = rows.get(name, 0) + len(frame)
    return dg.MaterializeResult(
        metadata={"cells": dg.MetadataValue.json(rows), "months": len(context.partition_keys)}
    )


# --- the historical table: extended from the last one built when its months are unchanged ---------------


def _history_path(area: WorkArea, name: str):
    return area.path("cells", "history", f"{name}.parquet")


def _fingerprints(cells: MonthlyCells, name: str, months: list[str]) -> dict[str, str | None]:
    return {m: cells.fingerprint(name, m) for m in months}


def historical_table(
    cells: MonthlyCells, name: str, dataset: DatasetSpec, months: list[str]
) -> tuple[pd.DataFrame, str]:
    """The historical table of `months`, and how it was made ('extended by N months' or 'rebuilt')."""
    area, path = cells.area, _history_path(cells.area, name)
    wanted = _fingerprints(cells, name, months)
    earlier, how = None, "rebuilt"
    if path.is_file():
        # The metadata first: the table itself is read only when it can be extended.
        meta = json.loads((pq.read_schema(path).metadata or {}).get(b"metpipeline", b"{}"))
        built = meta.get("months", {})
        prefix = months[: len(built)]
        if (
            meta.get("version") == TABLE_VERSION
            and meta.get("keys") == dataset.key_columns
            and list(built) == prefix
            and all(built[m] == wanted[m] for m in prefix)
        ):
            earlier = pq.read_table(path).to_pandas(
                ignore_metadata=True, split_blocks=True, self_destruct=True
            )
            if earlier[dataset.key_columns].duplicated().any():  # not a table this code writes
                dg.get_dagster_logger().warning(f"{path}: repeated keys; the historical table is rebuilt")
                earlier = None
    added: list[str] = []
    if earlier is not None:
        added = months[len(earlier.columns) - len(dataset.key_columns) :]
        wide = (
            extend(earlier, cells.read(name, added, dataset.key_columns), dataset, added)
            if added
            else earlier
        )
        how = f"extended by {len(added)} months"
        del earlier  # consumed by `extend`
    else:
        wide = rebuilt(cells, name, dataset, months)
    if how == "rebuilt" or added:  # built or grown: keep it
        table = pa.Table.from_pandas(wide, preserve_index=False)
        meta = {"version": TABLE_VERSION, "keys": dataset.key_columns, "months": wanted}
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), b"metpipeline": json.dumps(meta).encode()}
        )
        area.write_bytes(path, _parquet_bytes(table))
    return wide, how


# Months of cells read at a time when a historical table is rebuilt (the first release after a back-fill).
REBUILD_MONTHS = 24


def rebuilt(cells: MonthlyCells, name: str, dataset: DatasetSpec, months: list[str]) -> pd.DataFrame:
    """The historical table of `months` made from their cells REBUILD_MONTHS months at a time, the first
    chunk assembled and each next one added with `extend`: the same table as `assemble` of all of them
    (`extend` says so, and a test compares them), without the cells of every month in memory at once
    (benchmarks/RESULTS.md)."""
    keys = dataset.key_columns
    first = months[:REBUILD_MONTHS]
    wide = assemble(cells.read(name, first, keys), dataset, first)
    for start in range(REBUILD_MONTHS, len(months), REBUILD_MONTHS):
        chunk = months[start : start + REBUILD_MONTHS]
        wide = extend(wide, cells.read(name, chunk, keys), dataset, chunk)
    return wide


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def window_table(cells: MonthlyCells, name: str, dataset: DatasetSpec, months: list[str], window: str):
    if window == "historical":
        return historical_table(cells, name, dataset, months)
    return assemble(cells.read(name, months, dataset.key_columns), dataset, months), "assembled"


def _table_metadata(table: pd.DataFrame, how: str) -> dict:
    month_columns = [c for c in table.columns if c.isdigit()]
    # Each row's total, a column at a time (not the month columns copied out as one matrix).
    row_totals = np.zeros(len(table), dtype="int64")
    for column in month_columns:
        row_totals += table[column].to_numpy(dtype="int64")
    totals: pd.Series | dict = (
        pd.Series(row_totals, index=table.index).groupby(table[table.columns[0]]).sum() if len(table) else {}
    )
    return {
        "rows": int(len(table)),
        "month_columns": [month_columns[0], month_columns[-1]] if month_columns else [],
        "total": int(row_totals.sum()),
        "totals_by_first_column": {str(k): int(v) for k, v in dict(totals).items()},
        "built": how,
    }


def materialise_dataset(
    context: dg.AssetExecutionContext, area: WorkArea, dataset: DatasetSpec, cells: MonthlyCells
) -> dg.MaterializeResult:
    metadata: dict[str, dict] = {}
    for month in context.partition_keys:
        reading = MonthlyCells(area, [m for m in cells.months if m <= month])
        names = [dataset.slug, airports_table(dataset.slug)] if dataset.airports_row else [dataset.slug]
        for name in names:
            reading.require(name, month, FIRST_MONTH)
        for window in WINDOWS:
            months = window_months(month, window, FIRST_MONTH)
            table, how = window_table(reading, dataset.slug, dataset, months, window)
            area.write_parquet(area.counts_path(month, dataset.slug, window), table)
            if dataset.airports_row:  # where the 2026 layout counts the airports' crimes
                by_location = reading.read(airports_table(dataset.slug), months, dataset.key_columns)
                airports = assemble(by_location, dataset, months)
                area.write_parquet(area.counts_dir(month) / airports_name(dataset.slug, window), airports)
            metadata[f"{month} {window}"] = _table_metadata(table, how)
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(sum(m["rows"] for m in metadata.values())),
            "tables": dg.MetadataValue.json(metadata),
        }
    )


def dataset_asset(dataset: DatasetSpec) -> dg.AssetsDefinition:
    """The dataset asset of a catalogue specification: both windows of the release month, before
    disclosure control (releases/M/counts/), assembled from the cells of the months first..M."""

    @dg.asset(
        name=dataset.asset_name,
        partitions_def=monthly_partitions,
        group_name="datasets",
        ins={
            "cells": dg.AssetIn(
                key=CELLS_ASSET, partition_mapping=FROM_FIRST_MONTH, input_manager_key=CELLS_INPUT_MANAGER
            )
        },
        description=f"{dataset.title}: {dataset.description}. The 24-month and historical Datastore tables "
        "of the release month, before disclosure control (releases/M/counts/); reads the monthly cells of "
        "every month from the first to M.",
        metadata={"dataset": dataset.slug, "sensitivity": dataset.sensitivity},
    )
    def _asset(context: dg.AssetExecutionContext, workarea: WorkAreaResource, cells: MonthlyCells):
        return materialise_dataset(context, workarea.area, dataset, cells)

    return _asset


DATASET_ASSETS = {slug: dataset_asset(s) for slug, s in CATALOGUE.items()}
