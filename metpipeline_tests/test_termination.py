"""A release stops within seconds when told to, even inside a long query, and leaves nothing partial.

The long query is a real one: the CRIS extraction on a DataMart built to the contract without the
secondary index on connect_offence.legacy_cris_ref, where SQLite's correlated EXISTS turns quadratic (the
case issue reports saw run for minutes after SIGTERM)."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metpipeline.datamart.seed import seed_datamart

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parent.parent


def test_sigterm_during_a_long_extraction_query_stops_the_run_within_seconds(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    datamart = var / "datamart.sqlite"
    seed_datamart(f"sqlite:///{datamart}", "2024-01", "2024-02", scale=0.5, progress=False)
    with sqlite3.connect(datamart) as conn:  # the contract promises no secondary index
        conn.execute("DROP INDEX ix_connect_offence_legacy_cris_ref")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METPIPELINE_", "DAGSTER_"))}
    env.update(
        METPIPELINE_VAR_DIR=str(var), METPIPELINE_FIRST_MONTH="2024-01", DAGSTER_HOME=str(var / "dagster")
    )
    log = tmp_path / "backfill.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "metpipeline.cli", "backfill", "2024-01", "2024-02"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            # Wait until the run is inside the CRIS extraction query: CONNECT is extracted first (the
            # steps run in name order), and each CRIS month then takes tens of seconds without the index.
            deadline = time.monotonic() + 240
            while "CONNECT 2024-02: " not in log.read_text():
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "the back-fill never reached the CRIS extraction"
                time.sleep(0.2)
            time.sleep(3)  # well inside the query
            assert proc.poll() is None and "CRIS 2024-01: " not in log.read_text(), "the query was not long"
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
    # Nothing partial: no extract of the interrupted month, and no temporary file left in the work area.
    work = var / "work"
    assert not (work / "extract" / "cris" / "2024-01.parquet").exists()
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
