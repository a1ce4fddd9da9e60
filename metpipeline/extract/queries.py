"""Extraction from the DataMart: the rows of one London-time month from CRIS and from CONNECT.

The SQL files select a window widened by a day each side (CONNECT stores UTC; drivers store DATETIME text
differently); the exact counting month (contract rule 1) is assigned here, in Python, and only rows of the
requested month are kept. No PII column is ever selected (see the SQL files).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa

from metpipeline import settings
from metpipeline.db import check_reachable, load_sql, run_cancellable

LONDON = ZoneInfo("Europe/London")

# Columns each contract table must have for the extract queries (the DataMart contract, CONTRACT.md).
CONTRACT_COLUMNS: dict[str, tuple[str, ...]] = {
    "cris_crime_report": (
        "cris_ref", "recorded_ocu", "offence_code", "premises_type", "recorded_at", "crime_status",
        "lsoa_code", "ward_code", "hate_race", "hate_religion", "hate_sexual_orientation",
        "hate_disability", "hate_transgender", "domestic_abuse", "last_modified_at",
    ),
    "connect_offence": (
        "offence_id", "occurrence_id", "ho_offence_code", "premises_type", "recorded_at_utc",
        "offence_status", "legacy_cris_ref", "hate_crime_strands", "domestic_abuse_flag",
        "last_modified_at_utc",
    ),
    "connect_occurrence": ("occurrence_id", "owning_unit_code", "location_id"),
    "connect_location": ("location_id", "lsoa_code", "ward_code"),
}  # fmt: skip

CRIS_COLUMNS = [
    "cris_key", "recorded_ocu", "offence_code", "premises_type", "recorded_at", "crime_status",
    "lsoa_code", "ward_code", "hate_race", "hate_religion", "hate_sexual_orientation", "hate_disability",
    "hate_transgender", "domestic_abuse", "last_modified_at", "migrated_to_connect",
]  # fmt: skip
CONNECT_COLUMNS = [
    "offence_id", "occurrence_id", "owning_unit_code", "ho_offence_code", "premises_type",
    "recorded_at_utc", "offence_status", "migrated_from_cris", "legacy_ref_duplicate",
    "hate_crime_strands", "domestic_abuse_flag", "lsoa_code", "ward_code", "last_modified_at_utc",
]  # fmt: skip
_CRIS_SQL_COLUMNS = ["cris_ref", *CRIS_COLUMNS[1:]]  # the SELECT list of sql/extract/cris_offences.sql
_CRIS_BITS = ("hate_race", "hate_religion", "hate_sexual_orientation", "hate_disability", "hate_transgender",
              "domestic_abuse", "migrated_to_connect")  # fmt: skip
_CONNECT_BOOLS = ("migrated_from_cris", "legacy_ref_duplicate")
_TEXT_COLUMNS = ("recorded_ocu", "offence_code", "premises_type", "crime_status", "lsoa_code", "ward_code",
                 "owning_unit_code", "ho_offence_code", "offence_status", "hate_crime_strands",
                 "domestic_abuse_flag")  # fmt: skip


class ContractViolation(RuntimeError):
    """A DataMart table or column the contract promises is missing. The message names table and column."""


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """First instant of `month` and of the next month, naive (London local)."""
    start = datetime.strptime(month, "%Y-%m")
    nxt = datetime(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, nxt


def sql_window(month: str) -> dict[str, datetime]:
    """The widened window bound into the extract SQL: one day either side of the month."""
    start, nxt = month_bounds(month)
    return {"window_start": start - timedelta(days=1), "window_end": nxt + timedelta(days=1)}


def to_naive_datetime(values: pd.Series) -> pd.Series:
    """DATETIME values as naive pandas timestamps, whatever text form the driver returned."""
    if values.dtype == object:
        values = values.infer_objects()  # the driver's datetime objects (PostgreSQL, SQL Server) as such
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("datetime64[us]")
    return pd.to_datetime(values.astype("string"), format="ISO8601").astype("datetime64[us]")


def utc_to_london(values: pd.Series) -> pd.Series:
    """Naive UTC timestamps as naive London local time (contract rule 1)."""
    return values.dt.tz_localize("UTC").dt.tz_convert(LONDON).dt.tz_localize(None)


def london_month(local: pd.Series) -> pd.Series:
    """`YYYY-MM` of naive London-time timestamps."""
    return local.dt.strftime("%Y-%m").astype("string")


def in_month(local: pd.Series, month: str) -> pd.Series:
    """Whether each naive London-time timestamp falls in `month` (False where missing).

    The same test as `london_month(local) == month`, by comparison with the month's bounds instead of
    formatting every timestamp as text, many times faster (benchmarks/RESULTS.md); it runs on every row of
    every extract."""
    start, nxt = month_bounds(month)
    return (local >= pd.Timestamp(start)) & (local < pd.Timestamp(nxt))


def check_contract_columns(engine: sa.Engine) -> None:
    """Fail with a message naming the table and column when the DataMart lacks what the contract promises."""
    inspector = sa.inspect(engine)
    schema = "dm" if engine.dialect.name != "sqlite" else None
    where = f"{schema}." if schema else ""
    for table, columns in CONTRACT_COLUMNS.items():
        if not inspector.has_table(table, schema=schema):
            raise ContractViolation(f"DataMart table {where}{table} is missing (see the DataMart contract)")
        present = {c["name"].lower() for c in inspector.get_columns(table, schema=schema)}
        missing = [c for c in columns if c not in present]
        if missing:
            raise ContractViolation(
                f"DataMart table {where}{table} has no column {', '.join(missing)} "
                "(renamed or dropped? see the DataMart contract)"
            )


def _query(engine: sa.Engine, sql_file: str, params: dict) -> pd.DataFrame:
    stmt = load_sql(sql_file, engine.dialect.name).bindparams(
        *(sa.bindparam(name, type_=sa.DateTime()) for name in params)
    )
    try:
        with engine.connect() as conn:

            def fetch() -> tuple[list, Any]:
                result = conn.execute(stmt, params)
                # The driver's plain rows, not SQLAlchemy Row objects: pandas probes each Row for
                # attributes (one exception per probe), which costs more than the query. A text() query
                # has no result types, so the values are the driver's either way.
                return list(result.keys()), result.cursor.fetchall()

            # Cancellable: SIGTERM or Terminate stops a long extraction query within seconds.
            columns, rows = run_cancellable(conn, fetch)
            if rows and not isinstance(rows[0], tuple):
                rows = [tuple(row) for row in rows]
            # As the driver's objects: every column is converted to its type by the caller, so pandas'
            # per-column type inference (a quarter of an extraction's time) would be thrown away.
            return pd.DataFrame(rows, columns=columns, dtype=object)
    except sa.exc.DBAPIError:
        # A failing query is most often a contract change: name the table and column if so.
        check_contract_columns(engine)
        raise


def _prepare(engine: sa.Engine) -> None:
    check_reachable(engine, settings.DATAMART_URL.name)
    check_contract_columns(engine)


def _normalise_text(df: pd.DataFrame) -> None:
    for col in _TEXT_COLUMNS:
        if col in df:
            df[col] = df[col].astype("string")


def _month_rows(
    engine: sa.Engine, sql_file: str, month: str, columns: list[str], latest_recorded: str | None
) -> pd.DataFrame:
    """The rows of `month`'s SQL window; none, without asking, when the window starts after the table's
    latest recording time as read just before (`source_state`). On a DataMart without an index on the
    recording time each query is a scan of the whole table: CRIS after the cut-over, every month.

    A row recorded between that read and the query is not missed for good: it was modified after the
    watermark read in the same pass, so the next release re-extracts its month (extract/changes.py)."""
    if after_latest(month, latest_recorded):
        return pd.DataFrame([], columns=columns, dtype=object)  # what the query returns for no rows
    return _query(engine, sql_file, sql_window(month))


def extract_cris(
    engine: sa.Engine, month: str, *, checked: bool = False, latest_recorded: str | None = None
) -> pd.DataFrame:
    """CRIS reports whose recording month (London time, as stored) is `month`; columns CRIS_COLUMNS.
    `latest_recorded`: `source_state(engine, "CRIS").latest_recorded`, read before (see `_month_rows`)."""
    if not checked:
        _prepare(engine)
    df = _month_rows(engine, "extract/cris_offences.sql", month, _CRIS_SQL_COLUMNS, latest_recorded)
    df = df.reindex(columns=_CRIS_SQL_COLUMNS)
    df["recorded_at"] = to_naive_datetime(df["recorded_at"])
    df["last_modified_at"] = to_naive_datetime(df["last_modified_at"])
    for col in _CRIS_BITS:
        df[col] = df[col].astype(int).astype(bool) if len(df) else df[col].astype(bool)
    df["cris_ref"] = df["cris_ref"].astype("string")
    _normalise_text(df)
    out = df.loc[in_month(df["recorded_at"], month).to_numpy(dtype=bool)]
    out = out.sort_values("cris_ref", kind="stable").reset_index(drop=True)
    return with_surrogate_key(out)


def with_surrogate_key(cris: pd.DataFrame) -> pd.DataFrame:
    """Replace the CRIS reference by a surrogate number before anything is written.

    The reference identifies a crime report (contract: never published), and work-area files are outputs
    too. Equal references share a number and a missing one stays missing, which is all the key checks need;
    the number (the reference's rank in this month's extract) cannot be turned back into the reference.
    """
    codes, _ = pd.factorize(cris["cris_ref"], sort=True)  # -1 where missing
    key = pd.arrays.IntegerArray(codes.astype("int64") + 1, codes < 0)
    out = cris.drop(columns="cris_ref")
    # pandas-stubs omit ExtensionArray from DataFrame.insert's value types; pandas accepts it.
    out.insert(0, "cris_key", key)  # type: ignore[arg-type]
    return out


def extract_connect(
    engine: sa.Engine, month: str, *, checked: bool = False, latest_recorded: str | None = None
) -> pd.DataFrame:
    """CONNECT offences whose recording month, converted from UTC to London time, is `month`.
    `latest_recorded`: `source_state(engine, "CONNECT").latest_recorded`, read before (see `_month_rows`)."""
    if not checked:
        _prepare(engine)
    df = _month_rows(engine, "extract/connect_offences.sql", month, CONNECT_COLUMNS, latest_recorded)
    df = df.reindex(columns=CONNECT_COLUMNS)
    df["recorded_at_utc"] = to_naive_datetime(df["recorded_at_utc"])
    df["last_modified_at_utc"] = to_naive_datetime(df["last_modified_at_utc"])
    for col in _CONNECT_BOOLS:
        df[col] = df[col].astype(int).astype(bool) if len(df) else df[col].astype(bool)
    for col in ("offence_id", "occurrence_id"):
        df[col] = df[col].astype("int64")
    _normalise_text(df)
    out = df.loc[in_month(utc_to_london(df["recorded_at_utc"]), month).to_numpy(dtype=bool)]
    return out.sort_values("offence_id", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class SourceState:
    """One system's table at extraction: its latest modification time (ISO text; CRIS London local, CONNECT
    UTC), how many of its rows have no recorded time, and its latest recording time (ISO text, as stored)."""

    watermark: str | None
    undated: int
    latest_recorded: str | None


_STATE_SQL = {"CRIS": "extract/cris_state.sql", "CONNECT": "extract/connect_state.sql"}


def _iso(value: Any) -> str | None:
    return None if value is None else to_naive_datetime(pd.Series([value])).iloc[0].isoformat()


def source_state(engine: sa.Engine, system: str) -> SourceState:
    """The watermark, the undated rows and the latest recording time of one system, in one pass over its
    table (sql/extract/*_state.sql).

    Each extract step asks only for its own system: without an index on the modification time every such
    question is a scan of the whole table (several seconds for CRIS at MPS scale)."""
    with engine.connect() as conn:
        last_modified, undated, latest = conn.execute(load_sql(_STATE_SQL[system], engine.dialect.name)).one()
    return SourceState(_iso(last_modified), int(undated or 0), _iso(latest))


def after_latest(month: str, latest_recorded: str | None) -> bool:
    """Whether `month`'s SQL window starts on a day after the day of the table's latest recording time, so
    that its query can only return nothing.

    Compared by day, not by time: SQLite compares DATETIME as text, and text of the same day in another
    driver's form ('T' between date and time) can sort after a later time of that day. A window's first
    day after the latest's day is after every row, whatever their form."""
    if latest_recorded is None:
        return False
    return sql_window(month)["window_start"].date() > datetime.fromisoformat(latest_recorded).date()


def months_changed_since(engine: sa.Engine, watermarks: dict[str, str | None]) -> set[str]:
    """Counting months holding a row modified after the given watermarks (revisions to re-extract).

    `watermarks` holds each system's `source_state(...).watermark` as recorded at the last extraction; a
    system with no watermark is treated as never extracted, so every month it holds is reported.
    """
    months: set[str] = set()
    for system, sql_file, to_local in (
        ("CRIS", "extract/cris_changed_since.sql", lambda s: s),
        ("CONNECT", "extract/connect_changed_since.sql", utc_to_london),
    ):
        since = datetime.fromisoformat(watermarks.get(system) or "1900-01-01T00:00:00")
        df = _query(engine, sql_file, {"since": since})
        if len(df):
            months |= set(london_month(to_local(to_naive_datetime(df.iloc[:, 0]))))
    return months
