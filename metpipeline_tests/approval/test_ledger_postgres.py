"""The ledger's append-only triggers on a real PostgreSQL server (a throw-away cluster on a Unix socket)."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from metpipeline.governance import ledger
from metpipeline_tests.approval.test_registry_and_ledger import KEY, decide_row

pytestmark = pytest.mark.integration


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; in a root container run the server as the postgres account.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def pg_engine():
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="metpipeline-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    init = [initdb, "-D", str(data), "-A", "trust", "-U", "postgres"]
    subprocess.run(_as_postgres(init), check=True, capture_output=True)
    opts = f"-c listen_addresses='' -k {root}"
    start = [pg_ctl, "-D", str(data), "-o", opts, "-w", "start", "-l", str(root / "log")]
    subprocess.run(_as_postgres(start), check=True, capture_output=True)
    engine = sa.create_engine(f"postgresql+psycopg://postgres@/postgres?host={root}")
    try:
        yield engine
    finally:
        engine.dispose()
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_rejects_update_delete_and_truncate_of_decisions(pg_engine):
    ledger.ensure_schema(pg_engine)
    decide_row(pg_engine, "b" * 64, dataset="ward")
    for stmt in (
        sa.update(ledger.approval_decisions).values(approver="someone.else"),
        sa.delete(ledger.approval_decisions),
        sa.text("TRUNCATE owner_decisions"),
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with pg_engine.begin() as conn:
                conn.execute(stmt)
    with pytest.raises(sa.exc.IntegrityError):
        decide_row(pg_engine, "b" * 64, dataset="ward", decision="reject")
    ledger._ready.discard(pg_engine)
    ledger.ensure_schema(pg_engine)  # installing the triggers again is harmless
    assert [d.approver for d in ledger.decisions_for(pg_engine, "ward", "2024-03", "b" * 64)] == [
        "alice.owner"
    ]
    # Sealed and chained on PostgreSQL too: a row a superuser forges around the triggers is found.
    assert ledger.verify_chain(pg_engine, KEY, "ward") == []
    with pg_engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE owner_decisions DISABLE TRIGGER USER")
        conn.execute(sa.update(ledger.approval_decisions).values(approver="mallory"))
        conn.exec_driver_sql("ALTER TABLE owner_decisions ENABLE TRIGGER USER")
    problems = ledger.verify_chain(pg_engine, KEY, "ward")
    assert len(problems) == 1 and "seal does not match" in problems[0] and "ward decision #1" in problems[0]


def test_a_ledger_written_by_the_earlier_version_is_migrated_on_postgres(pg_engine):
    from metpipeline_tests.approval.test_registry_and_ledger import check_migration_of_an_earlier_ledger

    with pg_engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA earlier")
    engine = sa.create_engine(pg_engine.url, connect_args={"options": "-c search_path=earlier"})
    try:
        check_migration_of_an_earlier_ledger(engine)
    finally:
        engine.dispose()


def test_postgres_refuses_changes_to_stagings_and_a_forged_one_is_found(pg_engine):
    ledger.ensure_schema(pg_engine)
    ledger.record_candidate(pg_engine, KEY, "lsoa", "2024-03", "d" * 64, "run-1", True, ("alice.owner",))
    for stmt in (
        sa.update(ledger.release_candidates).values(launched_by=None),
        sa.delete(ledger.release_candidates),
        sa.text("TRUNCATE staged_candidates"),
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with pg_engine.begin() as conn:
                conn.execute(stmt)
    with pg_engine.begin() as conn:  # a superuser, around the triggers
        conn.exec_driver_sql("ALTER TABLE staged_candidates DISABLE TRIGGER USER")
        conn.execute(
            sa.update(ledger.release_candidates)
            .where(ledger.release_candidates.c.dataset == "lsoa")
            .values(launched_by=None, launchers="[]")
        )
        conn.exec_driver_sql("ALTER TABLE staged_candidates ENABLE TRIGGER USER")
    problems = ledger.verify_candidates(pg_engine, KEY, "lsoa")
    assert len(problems) == 1 and "seal does not match" in problems[0] and "lsoa staging #1" in problems[0]
