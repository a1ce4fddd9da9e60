"""Runs that heal: a run killed with its process is marked failed by run monitoring (shipped dagster.yaml),
and two runs of the same month never write it at once."""

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import pytest

from metpipeline.months import locks as month_locks

REPO_ROOT = Path(__file__).resolve().parents[1]

SLOW_RUN = r"""
import time
import dagster as dg

@dg.op
def long_step():
    time.sleep(120)

@dg.job
def slow_job():
    long_step()

slow_job.execute_in_process(instance=dg.DagsterInstance.get())
"""


def test_a_run_killed_with_its_process_is_marked_failed_by_run_monitoring(tmp_path, monkeypatch):
    from dagster._daemon.monitoring.run_monitoring import monitor_started_run

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")  # the shipped instance settings
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    from dagster._core.instance.ref import InstanceRef

    child = None
    try:
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            # Create the instance's SQLite storages here, before the run's process opens them: two processes
            # creating them at once race on Alembic's version table and one of them fails.
            instance.get_runs()
            instance.all_asset_keys()
            instance.all_instigator_state()
            child = subprocess.Popen(
                [sys.executable, "-c", SLOW_RUN], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True
            )
            deadline = time.monotonic() + 300
            while True:
                runs = instance.get_runs()
                if runs and runs[0].status == dg.DagsterRunStatus.STARTED:
                    break
                if child.poll() is not None:
                    pytest.fail(f"the run's process ended before its run started:\n{child.stderr.read()}")
                assert time.monotonic() < deadline, "the run never started"
                time.sleep(0.2)
            run_id = runs[0].run_id
            assert instance.run_monitoring_enabled
            assert instance.run_launcher.check_run_worker_health(runs[0]).status.value == "RUNNING"

            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            record = instance.get_run_records(dg.RunsFilter(run_ids=[run_id]))[0]
            assert record.dagster_run.status == dg.DagsterRunStatus.STARTED  # what it was stuck in before
            # One pass of the monitoring daemon's own check, as `dagster-daemon run` does every 30 s.
            monitor_started_run(instance, None, record, logging.getLogger("run_monitoring"))
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    finally:
        if child is not None and child.poll() is None:
            child.kill()


def test_a_second_run_of_a_month_being_written_is_refused_with_a_message(tmp_path, monkeypatch):
    from metpipeline.extract.assets import cris_extract
    from metpipeline.resources import DataMartResource, WorkAreaResource

    monkeypatch.setenv("METPIPELINE_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("METPIPELINE_DATAMART_URL", f"sqlite:///{tmp_path / 'absent.sqlite'}")
    with ExitStack() as held:  # another run is writing 2024-03
        month_locks.hold(tmp_path / "work", ["2024-03"], "run-first", held)
        result = dg.materialize(
            [cris_extract],
            partition_key="2024-03",
            resources={"datamart": DataMartResource(), "workarea": WorkAreaResource()},
            raise_on_error=False,
        )
        assert not result.success
        message = "\n".join(str(e.message) for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        message += "".join(
            str(getattr(e.event_specific_data, "error", "")) for e in result.all_events if e.is_failure
        )
        assert "2024-03 is being written by run run-first" in message
    # Released (the first run ended): the month can be written again; nothing was touched meanwhile.
    assert not (tmp_path / "work" / "extract").exists()
    with ExitStack() as again:
        month_locks.hold(tmp_path / "work", ["2024-03"], "run-second", again)


def test_a_range_takes_every_month_and_a_killed_holder_releases_them(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from contextlib import ExitStack; from pathlib import Path;"
            "from metpipeline.months import locks as month_locks; s = ExitStack();"
            f"month_locks.hold(Path({str(tmp_path)!r}), ['2024-01', '2024-02'], 'run-range', s);"
            "print('held', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with ExitStack() as stack, pytest.raises(month_locks.MonthBusy, match="2024-02 is being written"):
            month_locks.hold(tmp_path, ["2024-02", "2024-03"], "run-other", stack)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        with ExitStack() as stack:  # the kernel released the dead holder's locks
            month_locks.hold(tmp_path, ["2024-01", "2024-02", "2024-03"], "run-other", stack)
    finally:
        if holder.poll() is None:
            holder.kill()
