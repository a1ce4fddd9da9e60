"""A release stops within seconds when told to, even inside a long query, and leaves nothing partial.

The long query is a real one: the CONNECT extraction, on a DataMart whose `connect_offence` is a view that
the warehouse evaluates slowly (its `legacy_cris_ref` costs a correlated count per row, as an overloaded
or badly indexed warehouse would behave; a contract table may be a view). Only the extraction reads that
column, so it runs for minutes while everything before it is quick; a run told to stop inside it must
stop within seconds."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metpipeline.datamart.seed import seed_datamart
from metpipeline_tests.processes import gone, helpers

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parent.parent


def step_started(home: Path, step: str) -> bool:
    """Whether a run of the instance at `home` has started `step` (read from its SQLite event log)."""
    for db in (home / "history" / "runs").glob("*.db"):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
                query = "SELECT 1 FROM event_logs WHERE dagster_event_type = 'STEP_START' AND step_key = ?"
                if conn.execute(query, (step,)).fetchone():
                    return True
        except sqlite3.Error:
            continue  # being created or written: look again
    return False


@pytest.mark.parametrize(
    "first",
    [
        "2024-01",  # two months: the run's own process alone
        "2023-07",  # eight months, shared with a helper, which holds 2024-02 (the slowest) from the back
    ],
)
def test_sigterm_during_a_long_extraction_query_stops_the_run_within_seconds(tmp_path, first):
    var = tmp_path / "var"
    var.mkdir()
    datamart = var / "datamart.sqlite"
    seed_datamart(f"sqlite:///{datamart}", first, "2024-02", scale=0.5, progress=False)
    with sqlite3.connect(datamart) as conn:  # the same rows, one column served slowly
        columns = [row[1] for row in conn.execute("PRAGMA table_info(connect_offence)")]
        conn.execute("ALTER TABLE connect_offence RENAME TO connect_offence_rows")
        slow = (
            "CASE WHEN (SELECT COUNT(*) FROM connect_offence_rows AS y"
            " WHERE y.premises_type <> o.premises_type) >= 0 THEN o.legacy_cris_ref END AS legacy_cris_ref"
        )
        select = ", ".join(slow if c == "legacy_cris_ref" else f"o.{c}" for c in columns)
        conn.execute(f"CREATE VIEW connect_offence AS SELECT {select} FROM connect_offence_rows AS o")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METPIPELINE_", "DAGSTER_"))}
    env.update(METPIPELINE_VAR_DIR=str(var), METPIPELINE_FIRST_MONTH=first, DAGSTER_HOME=str(var / "dagster"))
    log = tmp_path / "backfill.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "metpipeline", "backfill", first, "2024-02"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            # Wait until the run is inside the CONNECT extraction query (the first step to run), which takes
            # minutes through the slow view.
            deadline = time.monotonic() + 240
            while not step_started(var / "dagster", "connect_extract"):
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "the back-fill never reached the CONNECT extraction"
                time.sleep(0.2)
            shared = first != "2024-01"
            while shared and not helpers(proc.pid):
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "no helper process started"
                time.sleep(0.2)
            time.sleep(3)  # well inside the query
            # The slow month is still being extracted (one process: the first; shared: the helper's).
            assert proc.poll() is None and "CONNECT 2024-02: " not in log.read_text(), (
                "the query was not long"
            )
            if not shared:
                assert "CONNECT 2024-01: " not in log.read_text(), "the query was not long"
            started = helpers(proc.pid)
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            stopped_after = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
    output = log.read_text()
    assert code != 0
    print(f"stopped {stopped_after:.1f} s after SIGTERM")
    assert stopped_after < 15, f"stopped {stopped_after:.1f} s after SIGTERM"
    # No helper process is left working, nothing partial: no extract of the month stopped, and no
    # temporary file left in the work area.
    assert bool(started) == shared
    assert all(gone(pid) for pid in started)
    work = var / "work"
    assert not (work / "extract" / "connect" / "2024-02.parquet").exists()
    assert not [p for p in work.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    # The run is recorded as stopped, not left STARTED.
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    os.environ["DAGSTER_HOME"] = str(var / "dagster")
    try:
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(var / "dagster"))) as instance:
            (run,) = instance.get_runs()
            assert run.status == dg.DagsterRunStatus.CANCELED, run.status
    finally:
        os.environ.pop("DAGSTER_HOME", None)
    assert "was stopped on request" in output and "Traceback" not in output
