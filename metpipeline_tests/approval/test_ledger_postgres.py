"""The ledger's append-only triggers on a real PostgreSQL server (a throw-away cluster on a Unix socket)."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from metpipeline.approval import ledger

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
    ledger.insert_decision(pg_engine, "ward", "2024-03", "b" * 64, "approve", "alice.owner", "", "1")
    for stmt in (
        sa.update(ledger.approval_decisions).values(approver="someone.else"),
        sa.delete(ledger.approval_decisions),
        sa.text("TRUNCATE approval_decisions"),
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with pg_engine.begin() as conn:
                conn.execute(stmt)
    with pytest.raises(sa.exc.IntegrityError):
        ledger.insert_decision(pg_engine, "ward", "2024-03", "b" * 64, "reject", "alice.owner", "", "1")
    ledger._ready.discard(pg_engine)
    ledger.ensure_schema(pg_engine)  # installing the triggers again is harmless
    assert ledger.decision_for(pg_engine, "ward", "2024-03", "b" * 64).approver == "alice.owner"
