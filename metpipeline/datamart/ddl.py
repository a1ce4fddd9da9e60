"""Create (or replace) the DataMart tables from the static DDL files under sql/datamart/.

One file per dialect: sqlite.sql (embedded, no schema), postgres.sql and tsql.sql (schema `dm`). The
`defects` variant relaxes every NOT NULL and PRIMARY KEY — the "nullable-by-mistake copy" that lets tests
insert the data errors the pipeline must refuse to release.
"""

import re
from typing import Any

import sqlalchemy as sa

from metpipeline.datamart.schema import TABLES, TABLES_BY_NAME
from metpipeline.db import DATAMART_SCHEMA, SQL_DIR, uses_schema

DDL_FILES = {"sqlite": "sqlite.sql", "postgresql": "postgres.sql", "mssql": "tsql.sql"}

_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")
_NOT_NULL = re.compile(r"[ \t]+NOT NULL\b")
_PRIMARY_KEY = re.compile(r"[ \t]+PRIMARY KEY\b")


class UnsupportedDialect(ValueError):
    pass


def ddl_path(dialect_name: str):
    try:
        return SQL_DIR / "datamart" / DDL_FILES[dialect_name]
    except KeyError:
        raise UnsupportedDialect(
            f"no DataMart DDL for dialect {dialect_name!r}; supported: {', '.join(sorted(DDL_FILES))}"
        ) from None


def split_statements(sql: str) -> list[str]:
    """Statements of a DDL file: split at a ';' ending a line, '--' comment lines dropped.
    The DDL files are static and hold no string literal containing ';' followed by a line end."""
    out = []
    for part in _STATEMENT_END.split(sql):
        body = "\n".join(line for line in part.splitlines() if not line.strip().startswith("--")).strip()
        if body:
            out.append(body)
    return out


def relax(statement: str) -> str:
    """The statement without NOT NULL and PRIMARY KEY constraints (the defects copy)."""
    return _PRIMARY_KEY.sub("", _NOT_NULL.sub("", statement))


def ddl_statements(dialect_name: str, defects: bool = False) -> list[str]:
    statements = split_statements(ddl_path(dialect_name).read_text(encoding="utf-8"))
    return [relax(s) for s in statements] if defects else statements


def core_table(name: str, dialect_name: str) -> sa.TableClause:
    """A lightweight Core table for a contract table (in schema dm where the dialect has schemas)."""
    cols: list[sa.ColumnClause[Any]] = [sa.column(c) for c in TABLES_BY_NAME[name].column_names]
    schema = DATAMART_SCHEMA if uses_schema(dialect_name) else None
    return sa.table(name, *cols, schema=schema)


def existing_tables(engine: sa.Engine) -> list[str]:
    """The contract tables that already exist in the DataMart."""
    schema = DATAMART_SCHEMA if uses_schema(engine.dialect.name) else None
    present = set(sa.inspect(engine).get_table_names(schema=schema))
    return [t.name for t in TABLES if t.name in present]


def drop_tables(engine: sa.Engine) -> None:
    """Drop every contract table that exists (children first). Used only by `seed --force`."""
    present = set(existing_tables(engine))
    schema = DATAMART_SCHEMA if uses_schema(engine.dialect.name) else None
    with engine.begin() as conn:
        for table in reversed(TABLES):
            if table.name in present:
                sa.Table(table.name, sa.MetaData(), schema=schema).drop(conn)


def create_tables(engine: sa.Engine, defects: bool = False) -> None:
    """Apply the dialect's DDL file in one transaction."""
    with engine.begin() as conn:
        for statement in ddl_statements(engine.dialect.name, defects=defects):
            conn.exec_driver_sql(statement)
