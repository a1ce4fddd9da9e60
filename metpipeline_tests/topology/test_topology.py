"""The production topology, run: Dagster's storage on PostgreSQL, the code location in its own gRPC server,
`dagster-daemon run` and `metpipeline ui` as separate processes, the bucket on an S3-compatible server and
the DataMart on PostgreSQL, all on loopback. A back-fill launched as the schedule launches it opens the
chain; the release runs; the owner approves through the webserver (as the sign-in proxy would pass them);
the sensor publishes. Then a publish run is SIGKILLed mid-way together with the daemon; the daemon is
restarted; run monitoring marks the dead run failed, the sensor retries it, and the version completes with
nothing partial ever named by a pointer.

The S3 endpoint is reached through a slow loopback proxy (each request delayed), so the publication is
still under way when it is killed. Run alone: `uv run pytest -m topology`.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from metpipeline.datamart.seed import seed_datamart
from metpipeline_tests.browser.harness import (
    IDENTITY_HEADER,
    REPO_ROOT,
    DagsterUI,
    _daemons_healthy,
    _location_loaded,
    free_port,
    stop_process_group,
    wait_until,
)
from metpipeline_tests.browser.ui import LAUNCH_RUN_MUTATION, wait_for_run
from metpipeline_tests.deployment import checklist_items

pytestmark = [pytest.mark.topology, pytest.mark.integration, pytest.mark.timeout(1200)]
MONTH = "2024-03"
OWNER = "demo.owner"
SLUG = "datasets/mps-borough-level-crime"


class SlowProxy:
    """A TCP proxy on loopback that holds every chunk a client sends for `delay` seconds."""

    def __init__(self, target_port: int, delay: float):
        self.target, self.delay = target_port, delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopping = False

    def __enter__(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.stopping = True
        self.listener.close()

    def _accept(self):
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, server, self.delay), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, 0), daemon=True).start()

    @staticmethod
    def _pipe(src, dst, delay):
        try:
            while data := src.recv(65536):
                if delay:
                    time.sleep(delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=open(log, "ab"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _listening(port: int, process: subprocess.Popen) -> bool:
    assert process.poll() is None, "the code server exited"
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def launch(ui: DagsterUI, job: str, run_config: dict, tags: dict) -> str:
    params = {
        "selector": {
            "repositoryLocationName": "metpipeline",
            "repositoryName": "__repository__",
            "jobName": job,
        },
        "runConfigData": run_config,
        "mode": "default",
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }
    result = ui.graphql(LAUNCH_RUN_MUTATION, {"params": params}, timeout=60)["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def test_the_production_topology_releases_approves_publishes_and_survives_a_killed_daemon(
    tmp_path,
    postgres_url,
    s3_server,
):
    from metpipeline.approval.decision_job import decision_config
    from metpipeline.runs.release_chain import RANGE_END_TAG, RANGE_START_TAG, RELEASE_MONTH_TAG

    base = postgres_url.rsplit("/", 1)[0]
    suffix = uuid.uuid4().hex[:8]
    with sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT").connect() as conn:
        for db in (f"dagster_{suffix}", f"datamart_{suffix}", f"state_{suffix}"):
            conn.exec_driver_sql(f"CREATE DATABASE {db}")
    datamart_url = f"{base}/datamart_{suffix}"
    seed_datamart(datamart_url, "2024-01", MONTH, scale=0.02, progress=False, seed=11)

    home = tmp_path / "dagster_home"
    home.mkdir()
    instance_config = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    instance_config["run_monitoring"]["poll_interval_seconds"] = 5  # the test waits for it
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config))
    code_port, web_port = free_port(), free_port()
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        (REPO_ROOT / "deploy" / "workspace.yaml").read_text().replace("port: 4000", f"port: {code_port}")
    )

    with SlowProxy(int(s3_server.endpoint_url.rsplit(":", 1)[1]), delay=0.4) as proxy:
        prefix = f"topology-{suffix}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("METPIPELINE_", "DAGSTER_"))}
        env.update(
            DAGSTER_HOME=str(home),
            DAGSTER_PG_URL=f"{base.replace('+psycopg:', '+psycopg2:')}/dagster_{suffix}",
            PYTHONUNBUFFERED="1",
            METPIPELINE_VAR_DIR=str(tmp_path / "var"),
            METPIPELINE_FIRST_MONTH="2024-01",
            METPIPELINE_DATAMART_URL=datamart_url,
            METPIPELINE_STATE_URL=f"{base}/state_{suffix}",
            METPIPELINE_WORK_DIR=str(tmp_path / "work"),
            METPIPELINE_BUCKET_URL=f"s3://{s3_server.bucket}/{prefix}",
            METPIPELINE_S3_ENDPOINT_URL=f"http://127.0.0.1:{proxy.port}",
            METPIPELINE_CODE_SERVER_HOST="127.0.0.1",
            METPIPELINE_IDENTITY_HEADER=IDENTITY_HEADER,
            METPIPELINE_RELEASE_TIME="immediate",
            METPIPELINE_PUBLISH_BACKOFF_SECONDS="0",
        )
        bin_dir = Path(sys.executable).parent
        logs = tmp_path / "logs"
        logs.mkdir()
        code = start(
            [str(bin_dir / "dagster"), "api", "grpc", "-m", "metpipeline.definitions", "-a", "defs",
             "-h", "127.0.0.1", "-p", str(code_port)], env, logs / "code.log")  # fmt: skip
        # The webserver and the daemon load the location from the code server: start them once it listens.
        wait_until(lambda: _listening(code_port, code), 240, what="the gRPC code server")
        daemon = start(
            [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)], env, logs / "daemon.log"
        )
        web = start(
            [sys.executable, "-m", "metpipeline", "ui", "--host", "127.0.0.1", "--port", str(web_port),
             "-w", str(workspace)], env, logs / "web.log")  # fmt: skip
        ui = DagsterUI(
            f"http://127.0.0.1:{web_port}", logs / "web.log", web, env, headers={IDENTITY_HEADER: OWNER}
        )
        store = None
        try:
            wait_until(lambda: ui.graphql("query { version }"), 240, what="the webserver")
            wait_until(lambda: _location_loaded(ui, "metpipeline"), 240, what="the code server's location")
            wait_until(lambda: _daemons_healthy(ui, ("SENSOR", "QUEUED_RUN_COORDINATOR", "MONITORING")), 240,
                       what="the daemon")  # fmt: skip
            # 1. A data engineer launches what the schedule launches: one back-fill of the earlier months,
            #    tagged with the release month; the release_after_backfill sensor then launches the month's
            #    release. The engineer is its launcher (four eyes), so the owner may approve it.
            ui.headers = {IDENTITY_HEADER: "data.engineer"}
            backfill = launch(ui, "backfill_job", {}, {RANGE_START_TAG: "2024-01", RANGE_END_TAG: "2024-02",
                                                       RELEASE_MONTH_TAG: MONTH})  # fmt: skip
            ui.headers = {IDENTITY_HEADER: OWNER}
            assert wait_for_run(ui, backfill, 600) == "SUCCESS"
            release = wait_until(
                lambda: next((r for r in ui.runs("monthly_release_job")), None), 180, interval=2,
                what="the release run")  # fmt: skip
            assert wait_for_run(ui, release["runId"], 600) == "SUCCESS"

            # 2. The owner decides through the webserver (the proxy's header names them).
            from metpipeline.approval.decision_job import current_short_hashes

            state = sa.create_engine(env["METPIPELINE_STATE_URL"])
            shown = current_short_hashes(state, MONTH)
            config = decision_config(MONTH, shown, checklist_items())
            config["ops"]["record_decisions_op"]["config"]["checklist"] = {
                k: True for k in config["ops"]["record_decisions_op"]["config"]["checklist"]
            }
            decided = launch(ui, "decide_release", config, {"dagster/partition": MONTH})
            status = wait_for_run(ui, decided, 300)
            assert status == "SUCCESS", [r["tags"] for r in ui.runs("decide_release")]

            # 3. The sensor publishes, one dataset at a time. Kill the first publish run mid-way, and the
            #    daemon.
            from metpipeline.bucket import S3Store
            from metpipeline.runs.launcher import worker_pid

            store = S3Store(s3_server.bucket, prefix, endpoint_url=s3_server.endpoint_url)
            first = wait_until(
                lambda: next((r for r in ui.runs("publish_job") if r["status"] == "STARTED"), None),
                180, interval=0.5, what="a publish run to start")  # fmt: skip
            os.environ["DAGSTER_HOME"], os.environ["DAGSTER_PG_URL"] = (
                env["DAGSTER_HOME"],
                env["DAGSTER_PG_URL"],
            )
            import dagster as dg

            with dg.DagsterInstance.get() as instance:
                pid = wait_until(
                    lambda: worker_pid(instance, first["runId"]), 60, what="the run worker's pid"
                )
                os.kill(pid, signal.SIGKILL)
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait(30)
                assert instance.get_run_by_id(first["runId"]).status == dg.DagsterRunStatus.STARTED
                # Nothing the public can follow names an unfinished version.
                latest = store.get(f"{SLUG}/latest.json")
                assert latest is None or all(
                    store.get(v["path"] + "manifest.json") for v in json.loads(latest.data)["versions"]
                )
                daemon = start([str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)], env,
                               logs / "daemon.log")  # fmt: skip
                wait_until(
                    lambda: instance.get_run_by_id(first["runId"]).status == dg.DagsterRunStatus.FAILURE,
                    180, interval=1, what="run monitoring to fail the killed run")  # fmt: skip

            # 4. The sensor retries; all four datasets are published, each version complete.
            for slug in (
                "mps-borough-level-crime",
                "mps-ward-level-crime",
                "mps-lsoa-level-crime",
                "mps-flagged-crime",
            ):
                latest = wait_until(lambda s=slug: store.get(f"datasets/{s}/latest.json"), 600, interval=2,
                                    what=f"{slug} to be published")  # fmt: skip
                entry = json.loads(latest.data)["latest"]
                assert entry["month"] == MONTH
                for name in entry["files"]:
                    assert store.get(entry["path"] + name) is not None, (slug, name)
            runs = ui.runs("publish_job")
            killed = [r for r in runs if r["runId"] == first["runId"]]
            assert killed and killed[0]["status"] == "FAILURE"
            assert len(runs) >= 5  # four datasets, plus the retry of the killed one
        finally:
            for process in (web, daemon, code):
                stop_process_group(process, sigint_timeout=20, term_timeout=10)
            for var in ("DAGSTER_HOME", "DAGSTER_PG_URL"):
                os.environ.pop(var, None)
            shutil.rmtree(tmp_path / "work", ignore_errors=True)
