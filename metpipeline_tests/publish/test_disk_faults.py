"""The disk and the network, failing the way they do in production, on real file systems and sockets:
a bucket directory that is a mount point, a publisher with a strict umask read by a web server running as
another user, a full bucket, an S3 connection dropped mid-publish, a full work area, and the leftovers of a
killed run. Each gives one clear line, leaves nothing partial, and the retry completes once the fault is gone.

Mounts are real tmpfs file systems (the tests run as root, as CI does; elsewhere they are skipped)."""

import os
import socket
import stat
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import dagster as dg
import pytest

from metpipeline.bucket import LocalStore, S3Store, StoreError
from metpipeline.publish.publisher import publish_candidate
from metpipeline_tests.deployment import publication

pytestmark = pytest.mark.integration
MONTH = "2024-03"
SLUG = "datasets/mps-borough-level-crime"


@pytest.fixture
def open_dir():
    """A folder another user can traverse (pytest's own tmp folders are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="metpipeline-disk-"))
    path.chmod(0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture
def tmpfs():
    """mount(path, size): a real tmpfs of that size at `path`, unmounted after the test."""
    mounted: list[Path] = []

    def mount(path: Path, size: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here (root needed): {done.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def _as_another_user(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "nobody", "--", *command], capture_output=True, text=True)


def _complete(root: Path, version: int) -> None:
    latest = root / SLUG / "latest.json"
    import json

    entry = json.loads(latest.read_text())["latest"]
    assert entry["version"] == version
    assert all((root / entry["path"] / f).is_file() for f in entry["files"])


def test_a_bucket_directory_that_is_a_mount_point_is_published_to(staging, open_dir, tmpfs):
    root = tmpfs(open_dir / "bucket", "64m")
    chash = staging.stage(MONTH)["borough"]
    assert (
        publish_candidate(
            LocalStore(root), staging.area, "borough", MONTH, chash, publication=publication()
        ).version
        == 1
    )
    _complete(root, 1)
    internal = root / LocalStore.INSIDE_MOUNT  # on the mount: one rename makes a version appear
    assert stat.S_IMODE(internal.stat().st_mode) == 0o700
    assert _as_another_user("cat", str(root / SLUG / "latest.json")).returncode == 0
    assert _as_another_user("ls", str(internal)).returncode != 0  # the web server's user reads nothing there


def test_public_files_are_readable_by_another_user_whatever_the_publishers_umask(staging, open_dir):
    root = open_dir / "bucket"
    chash = staging.stage(MONTH)["borough"]
    old = os.umask(0o077)
    try:
        publish_candidate(LocalStore(root), staging.area, "borough", MONTH, chash, publication=publication())
    finally:
        os.umask(old)
    public = [p for p in [root, *root.rglob("*")]]
    assert public and all(
        stat.S_IMODE(p.stat().st_mode) == (0o755 if p.is_dir() else 0o644) for p in public
    ), {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in public}
    for name in ("index.html", "catalog.json", f"{SLUG}/latest.json", f"{SLUG}/{MONTH}/v1/manifest.json"):
        assert _as_another_user("cat", str(root / name)).returncode == 0, name
    internal = open_dir / ".bucket.internal"
    assert stat.S_IMODE(internal.stat().st_mode) == 0o700
    assert _as_another_user("ls", str(internal)).returncode != 0


def test_a_full_bucket_is_one_line_nothing_partial_and_the_retry_completes(staging, open_dir, tmpfs):
    root = tmpfs(open_dir / "bucket", "16k")
    LocalStore(root)  # the internal folder goes inside the mount, so it fills up too
    chash = staging.stage(MONTH)["borough"]
    with pytest.raises(StoreError) as full:
        publish_candidate(LocalStore(root), staging.area, "borough", MONTH, chash, publication=publication())
    message = str(full.value)
    assert "No space left on device" in message and str(root) in message and "\n" not in message
    assert not (root / SLUG / "latest.json").exists() and not list(root.glob(f"{SLUG}/{MONTH}/v*"))
    subprocess.run(["mount", "-o", "remount,size=64m", str(root)], check=True)
    assert (
        publish_candidate(
            LocalStore(root), staging.area, "borough", MONTH, chash, publication=publication()
        ).version
        == 1
    )
    _complete(root, 1)
    assert not list((root / LocalStore.INSIDE_MOUNT / "staging").iterdir())


class DroppingProxy:
    """A TCP proxy on loopback in front of the S3-compatible server that, once `drop` is set, resets every
    connection it holds and every new one: a network that goes away mid-publish."""

    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.drop = False
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.drop:
                self._reset(client)
                continue
            upstream = socket.create_connection(self.upstream)
            with self.lock:
                self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    @staticmethod
    def _reset(s):
        import struct

        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        except OSError:
            pass

    def cut(self):
        self.drop = True
        with self.lock:
            for s in self.open:
                self._reset(s)
            self.open.clear()

    def close(self):
        self.cut()
        self.listener.close()


def test_an_s3_connection_dropped_mid_publish_is_one_line_and_the_retry_completes(staging, s3_server):
    from botocore.config import Config

    proxy = DroppingProxy(int(s3_server.endpoint_url.rsplit(":", 1)[1]))
    try:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{proxy.port}",
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=5),
        )
        store = S3Store(s3_server.bucket, f"drop-{uuid.uuid4().hex[:8]}", client=client)
        puts = {"n": 0}

        def after_three_puts(**_):
            puts["n"] += 1
            if puts["n"] == 4:
                proxy.cut()

        client.meta.events.register("before-send.s3.PutObject", after_three_puts)
        chash = staging.stage(MONTH)["borough"]
        with pytest.raises(StoreError) as dropped:
            publish_candidate(store, staging.area, "borough", MONTH, chash, publication=publication())
        message = str(dropped.value)
        assert message.startswith("cannot write s3://") and "\n" not in message
        proxy.drop = False  # the network is back
        assert store.get(f"{SLUG}/latest.json") is None  # no pointer names the unfinished version
        # The retry completes the same version.
        result = publish_candidate(store, staging.area, "borough", MONTH, chash, publication=publication())
        assert result.version == 1
        latest = store.get(f"{SLUG}/latest.json")
        assert latest is not None and b'"version": 1' in latest.data
    finally:
        proxy.close()


def test_a_full_work_area_fails_the_step_in_one_line_and_leaves_no_temporary_file(tmp_path, tmpfs):
    from metpipeline.disclosure.assets import disclosed_datasets
    from metpipeline.resources import GovernanceResource, WorkAreaResource
    from metpipeline.settings import POLICY_FILE
    from metpipeline.workarea import WorkArea
    from metpipeline_tests.deployment import deployment
    from metpipeline_tests.disclosure.synth import MONTH as SYNTH_MONTH
    from metpipeline_tests.disclosure.synth import write_release

    work = tmpfs(tmp_path / "work", "4m")
    area = WorkArea(work)
    write_release(area)
    # Fill what is left but a little: the disclosed files cannot be written whole.
    free = os.statvfs(work).f_bavail * os.statvfs(work).f_frsize
    (work / "filler").write_bytes(b"\0" * max(0, free - 8192))
    resources = {"workarea": WorkAreaResource(), "governance": GovernanceResource()}
    with deployment(WORK_DIR=work, DISCLOSURE_POLICY=POLICY_FILE.default()):
        result = dg.materialize(
            [disclosed_datasets], partition_key=SYNTH_MONTH, resources=resources, raise_on_error=False
        )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data
    message = failure.error.message
    assert "no space left on the device holding" in message and "METPIPELINE_WORK_DIR" in message
    assert "free space there, then run again" in message
    hidden = [p for p in work.rglob(".*") if p.is_file()]
    assert hidden == [], hidden
    # Room again, and a killed run's leftover in the way: the next run removes it and completes.
    (work / "filler").unlink()
    leftover = area.publishable_dir(SYNTH_MONTH) / "lsoa" / ".lsoa-tidy.csv.k1lled"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"half a file")
    with deployment(WORK_DIR=work, DISCLOSURE_POLICY=POLICY_FILE.default()):
        again = dg.materialize([disclosed_datasets], partition_key=SYNTH_MONTH, resources=resources)
    assert again.success and not leftover.exists()


def test_a_killed_publishers_staging_folder_is_removed_by_a_later_publish(staging, tmp_path):
    import signal

    from metpipeline_tests.publish.test_publish_faults import _child

    chash = staging.stage(MONTH)["borough"]
    root = tmp_path / "bucket"
    child = _child("local", str(root), staging.area.root, chash, "rename", 0)  # killed with its folder staged
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    left = list((tmp_path / ".bucket.internal" / "staging").iterdir())
    assert len(left) == 1 and left[0].name.startswith("version-")
    # A publish in the same minute leaves it (it might be one being written); a later one removes it.
    assert (
        publish_candidate(
            LocalStore(root), staging.area, "borough", MONTH, chash, publication=publication()
        ).version
        == 1
    )
    assert left[0].exists()
    old = left[0].stat().st_mtime - 2 * LocalStore.MIN_ABANDONED_AGE_S
    os.utime(left[0], (old, old))
    revised = staging.stage(MONTH, revise=True)["borough"]
    assert (
        publish_candidate(
            LocalStore(root), staging.area, "borough", MONTH, revised, publication=publication()
        ).version
        == 2
    )
    assert not left[0].exists()
