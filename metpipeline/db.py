"""The DataMart SQL layer: engines, and the one loader for the SQL files under `sql/`.

SQL files are written in T-SQL for the production DataMart (tables in schema `dm`, bound parameters as
`:name`, which SQLAlchemy's `text()` passes to every driver as bound parameters). One translation step,
`translate_sql`, adapts them to the other dialects the project runs on:
- SQLite (embedded DataMart): no schemas, so the `dm.` qualifier is removed;
- PostgreSQL and SQL Server: unchanged (the tables live in schema `dm`).
Nothing is ever formatted into SQL text: values are bound by the driver.
"""

import re
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from metpipeline.settings import redact_secrets, redact_url

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
DATAMART_SCHEMA = "dm"

_DM_QUALIFIER = re.compile(r"\bdm\.(?=[A-Za-z_\[])")


class DataMartUnreachable(RuntimeError):
    """The DataMart could not be reached. The message names the URL with its password hidden."""


def uses_schema(dialect_name: str) -> bool:
    """SQLite has no schemas: the contract puts the tables in the main database there."""
    return dialect_name != "sqlite"


def translate_sql(sql: str, dialect_name: str) -> str:
    """Adapt a T-SQL file to `dialect_name` (see module docstring). Tested in metpipeline_tests/test_db.py."""
    if uses_schema(dialect_name):
        return sql
    return _DM_QUALIFIER.sub("", sql)


@cache
def _read_sql_file(relative: str) -> str:
    path = SQL_DIR / relative
    if not path.is_file():
        raise FileNotFoundError(f"SQL file {path} is missing from the installation")
    return path.read_text(encoding="utf-8")


def load_sql(relative: str, dialect_name: str) -> sa.TextClause:
    """`sql/<relative>` as a `text()` clause for the given dialect."""
    return sa.text(translate_sql(_read_sql_file(relative), dialect_name))


def make_engine(url: str, variable: str = "the database URL") -> sa.Engine:
    """An engine for `url`. SQLite gets a generous lock timeout: Dagster steps and the CLI share a file.
    (check_same_thread off: `run_cancellable` runs a query on a worker thread, never two at once.)"""
    kwargs: dict = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False}
    try:
        return sa.create_engine(url, **kwargs)
    except ImportError as exc:
        # e.g. pyodbc without the system's ODBC driver manager (Debian: unixodbc, tdsodbc)
        raise DataMartUnreachable(
            f"cannot open {redact_url(url)} ({variable}): its database driver is not installed ({exc}); "
            "`make system-deps` installs the ODBC driver manager and FreeTDS"
        ) from None


class StateBusy(RuntimeError):
    """The state database stayed locked by another process longer than the configured wait."""


def make_state_engine(url: str) -> sa.Engine:
    """The pipeline's state database, waiting a bounded time for a lock another process holds
    (METPIPELINE_STATE_LOCK_TIMEOUT_SECONDS), then failing with a sentence that says what was waited for;
    never waiting without limit or word."""
    from metpipeline import settings

    seconds = settings.STATE_LOCK_TIMEOUT.get()
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": seconds, "check_same_thread": False})
    elif url.startswith("postgresql"):
        engine = sa.create_engine(
            url,
            connect_args={"options": f"-c lock_timeout={seconds * 1000}", "connect_timeout": seconds},
        )
    else:
        engine = make_engine(url, settings.STATE_URL.name)

    @sa.event.listens_for(engine, "handle_error")
    def _locked(context) -> None:
        original = context.original_exception
        text = str(original).lower()
        if (
            "database is locked" in text
            or getattr(original, "pgcode", None) == "55P03"
            or (getattr(getattr(original, "diag", None), "sqlstate", None) == "55P03")
        ):
            raise StateBusy(
                f"the state database {redact_url(url)} ({settings.STATE_URL.name}) stayed locked by another "
                f"process for {seconds} s ({settings.STATE_LOCK_TIMEOUT.name}): another metpipeline command "
                "or run is writing to it, or a session left a transaction open; nothing was recorded. Try "
                "again when it has finished, or allow a longer wait"
            ) from None

    return engine


def check_reachable(engine: sa.Engine, variable: str) -> None:
    """Open and close one connection, turning driver errors into a message that names the (redacted) URL."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        where = redact_url(engine.url.render_as_string(hide_password=False))
        raise DataMartUnreachable(
            redact_secrets(f"cannot reach the database at {where} ({variable}): {reason}")
        ) from None


T = TypeVar("T")


def run_cancellable(conn: sa.Connection, work: Callable[[], T], poll_s: float = 0.2) -> T:
    """Run `work` (queries on `conn`) so that an interrupt stops it within about a second.

    A query blocks inside the driver, where Python cannot act on SIGTERM, Ctrl-C or the UI's *Terminate*
    (Dagster turns each into an exception on the main thread). So the query runs on a worker thread while
    this thread waits in short steps; on an interrupt the driver is told to cancel the statement
    (sqlite3 `interrupt()`, psycopg `cancel()`), the worker is joined, and the interrupt goes on.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="metpipeline-query", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(poll_s)
    except BaseException:
        _cancel(conn)
        worker.join(30)
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _cancel(conn: sa.Connection) -> None:
    """Ask the driver to abandon the running statement; a driver without a way to do so is left to finish."""
    dbapi = getattr(conn.connection, "dbapi_connection", None)
    for method in ("interrupt", "cancel_safe", "cancel"):  # sqlite3; psycopg 3; psycopg 2 / others
        fn = getattr(dbapi, method, None)
        if callable(fn):
            try:
                fn()
            except Exception:  # noqa: S110 - best effort: the interrupt is raised either way
                pass
            return
