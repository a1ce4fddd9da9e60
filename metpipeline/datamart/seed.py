"""Seed a synthetic DataMart at MPS scale: `seed_datamart(url, first_month, last_month, ...)`.

Each month is generated independently from (seed, month), so a run is deterministic for a seed and range,
and written in one transaction per month with large executemany batches. SQLite goes through the raw
sqlite3 connection (WAL, synchronous=OFF while seeding); other dialects through SQLAlchemy Core.
"""

import os
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from tqdm import tqdm

from metpipeline.datamart import ddl
from metpipeline.datamart.lookups import load_lookups
from metpipeline.datamart.month import add_defects, generate_month
from metpipeline.datamart.pii import PiiSampler, build_pools
from metpipeline.datamart.schema import TABLES, TABLES_BY_NAME
from metpipeline.datamart.timeutil import CUTOVER_MONTH, month_str, months_between
from metpipeline.db import make_engine
from metpipeline.settings import redact_url

DEFAULT_SEED = 20240228
DEFAULT_FIRST_MONTH = (2022, 1)
_DATETIME_TYPES = ("DATETIME", "DATETIME2")


class DataMartNotEmpty(RuntimeError):
    """Refusal to overwrite a DataMart that already holds rows (use force=True / --force)."""


@dataclass
class SeedSummary:
    url: str  # password redacted
    first_month: str
    last_month: str
    seed: int
    months: int
    rows: dict[str, int]
    seconds: float
    file_bytes: int | None = None  # SQLite only
    defects: dict[str, int] = field(default_factory=dict)

    def render(self) -> str:
        lines = [
            f"DataMart {self.url}: {self.months} months "
            f"{self.first_month}..{self.last_month}, seed {self.seed}"
        ]
        lines += [f"  {name:<24} {count:>12,}" for name, count in self.rows.items()]
        if self.file_bytes is not None:
            lines.append(f"  file size {self.file_bytes / 1e6:,.1f} MB")
        if self.defects:
            lines.append("  deliberate defects: " + ", ".join(f"{k}={v}" for k, v in self.defects.items()))
        lines.append(f"  seeded in {self.seconds:,.1f} s")
        return "\n".join(lines)


def table_counts(engine: sa.Engine) -> dict[str, int]:
    """Rows per contract table that exists."""
    out = {}
    with engine.connect() as conn:
        for name in ddl.existing_tables(engine):
            t = ddl.core_table(name, engine.dialect.name)
            out[name] = conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
    return out


def _prepare(engine: sa.Engine, force: bool, defects: bool) -> None:
    counts = table_counts(engine)
    if any(counts.values()) and not force:
        raise DataMartNotEmpty(
            f"the DataMart at {redact_url(str(engine.url))} already holds "
            f"{sum(counts.values()):,} rows in {len(counts)} tables; pass --force to replace it"
        )
    ddl.drop_tables(engine)
    ddl.create_tables(engine, defects=defects)


def _to_datetimes(table: str, rows: list[tuple]) -> list[tuple]:
    """Non-SQLite drivers get datetime objects, not text: SQL Server parses DATETIME text by locale."""
    cols = TABLES_BY_NAME[table].columns
    pos = [i for i, c in enumerate(cols) if c.sql_type in _DATETIME_TYPES]
    conv = datetime.fromisoformat
    return [tuple(conv(v) if i in pos and v is not None else v for i, v in enumerate(r)) for r in rows]


class _SqliteWriter:
    def __init__(self, engine: sa.Engine):
        self.raw = engine.raw_connection()
        # Only SQLite engines get this writer, and SQLAlchemy's SQLite driver is the stdlib sqlite3 module.
        self.conn = cast(sqlite3.Connection, self.raw.driver_connection)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=OFF")
        dialect = sqlite_dialect.dialect(paramstyle="qmark")
        self.sql = {
            t.name: str(sa.insert(ddl.core_table(t.name, "sqlite")).compile(dialect=dialect)) for t in TABLES
        }

    def write(self, tables: dict[str, list[tuple]]) -> None:
        cur = self.conn.cursor()
        cur.execute("BEGIN")
        for name, rows in tables.items():
            cur.executemany(self.sql[name], rows)
        self.conn.commit()

    def close(self) -> None:
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.raw.close()


class _CoreWriter:
    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def write(self, tables: dict[str, list[tuple]]) -> None:
        dialect = self.engine.dialect.name
        with self.engine.begin() as conn:
            for name, rows in tables.items():
                names = TABLES_BY_NAME[name].column_names
                params = [dict(zip(names, r, strict=True)) for r in _to_datetimes(name, rows)]
                if params:
                    conn.execute(sa.insert(ddl.core_table(name, dialect)), params)

    def close(self) -> None:
        pass


def seed_datamart(
    url: str,
    first_month: str = "2022-01",
    last_month: str | None = None,
    *,
    seed: int = DEFAULT_SEED,
    defects: bool = False,
    force: bool = False,
    scale: float = 1.0,
    pii_marker: str | None = None,
    progress: bool = True,
) -> SeedSummary:
    """Create the contract tables at `url` and fill them with months first_month..last_month (YYYY-MM).

    `scale` multiplies volumes (tests use ~0.05). `pii_marker` makes every text PII value contain a unique
    `<marker>-<column>-<key>` string; DATE PII columns then hold sentinel 1901 dates and ethnicity_code `ZZ`.
    `defects` builds the relaxed tables and adds unmapped codes, NULL recording times and duplicate keys to
    the last CRIS month and the last CONNECT month of the range.
    """
    from metpipeline.datamart.timeutil import last_complete_month, parse_month

    first = parse_month(first_month)
    last = parse_month(last_month) if last_month else last_complete_month()
    months = months_between(first, last)
    started = time.monotonic()
    engine = make_engine(url)
    _prepare(engine, force=force, defects=defects)
    lk = load_lookups()
    pii = PiiSampler(build_pools(seed), pii_marker)
    defect_months = {}
    if defects:
        cris_months = [m for m in months if m <= CUTOVER_MONTH]
        connect_months = [m for m in months if m >= CUTOVER_MONTH]
        defect_months = {"CRIS": cris_months[-1:], "CONNECT": connect_months[-1:]}
    found_defects: dict[str, int] = {}
    totals = {t.name: 0 for t in TABLES}
    writer = _SqliteWriter(engine) if engine.dialect.name == "sqlite" else _CoreWriter(engine)
    try:
        for ym in tqdm(months, desc="seeding DataMart", unit="month", disable=not progress):
            month = generate_month(lk, pii, seed, ym, scale)
            for system, chosen in defect_months.items():
                if ym in chosen:
                    rng = np.random.default_rng([seed, ym[0], ym[1], 99])
                    found_defects.update(add_defects(month, rng, system))
            rows = {name: month.rows(name) for name in month.tables}
            writer.write(rows)
            for name, r in rows.items():
                totals[name] += len(r)
    finally:
        writer.close()
        engine.dispose()
    file_bytes = None
    if engine.dialect.name == "sqlite" and engine.url.database:
        file_bytes = os.path.getsize(engine.url.database)
    return SeedSummary(
        url=redact_url(url),
        first_month=month_str(first),
        last_month=month_str(last),
        seed=seed,
        months=len(months),
        rows=totals,
        seconds=time.monotonic() - started,
        file_bytes=file_bytes,
        defects=found_defects,
    )
