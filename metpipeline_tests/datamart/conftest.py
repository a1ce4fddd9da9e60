"""Fixtures of the DataMart tests. The PostgreSQL server fixture lives in
metpipeline_tests/fixtures/postgres.py and is imported by each test folder that needs it, as here."""

import sqlite3

import pytest

from metpipeline.datamart.seed import seed_datamart
from metpipeline_tests.fixtures.postgres import postgres_url  # noqa: F401

SMALL_SCALE = 0.05  # 5% of MPS volumes: every awkward case still occurs, the seed takes a second or two


@pytest.fixture(scope="session")
def small_datamart(tmp_path_factory):
    """2023-12..2024-04 at 5% scale: CRIS, migration, the cut-over, CRIS anomalies, BST start,
    midnight at the start of April."""
    path = tmp_path_factory.mktemp("dm") / "datamart.sqlite"
    summary = seed_datamart(f"sqlite:///{path}", "2023-12", "2024-04", scale=SMALL_SCALE, progress=False)
    conn = sqlite3.connect(path)
    yield conn, summary
    conn.close()
