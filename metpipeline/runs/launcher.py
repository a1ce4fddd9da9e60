"""The run launcher of the embedded and single-host set-up: Dagster's default, plus a health check.

Dagster's run monitoring marks a run whose worker died as failed, but only for launchers that can check
their workers, and the default launcher cannot: a run killed with its process stayed STARTED for ever. On
one host the check is simple: the run's worker is the process that wrote its RUN_START event. That also
covers runs executed in-process by the command line. (A multi-host deployment uses dagster-docker's or
dagster-k8s's launcher, which check their containers themselves.)
"""

import os

import dagster as dg
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher


class LocalRunLauncher(DefaultRunLauncher):
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        pid = worker_pid(self._instance, run.run_id)
        if pid is None:
            # Not started yet (STARTING): the monitoring daemon's start timeout covers that case.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker not started yet")
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return CheckRunHealthResult(WorkerStatus.FAILED, f"the run's process {pid} is gone (killed?)")
        except PermissionError:
            pass  # alive, under another user
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"process {pid} alive")


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.pid is not None:
            return int(event.pid)
    return None
