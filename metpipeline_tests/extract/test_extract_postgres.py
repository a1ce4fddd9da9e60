"""The extract SQL runs unchanged on a real PostgreSQL server (schema dm) and gives what SQLite gives, and
parses as T-SQL for the production DataMart. Only the `dm.` qualifier differs between dialects
(metpipeline.db.translate_sql)."""

import pandas as pd
import pytest
import sqlalchemy as sa
import sqlglot

from metpipeline.datamart.seed import seed_datamart
from metpipeline.db import SQL_DIR
from metpipeline.extract.queries import extract_connect, extract_cris, source_state
from metpipeline.harmonise.month import harmonise_month
from metpipeline_tests.fixtures.postgres import postgres_url  # noqa: F401  (real server on loopback)

pytestmark = pytest.mark.integration

MONTHS = ("2024-02", "2024-03")  # the cut-over month (both systems, migrated crimes) and the BST switch


@pytest.mark.parametrize("path", sorted((SQL_DIR / "extract").glob("*.sql")), ids=lambda p: p.name)
def test_extract_sql_parses_as_tsql(path):
    statements = [s for s in sqlglot.parse(path.read_text(encoding="utf-8"), read="tsql") if s is not None]
    assert len(statements) == 1, f"{path.name}: one SELECT per file"
    tables = {t.sql(dialect="tsql") for t in statements[0].find_all(sqlglot.exp.Table)}
    assert tables and all(t.startswith("dm.") for t in tables), f"{path.name}: every table in schema dm"


def _canonical(df: pd.DataFrame) -> pd.DataFrame:
    """Driver-neutral form: every value as text, rows in a stable order."""
    out = df.astype(str).replace({"<NA>": "None", "nan": "None", "NaT": "None"})
    return out.sort_values(list(out.columns)).reset_index(drop=True)


def test_postgresql_and_sqlite_extract_and_harmonise_identically(postgres_url, tmp_path):  # noqa: F811
    kwargs = dict(scale=0.02, progress=False, seed=5, force=True)
    seed_datamart(postgres_url, "2024-01", MONTHS[-1], **kwargs)
    lite_url = f"sqlite:///{tmp_path / 'dm.sqlite'}"
    seed_datamart(lite_url, "2024-01", MONTHS[-1], **kwargs)
    pg, lite = sa.create_engine(postgres_url), sa.create_engine(lite_url)
    try:
        # The one-pass state query (watermark and undated rows) agrees too.
        for system in ("CRIS", "CONNECT"):
            state = {name: source_state(e, system) for name, e in (("pg", pg), ("lite", lite))}
            assert state["pg"] == state["lite"] and state["pg"].watermark is not None, (system, state)
        for month in MONTHS:
            cris = {name: extract_cris(e, month) for name, e in (("pg", pg), ("lite", lite))}
            connect = {name: extract_connect(e, month) for name, e in (("pg", pg), ("lite", lite))}
            assert len(cris["pg"]) + len(connect["pg"]) > 0
            pd.testing.assert_frame_equal(_canonical(cris["pg"]), _canonical(cris["lite"]))
            pd.testing.assert_frame_equal(_canonical(connect["pg"]), _canonical(connect["lite"]))
            frame_pg, ledger_pg = harmonise_month(month, cris["pg"], connect["pg"])
            frame_lite, ledger_lite = harmonise_month(month, cris["lite"], connect["lite"])
            assert ledger_pg == ledger_lite
            assert ledger_pg["counted"] == len(frame_pg) > 0
            pd.testing.assert_frame_equal(_canonical(frame_pg), _canonical(frame_lite))
    finally:
        pg.dispose()
        lite.dispose()
