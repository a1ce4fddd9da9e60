"""Build the golden DataMart (sql/datamart/sqlite.sql + golden/datamart.sql) as a SQLite file."""

import sqlite3
from pathlib import Path

from metpipeline.db import SQL_DIR

GOLDEN_DIR = Path(__file__).resolve().parent
EXPECTED_DIR = GOLDEN_DIR / "expected"
RELEASE_MONTH = "2024-10"
FIRST_MONTH = "2022-01"
PII_SENTINEL = "PII-SENTINEL"


def build_golden_datamart(path: Path, extra_sql: str = "") -> str:
    """Create the golden DataMart at `path`; return its SQLAlchemy URL."""
    con = sqlite3.connect(path)
    try:
        con.executescript((SQL_DIR / "datamart" / "sqlite.sql").read_text(encoding="utf-8"))
        con.executescript((GOLDEN_DIR / "datamart.sql").read_text(encoding="utf-8"))
        if extra_sql:
            con.executescript(extra_sql)
        con.commit()
    finally:
        con.close()
    return f"sqlite:///{path}"


def execute(url: str, sql: str) -> None:
    con = sqlite3.connect(url[len("sqlite:///") :])
    try:
        con.executescript(sql)
        con.commit()
    finally:
        con.close()
