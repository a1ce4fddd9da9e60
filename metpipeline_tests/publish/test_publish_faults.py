"""Publication with faults injected in real processes: SIGKILL at each step, a lock left by a killed holder,
failed publish runs retried by the sensor. Nothing partial is ever reachable through a public path, and the
retry publishes exactly the approved bytes."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from metpipeline.bucket import LocalStore, S3Store
from metpipeline.publish.publisher import publish_candidate
from metpipeline_tests.deployment import publication, run_requests, sensor_resources
from metpipeline_tests.fixtures.webhook import Hook
from metpipeline_tests.sealing import sealed

pytestmark = pytest.mark.integration
SLUG = "datasets/mps-borough-level-crime"
MONTH = "2024-03"
VERSION_FILES = 10  # 4 wide CSVs (current and previous layout), tidy .csv.gz and .parquet, workbook; cover,
# datapackage.json, manifest.json

# Runs one publication in a child process that SIGKILLs itself at the named step, as a crash or an OOM kill
# would: no exception handler, no clean-up.
CHILD = r"""
import os, signal, sys
from metpipeline import bucket as store_mod
from metpipeline.publish.publisher import publish_candidate
from metpipeline.workarea import WorkArea
from metpipeline_tests.deployment import publication

kind, where, work, chash, step, after = sys.argv[1:7]
after = int(after)
if kind == "local":
    store = store_mod.LocalStore(where)
else:
    bucket, prefix, endpoint = where.split("|")
    store = store_mod.S3Store(bucket, prefix, endpoint_url=endpoint)
calls = {"n": 0}

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def wrap(cls, name, match):
    original = getattr(cls, name)
    def hooked(self, *args, **kwargs):
        if match(args):
            calls["n"] += 1
            if calls["n"] > after:
                die()
        return original(self, *args, **kwargs)
    setattr(cls, name, hooked)

if step == "create":      # the after-th create-only write (claim, then S3 version files)
    wrap(type(store), "put_create_only", lambda a: True)
elif step == "fsync":     # the local store is writing the version's files (after-th synced file)
    original_fsync = os.fsync
    def fsync(fd):
        calls["n"] += 1
        if calls["n"] > after:
            die()
        return original_fsync(fd)
    os.fsync = fsync
elif step == "rename":    # the local store's version folder is staged but not renamed into place
    original_rename = os.rename
    def rename(src, dst):
        if "version-" in str(src):
            die()
        return original_rename(src, dst)
    os.rename = rename
elif step == "latest":    # the version is complete; latest.json is about to move
    wrap(type(store), "put_if_match", lambda a: a[0].endswith("latest.json"))
elif step == "catalog":   # latest.json moved; catalog.json is about to
    wrap(type(store), "put_if_match", lambda a: a[0] == "catalog.json")
