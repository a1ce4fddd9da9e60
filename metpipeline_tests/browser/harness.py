"""A real Dagster webserver and daemon (`dagster dev`) on a loopback port, for tests that drive the UI.

`dagster_dev(...)` starts `dagster dev -w <workspace>` in its own process group with a throw-away
DAGSTER_HOME (a copy of the repository's SQLite `dagster.yaml`), waits until the code location has loaded
and the daemon reports healthy, and on exit stops the whole process group: SIGINT first (what `dagster dev`
handles to shut its webserver, daemon and code servers down), then SIGTERM and SIGKILL after bounded waits.
Everything the process prints goes to a log file whose path failing tests put in their messages.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
IDENTITY_HEADER = "X-Forwarded-User"

LOCATION_STATUS_QUERY = """
query LocationStatus {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message }
        }
      }
    }
  }
}
"""

DAEMON_HEALTH_QUERY = """
query DaemonHealth {
  instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } }
}
"""

RUNS_QUERY = """
query Runs($jobName: String) {
  runsOrError(filter: {pipelineName: $jobName}, limit: 20) {
    __typename
    ... on Runs { results { runId jobName status tags { key value } } }
  }
}
"""


class HarnessError(RuntimeError):
    """The Dagster process did not come up (or answer) in time; the message names its log file."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.5, what: str = "") -> Any:
    """Poll `predicate` until it returns something truthy; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, ValueError) as exc:  # a server still starting refuses connections: keep polling
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what or predicate}{detail}")
        time.sleep(interval)


def metpipeline_env(root: Path, datamart_url: str | None = None) -> dict[str, str]:
    """METPIPELINE_* variables pointing every location of the pipeline under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    return {
        "METPIPELINE_VAR_DIR": str(root),
        "METPIPELINE_DATAMART_URL": datamart_url or f"sqlite:///{root / 'datamart.sqlite'}",
        "METPIPELINE_STATE_URL": f"sqlite:///{root / 'state.sqlite'}",
        "METPIPELINE_BUCKET_URL": str(root / "bucket"),
        "METPIPELINE_WORK_DIR": str(root / "work"),
        "METPIPELINE_RELEASE_TIME": "immediate",
    }


