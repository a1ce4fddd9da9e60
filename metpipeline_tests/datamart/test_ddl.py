"""The three DDL files agree with the contract (metpipeline.datamart.schema) column by column."""

import re
import sqlite3

import pytest
import sqlglot
from sqlglot import exp

from metpipeline.datamart import ddl
from metpipeline.datamart.schema import TABLES, TABLES_BY_NAME

# Type family of a contract type, and of each parsed DDL type (so PostgreSQL's spellings compare equal).
_FAMILY = {
    "VARCHAR": "text", "NVARCHAR": "text", "CHAR": "text", "BIT": "flag", "DATETIME": "timestamp",
    "DATETIME2": "timestamp", "DATE": "date", "BIGINT": "bigint", "INT": "int", "DECIMAL": "decimal",
}  # fmt: skip
_SQLGLOT_FAMILY = {
    exp.DataType.Type.VARCHAR: "text", exp.DataType.Type.NVARCHAR: "text", exp.DataType.Type.CHAR: "text",
    exp.DataType.Type.BIT: "flag", exp.DataType.Type.DATETIME: "timestamp",
    exp.DataType.Type.DATETIME2: "timestamp", exp.DataType.Type.TIMESTAMP: "timestamp",
    exp.DataType.Type.DATE: "date", exp.DataType.Type.BIGINT: "bigint", exp.DataType.Type.INT: "int",
    exp.DataType.Type.DECIMAL: "decimal", exp.DataType.Type.SMALLINT: "flag",
}  # fmt: skip


def _contract(table) -> dict[str, tuple]:
    out = {}
    for c in table.columns:
        base = re.match(r"[A-Z0-9]+", c.sql_type).group(0)
        size = tuple(int(x) for x in re.findall(r"\d+", c.sql_type[len(base) :]))
        out[c.name] = (_FAMILY[base], size, c.nullable, c.name in table.primary_key)
    return out


def _parsed_tables(path_sql: str, dialect: str) -> dict[str, dict[str, tuple]]:
    """Parse each CREATE TABLE of a DDL file with sqlglot: {table: {column: (family, size, null, pk)}}."""
    tables = {}
    for statement in ddl.split_statements(path_sql):
        tree = sqlglot.parse_one(statement, read=dialect)
        if not isinstance(tree, exp.Create) or tree.kind != "TABLE":
            continue
        target = tree.this.this
        schema = target.args.get("db")
        assert schema is not None and schema.name == "dm", f"{target.name} is not in schema dm"
        cols, table_pk = {}, set()
        for item in tree.this.expressions:
            if isinstance(item, exp.PrimaryKey):
                table_pk |= {e.name for e in item.expressions}
                continue
            kinds = [c.kind for c in item.constraints]
            not_null = any(
                isinstance(k, exp.NotNullColumnConstraint) and not k.args.get("allow_null") for k in kinds
            )
            pk = any(isinstance(k, exp.PrimaryKeyColumnConstraint) for k in kinds)
            dtype = item.kind
            size = tuple(int(e.name) for e in dtype.expressions)
            cols[item.name] = (_SQLGLOT_FAMILY[dtype.this], size, not not_null, pk)
        for name in table_pk:
            fam, size, null, _ = cols[name]
            cols[name] = (fam, size, null, True)
        tables[target.name] = cols
    return tables


@pytest.mark.parametrize("dialect_name,sqlglot_dialect", [("mssql", "tsql"), ("postgresql", "postgres")])
def test_server_ddl_matches_contract(dialect_name, sqlglot_dialect):
    parsed = _parsed_tables(ddl.ddl_path(dialect_name).read_text(), sqlglot_dialect)
    assert list(parsed) == [t.name for t in TABLES]
    for table in TABLES:
        expected = _contract(table)
        if dialect_name == "postgresql":
            # BIT becomes SMALLINT with a 0/1 check, and sizes of timestamps are precisions, not lengths.
            expected = {
                k: (f, s if f in ("text", "decimal") else (), n, p) for k, (f, s, n, p) in expected.items()
            }
            got = {
                k: (f, s if f in ("text", "decimal") else (), n, p)
                for k, (f, s, n, p) in parsed[table.name].items()
            }
        else:
            got = parsed[table.name]
        assert got == expected, table.name


def test_tsql_types_are_the_contract_spellings():
    parsed_types = {}
    for statement in ddl.split_statements(ddl.ddl_path("mssql").read_text()):
        tree = sqlglot.parse_one(statement, read="tsql")
        if isinstance(tree, exp.Create) and tree.kind == "TABLE":
            for col in tree.this.expressions:
                if isinstance(col, exp.ColumnDef):
                    parsed_types[(tree.this.this.name, col.name)] = col.kind.sql(dialect="tsql").replace(
                        " ", ""
                    )
    for table in TABLES:
        for c in table.columns:
            # Both sides rendered by the same T-SQL generator (it spells INT as INTEGER).
            contract = exp.DataType.build(c.sql_type, dialect="tsql").sql(dialect="tsql").replace(" ", "")
            assert parsed_types[(table.name, c.name)] == contract, (table.name, c.name)


def test_sqlite_ddl_matches_contract():
    conn = sqlite3.connect(":memory:")
    conn.executescript(ddl.ddl_path("sqlite").read_text())
    for table in TABLES:
        info = conn.execute(
            "SELECT name, type, [notnull], pk FROM pragma_table_info(?)", (table.name,)
        ).fetchall()
        got = {name: (typ.replace(" ", ""), not notnull, pk > 0) for name, typ, notnull, pk in info}
        expected = {c.name: (c.sql_type, c.nullable, c.name in table.primary_key) for c in table.columns}
        assert got == expected, table.name
        assert [r[0] for r in info] == list(table.column_names)


def test_parser_catches_a_renamed_column_and_a_changed_nullability():
    text = ddl.ddl_path("mssql").read_text()
    renamed = _parsed_tables(text.replace("offence_status VARCHAR(12)", "status VARCHAR(12)"), "tsql")
    assert renamed["connect_offence"] != _contract(TABLES_BY_NAME["connect_offence"])
    relaxed = _parsed_tables(
        text.replace("recorded_at DATETIME NOT NULL", "recorded_at DATETIME NULL"), "tsql"
    )
    assert relaxed["cris_crime_report"]["recorded_at"][2] is True


def test_indexes_on_recording_times_and_cris_links():
    for dialect in ddl.DDL_FILES:
        text = ddl.ddl_path(dialect).read_text()
        for col in ("(recorded_at)", "(recorded_at_utc)", "(legacy_cris_ref)", "(occurrence_id)"):
            assert re.search(r"CREATE INDEX \w+ ON [\w.]+ \(" + re.escape(col[1:]), text), (dialect, col)


def test_defects_ddl_relaxes_every_constraint():
    conn = sqlite3.connect(":memory:")
    for statement in ddl.ddl_statements("sqlite", defects=True):
        conn.execute(statement)
    for table in TABLES:
        info = conn.execute("SELECT [notnull], pk FROM pragma_table_info(?)", (table.name,)).fetchall()
        assert all(notnull == 0 and pk == 0 for notnull, pk in info), table.name