publish_candidate(store, WorkArea(work), "borough", "2024-03", chash, publication=publication())
print("finished without being killed")
"""


def _child(kind: str, where: str, work: Path, chash: str, step: str, after: int = 0):
    return subprocess.run(
        [sys.executable, "-c", CHILD, kind, where, str(work), chash, step, str(after)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )


def _approved_bytes(staging, chash: str) -> dict[str, bytes]:
    folder = staging.area.path("candidates", MONTH, "borough", chash)
    manifest = json.loads((folder / "manifest.json").read_text())
    return {e["name"]: (folder / e["name"]).read_bytes() for e in manifest["files"] if e["role"] == "data"}


def _public_versions_complete(root: Path) -> None:
    """What a reader of the local bucket can reach: every version folder complete, every pointer valid."""
    month_dir = root / SLUG / MONTH
    if month_dir.is_dir():
        for version in month_dir.iterdir():
            assert len(list(version.iterdir())) == VERSION_FILES, f"partial version visible: {version}"
    latest = root / SLUG / "latest.json"
    if latest.exists():
        entry = json.loads(latest.read_text())["latest"]
        assert all((root / entry["path"] / f).is_file() for f in entry["files"])
    for path in root.rglob("*"):
        assert not path.name.startswith("."), f"temporary or lock file in the public tree: {path}"


@pytest.mark.parametrize(
    "step, after", [("create", 0), ("fsync", 3), ("rename", 0), ("latest", 0), ("catalog", 0)]
)
def test_local_store_killed_at_each_step_shows_nothing_partial_and_the_retry_completes(
    staging, tmp_path, step, after
):
    chash = staging.stage(MONTH)["borough"]
    root = tmp_path / "bucket"
    stop = threading.Event()
    seen_errors: list[BaseException] = []

    def watch():  # a reader polling the public tree for the whole life of the killed publisher
        while not stop.is_set():
            try:
                _public_versions_complete(root)
            except (AssertionError, FileNotFoundError, json.JSONDecodeError) as exc:
                seen_errors.append(exc)
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        child = _child("local", str(root), staging.area.root, chash, step, after)
    finally:
        stop.set()
        watcher.join()
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    assert not seen_errors, seen_errors[:3]
    _public_versions_complete(root)

    result = publish_candidate(
        LocalStore(root), staging.area, "borough", MONTH, chash, publication=publication()
    )
    assert result.version == 1
    _public_versions_complete(root)
    for name, data in _approved_bytes(staging, chash).items():
        assert (root / SLUG / MONTH / "v1" / name).read_bytes() == data
    assert json.loads((root / "catalog.json").read_text())["datasets"][0]["latest_version"] == 1


@pytest.mark.parametrize("step, after", [("create", 0), ("create", 3), ("create", 7), ("latest", 0)])
def test_s3_killed_at_each_step_names_no_partial_version_and_the_retry_completes(
    staging, s3_server, step, after
):
    chash = staging.stage(MONTH)["borough"]
    store = S3Store(s3_server.bucket, f"k-{uuid.uuid4().hex[:8]}", endpoint_url=s3_server.endpoint_url)
    where = f"{store.bucket}|{store.prefix}|{s3_server.endpoint_url}"
    child = _child("s3", where, staging.area.root, chash, step, after)
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    # No pointer and no manifest name an unfinished version.
    latest = store.get(f"{SLUG}/latest.json")
    complete = store.get(f"{SLUG}/{MONTH}/v1/manifest.json") is not None
    assert latest is None or complete
    if not complete:
        assert store.get("catalog.json") is None

    result = publish_candidate(store, staging.area, "borough", MONTH, chash, publication=publication())
    assert result.version == 1
    for name, data in _approved_bytes(staging, chash).items():
        assert store.get(f"{SLUG}/{MONTH}/v1/{name}").data == data
    public = json.loads(store.get(f"{SLUG}/{MONTH}/v1/manifest.json").data)
    for f in public["files"]:
        assert f["sha256"] == hashlib.sha256(store.get(f"{SLUG}/{MONTH}/v1/{f['name']}").data).hexdigest()


HOLD_LOCK = r"""
import fcntl, os, signal, sys
from metpipeline.bucket import INTERNAL_PREFIX, LocalStore
store = LocalStore(sys.argv[1])
path = store._path(f"{INTERNAL_PREFIX}locks/{sys.argv[2]}.lock")
path.parent.mkdir(parents=True, exist_ok=True)
lock = open(path, "a+b")
fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
print("held", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_lock_held_by_a_killed_process_does_not_block_the_next_publish(staging, tmp_path):
    chash = staging.stage(MONTH)["borough"]
    root = tmp_path / "bucket"
    held = subprocess.run(
        [sys.executable, "-c", HOLD_LOCK, str(root), f"{SLUG}/latest.json"], capture_output=True, text=True
    )
    assert held.returncode == -signal.SIGKILL and "held" in held.stdout
    started = time.monotonic()
    result = publish_candidate(
        LocalStore(root), staging.area, "borough", MONTH, chash, publication=publication()
    )
    assert result.version == 1 and time.monotonic() - started < 10
    assert not list(root.rglob("*.lock")), "a lock file inside the public tree"


def test_failed_publish_runs_are_retried_then_flagged_then_complete_once_the_fault_is_gone(
    tmp_path, monkeypatch
):
    from metpipeline.approval.assets import release_candidates
    from metpipeline.approval.jobs import record_approval
    from metpipeline.publish.jobs import publish_job
    from metpipeline.publish.sensors import approval_sensor
    from metpipeline.resources import default_resources
    from metpipeline_tests.approval.conftest import OWNERS_YAML
    from metpipeline_tests.approval.synthetic import write_release

    owners_file = tmp_path / "owners.yaml"
    owners_file.write_text(OWNERS_YAML)
    bucket = tmp_path / "bucket"
    for name, value in {
        "METPIPELINE_VAR_DIR": tmp_path,
        "METPIPELINE_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
        "METPIPELINE_WORK_DIR": tmp_path / "work",
        "METPIPELINE_BUCKET_URL": bucket,
        "METPIPELINE_OWNERS_FILE": owners_file,
        "METPIPELINE_PUBLISH_MAX_ATTEMPTS": 2,
        "METPIPELINE_PUBLISH_BACKOFF_SECONDS": 0,
        "METPIPELINE_RELEASE_TIME": "immediate",
    }.items():
        monkeypatch.setenv(name, str(value))
    resources = dict(default_resources())
    instance = dg.DagsterInstance.ephemeral()
    write_release(resources["workarea"].area, MONTH)
    staged = dg.materialize(
        [release_candidates], partition_key=MONTH, resources=resources, tags=sealed(partition=MONTH)
    )
    chash = (
        staged.asset_materializations_for_node("release_candidates")[0].metadata["borough_content_hash"].value
    )
    decision = {"dataset": "borough", "month": MONTH, "approver": "alice.owner", "candidate_hash": chash}
    assert record_approval.execute_in_process(
        tags=sealed("record_approval"),
        run_config={"ops": {"record_decision_op": {"config": decision}}},
        resources=resources,
    ).success

    bucket.write_text("not a directory")  # the fault: the bucket cannot be written

    def tick():
        return approval_sensor(
            dg.build_sensor_context(instance=instance, resources=sensor_resources(resources))
        )

    def run(request):
        return publish_job.execute_in_process(
            run_config=request.run_config,
            tags=request.tags,
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )

    attempts = []
    with Hook() as hook:  # the team channel's webhook, on loopback
        monkeypatch.setenv("METPIPELINE_WEBHOOK_URL", hook.url)
        for _ in range(3):
            (request,) = tick().run_requests
            attempts.append(
                (
                    request.tags["metpipeline/publish_attempt"],
                    "metpipeline/needs_attention" in request.tags,
                    run(request).success,
                )
            )
        monkeypatch.delenv("METPIPELINE_WEBHOOK_URL")
    # The owners are told when it needs attention, not before.
    assert [b["title"] for b in hook.bodies] == [
        f"MPS crime data {MONTH}: publication of borough needs attention"
    ]
    # Two tries within the limit, then flagged for attention (a tag on the run, an ERROR in the sensor's
    # log), and still tried at the longest interval.
    assert attempts == [("1", False, False), ("2", False, False), ("3", True, False)]
    assert "publication failed 2 times" in request.tags["metpipeline/needs_attention"]

    bucket.unlink()  # the fault is gone: the next attempt publishes without anyone doing anything
    (request,) = tick().run_requests
    assert run(request).success
    assert json.loads((bucket / SLUG / "latest.json").read_text())["latest"]["content_hash"] == chash
    assert not run_requests(tick())
    # The publication is the month's partition of the published asset, with what the Catalog shows.
    event = instance.get_latest_materialization_event(dg.AssetKey("published_borough"))
    assert event is not None and event.dagster_event.partition == MONTH
    shown = event.asset_materialization.metadata
    assert shown["version"].value == 1 and shown["candidate_hash"].value == chash
    assert "alice.owner" in shown["approved_by"].value and "borough-tidy.csv.gz" in shown["files"].value
    assert len(shown["manifest_sha256"].value) == 64 and shown["reverts_to_version"].value == 0
    # A re-run of the publication reads the bucket back: unchanged, it passes; with a file changed behind the
    # pipeline's back, it fails naming the file (it answered "already published" without looking).
    assert run(request).success
    prefix = json.loads((bucket / SLUG / "latest.json").read_text())["latest"]["path"]
    (bucket / prefix / "borough-tidy.csv.gz").write_bytes(b"forged")
    again = run(request)
    assert not again.success
    failure = next(e for e in again.all_events if e.event_type_value == "STEP_FAILURE")
    assert "borough-tidy.csv.gz differs from the published file" in str(failure.event_specific_data.error)
