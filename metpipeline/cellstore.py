"""Where the monthly cells live, and how a dataset asset gets the cells of the months it reads.

`cells/YYYY-MM/<table>.parquet` holds one month's cells of a table (its published key columns and the
count); `cells/YYYY-MM/digest.json` the sha256 of each, written last, so a month without a digest is a
month not (completely) reduced. This module is the only one that knows the layout.

The dataset assets declare the months they read as an input of `monthly_cells` with a partition mapping;
`CellsInputManager` hands them a `MonthlyCells` reader of exactly those months. The reader reads on demand:
a release reads the 24 months of its recent window, and the historical months only when the historical
table cannot be extended from the previous release's (datasets/assets.py).
"""

import hashlib
import io
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from metpipeline import settings
from metpipeline.months.arithmetic import ranges
from metpipeline.workarea import WorkArea

DIGEST = "digest.json"
CELLS_INPUT_MANAGER = "cells_input_manager"  # the resource key the dataset assets load their cells with


class MissingMonths(RuntimeError):
    """A month the table reads has no cells: it was never extracted and harmonised."""


def month_dir(area: WorkArea, month: str) -> Path:
    return area.path("cells", month)


def write_month(area: WorkArea, month: str, tables: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Store one month's cells (each table atomically, the digest last); returns the digests."""
    folder = month_dir(area, month)
    (folder / DIGEST).unlink(missing_ok=True)  # incomplete until the new digest is written
    digests = {}
    for name, frame in sorted(tables.items()):
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        data = buffer.getvalue()
        area.write_bytes(folder / f"{name}.parquet", data)
        digests[name] = hashlib.sha256(data).hexdigest()
    area.write_json(folder / DIGEST, digests)
    return digests


def months_ready(area: WorkArea) -> set[str]:
    """Months harmonised and reduced to cells: what a release can read without a back-fill. (A work area
    back-filled before the cells existed has harmonised months without cells; they are back-filled again.)"""
    harmonised = set(area.months_with("harmonised"))
    return {m for m in harmonised if (month_dir(area, m) / DIGEST).is_file()}


class MonthlyCells:
    """The stored cells of a span of months (the partitions a dataset asset declared it reads)."""

    def __init__(self, area: WorkArea, months: list[str]):
        self.area = area
        self.months = sorted(months)
        self._digests: dict[str, dict[str, str]] = {}

    def digests(self, month: str) -> dict[str, str]:
        if month not in self._digests:
            path = month_dir(self.area, month) / DIGEST
            self._digests[month] = WorkArea.read_json(path) if path.is_file() else {}
        return self._digests[month]

    def fingerprint(self, name: str, month: str) -> str | None:
        return self.digests(month).get(name)

    def require(self, name: str, release_month: str, first_month: str) -> None:
        """Fail, naming the months, when any month read has no cells of `name`."""
        missing = [m for m in self.months if self.fingerprint(name, m) is None]
        if missing:
            raise MissingMonths(
                f"{release_month}: no {name} cells for {len(missing)} months ({ranges(missing)}): "
                f"run `metpipeline backfill {first_month} {release_month}`"
            )

    def read(self, name: str, months: list[str], key_columns: list[str]) -> pd.DataFrame:
        """The cells of `months` as one long table (keys as categoricals, `month` as `YYYY-MM`, count)."""
        tables = []
        for month in months:
            table = pq.read_table(
                month_dir(self.area, month) / f"{name}.parquet", read_dictionary=key_columns
            )
            tables.append(table.append_column("month", pa.array([month] * len(table), pa.string())))
        if not tables:
            return pd.DataFrame(columns=[*key_columns, "month", "count"])
        table = pa.concat_tables(tables, promote_options="permissive").unify_dictionaries()
        return table.to_pandas(ignore_metadata=True)


class CellsInputManager(dg.ConfigurableIOManager):
    """Loads the `monthly_cells` input of a dataset asset: a reader of the months its mapping declares,
    from the work area. Set by the deployment (environment variable METPIPELINE_WORK_DIR; README,
    Configuration); not by run config. (The cells are written by the `monthly_cells` asset itself, month by
    month, so a back-fill of many months never holds them all in memory; this manager only reads.)"""

    def handle_output(self, context: dg.OutputContext, obj) -> None:  # pragma: no cover - never an output
        raise NotImplementedError("monthly cells are written by the monthly_cells asset")

    def load_input(self, context: dg.InputContext) -> MonthlyCells:
        months = list(context.asset_partition_keys) if context.has_asset_partitions else []
        return MonthlyCells(WorkArea(settings.WORK_DIR.value() or ""), months)