def dagster_home(path: Path, dagster_yaml: Path = REPO_ROOT / "dagster.yaml") -> Path:
    """A fresh Dagster instance directory holding a copy of the repository's `dagster.yaml`."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(dagster_yaml, path / "dagster.yaml")
    return path


@dataclass
class DagsterUI:
    """A running `dagster dev`: its base URL, its log, and a small GraphQL client."""

    url: str
    log_path: Path
    process: subprocess.Popen
    env: dict[str, str]
    stopped_with: str | None = None  # the signal that finally stopped the process group
    headers: dict[str, str] = field(default_factory=dict)  # what the sign-in proxy adds to each request

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None, timeout: float = 10) -> Any:
        body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json", **self.headers}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.load(response)
        if payload.get("errors"):
            raise HarnessError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def runs(self, job_name: str) -> list[dict[str, Any]]:
        """The latest runs of a job, newest first, as {runId, jobName, status, tags}."""
        data = self.graphql(RUNS_QUERY, {"jobName": job_name})["runsOrError"]
        if data["__typename"] != "Runs":
            raise HarnessError(f"runs query for {job_name} answered {data['__typename']}")
        return data["results"]

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            code = self.process.returncode
            message = f"dagster dev exited with code {code}; log: {self.log_path}\n{self.log_tail()}"
            raise HarnessError(message)


def _server_answers(ui: DagsterUI) -> bool:
    ui.check_alive()
    request = urllib.request.Request(f"{ui.url}/server_info", headers=ui.headers)
    with urllib.request.urlopen(request, timeout=2) as response:
        return response.status == 200


def _location_loaded(ui: DagsterUI, location: str) -> bool:
    ui.check_alive()
    data = ui.graphql(LOCATION_STATUS_QUERY)["workspaceOrError"]
    for entry in data.get("locationEntries", []):
        if entry["name"] != location or entry["loadStatus"] != "LOADED":
            continue
        loaded = entry["locationOrLoadError"] or {}
        if loaded.get("__typename") == "PythonError":
            raise HarnessError(f"code location {location} failed to load: {loaded.get('message')}")
        return True
    return False


def _daemons_healthy(ui: DagsterUI, daemon_types: tuple[str, ...]) -> bool:
    ui.check_alive()
    statuses = ui.graphql(DAEMON_HEALTH_QUERY)["instance"]["daemonHealth"]["allDaemonStatuses"]
    healthy = {s["daemonType"] for s in statuses if s["healthy"]}
    return all(t in healthy for t in daemon_types)


def stop_process_group(
    process: subprocess.Popen, sigint_timeout: float = 30, term_timeout: float = 10
) -> str:
    """Stop the process and everything it started; returns which signal finally did it."""
    pgid = process.pid  # started with start_new_session=True: the process leads its own group
    for sig, timeout in ((signal.SIGINT, sigint_timeout), (signal.SIGTERM, term_timeout)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return "already exited"
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
        # The leader has gone; wait (bounded) for the rest of its group, e.g. code servers, to follow.
        if _group_gone(pgid, timeout):
            return sig.name
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)
    _group_gone(pgid, 5)
    return "SIGKILL"


def _group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


@contextmanager
def dagster_dev(
    workspace: Path,
    home: Path,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    location: str = "metpipeline",
    cwd: Path = REPO_ROOT,
    startup_timeout: float = 180,
    daemons: tuple[str, ...] = ("SENSOR", "QUEUED_RUN_COORDINATOR"),
    signed_in_as: str | None = None,
    port: int | None = None,
) -> Iterator[DagsterUI]:
    """Run `dagster dev` (webserver + daemon) until the block exits, then stop it and all its children.

    `env` is laid over the current environment; DAGSTER_HOME is set to `home`. The process runs from
    `cwd` with the venv's interpreter, so no `uv` process sits between the test and Dagster.
    With `signed_in_as`, the production entry point runs instead: `dagster-daemon run` beside
    `metpipeline ui` with METPIPELINE_IDENTITY_HEADER set, and every request of the harness carries the
    header as the sign-in proxy would.
    """
    port = port or free_port()
    # Inherited METPIPELINE_* settings (a developer's own DataMart, owners file, first month) are dropped so
    # the test sees only what it configured.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("METPIPELINE_")}
    full_env = {**inherited, **(env or {}), "DAGSTER_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    full_env.pop("DAGSTER_CLI_API_GRPC_HOST", None)
    command = [
        sys.executable, "-m", "dagster", "dev",
        "-w", str(workspace),
        "-h", "127.0.0.1",
        "-p", str(port),
    ]  # fmt: skip
    headers = {}
    if signed_in_as:
        full_env["METPIPELINE_IDENTITY_HEADER"] = IDENTITY_HEADER
        headers = {IDENTITY_HEADER: signed_in_as}
        daemon = Path(sys.executable).parent / "dagster-daemon"
        # One process group: the daemon in the background, the webserver in the foreground; SIGINT to the
        # group stops both.
        command = [
            "bash", "-c",
            f'"{daemon}" run -w "{workspace}" & exec "{sys.executable}" -m metpipeline ui '
            f'--host 127.0.0.1 --port {port} -w "{workspace}"',
        ]  # fmt: skip
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 - closed in the finally below, after the process has gone
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    ui = DagsterUI(
        url=f"http://127.0.0.1:{port}", log_path=log_path, process=process, env=full_env, headers=headers
    )
    try:
        try:
            wait_until(lambda: _server_answers(ui), startup_timeout, what="the webserver's /server_info")
            wait_until(lambda: _location_loaded(ui, location), startup_timeout, what=f"location {location}")
            if daemons:
                wait_until(lambda: _daemons_healthy(ui, daemons), startup_timeout, what=f"daemons {daemons}")
        except (TimeoutError, urllib.error.URLError) as exc:
            message = f"dagster dev did not come up: {exc}; log: {log_path}\n{ui.log_tail()}"
            raise HarnessError(message) from exc
        yield ui
    finally:
        ui.stopped_with = stop_process_group(process)
        log.close()
