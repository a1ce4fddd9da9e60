"""The bucket: one key layout, two implementations (S3 via boto3, or a local directory).

Only two kinds of write exist, which is what makes publication safe:
- `put_create_only`: a key is written once. Writing identical bytes again is accepted (so a retried publish
  completes); different bytes are refused, because a published version is immutable.
- `put_if_match`: compare-and-swap on a pointer (latest.json, catalog.json) so concurrent publishers
  never overwrite each other's update.
Every S3 write carries the payload's `ChecksumSHA256`, so the store itself verifies that the bytes it keeps
are the bytes the pipeline hashed and sent.
Credentials for S3 come from boto3's usual chain (environment, profile, instance role), never from here.
"""

import base64
import errno
import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTENT_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".parquet": "application/vnd.apache.parquet",
    ".html": "text/html; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}


# Keys under this prefix are the pipeline's own bookkeeping (version claims, locks): never public. On S3 the
# bucket policy grants public read on `datasets/` and `catalog.json` only; the local store keeps them in a
# sibling directory.
INTERNAL_PREFIX = "_internal/"


class StoreError(RuntimeError):
    """The bucket refused or failed an operation. The message names the key."""


class ObjectExists(StoreError):
    """A create-only key already holds different bytes."""


class PreconditionFailed(StoreError):
    """A compare-and-swap lost: the object changed since it was read. Re-read and try again."""


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    etag: str


def checksum_sha256(data: bytes) -> str:
    """S3's ChecksumSHA256 header value: the base64 of the raw sha256 digest."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def _content_type(key: str) -> str:
    return CONTENT_TYPES.get(Path(key).suffix.lower(), "application/octet-stream")


class S3Store:
    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, client=None):
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url or None)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    @staticmethod
    def _code(exc) -> tuple[str, int]:
        err = getattr(exc, "response", {}) or {}
        return str(err.get("Error", {}).get("Code", "")), int(
            err.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0
        )

    def get(self, key: str) -> StoredObject | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return StoredObject(resp["Body"].read(), resp["ETag"])
        except ClientError as exc:
            code, status = self._code(exc)
            if code in ("NoSuchKey", "404") or status == 404:
                return None
            raise StoreError(f"cannot read {self.describe()}/{key}: {code or status}") from None
        except (BotoCoreError, OSError) as exc:  # connection refused/dropped/timed out, body cut short
            raise StoreError(f"cannot read {self.describe()}/{key}: {exc}") from None

    def list_keys(self, prefix: str) -> list[str]:
        """Every key under `prefix` (relative to the store), sorted."""
        from botocore.exceptions import BotoCoreError, ClientError

        keys: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                keys.extend(o["Key"][len(self._key("")) :] for o in page.get("Contents", []))
        except (ClientError, BotoCoreError, OSError) as exc:
            raise StoreError(f"cannot list {self.describe()}/{prefix}: {exc}") from None
        return sorted(keys)

    def _put(self, key: str, data: bytes, **condition: Any) -> Any:
        """One conditional PUT carrying the sha256 of exactly these bytes (S3 verifies it and keeps it)."""
        return self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentType=_content_type(key),
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=checksum_sha256(data),
            **condition,
        )

    def put_create_only(self, key: str, data: bytes) -> bool:
        """Write `key` if absent. True if written, False if it already held identical bytes."""
        from botocore.exceptions import BotoCoreError, ClientError

        for _attempt in range(3):
            try:
                self._put(key, data, IfNoneMatch="*")
                return True
            except (BotoCoreError, OSError) as exc:
                raise StoreError(f"cannot write {self.describe()}/{key}: {exc}") from None
            except ClientError as exc:
                code, status = self._code(exc)
                if code == "ConditionalRequestConflict" or status == 409:
                    continue  # a concurrent write to the same key is in flight: S3 asks for a retry
                if code != "PreconditionFailed" and status != 412:
                    raise StoreError(f"cannot write {self.describe()}/{key}: {code or status}") from None
            existing = self.get(key)
            if existing is not None and existing.data == data:
                return False
            raise ObjectExists(
                f"{self.describe()}/{key} already exists with different bytes; published files are immutable"
            )
        raise StoreError(f"cannot write {self.describe()}/{key}: repeated conflicting concurrent writes")

    def presigned_url(self, key: str, seconds: int) -> str | None:
        """A time-limited GET link to `key` that a browser can open without credentials."""
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=seconds
        )

    def put_version(self, prefix: str, files: dict[str, bytes], last: str) -> bool:
        """Write a version's files create-only, `last` (its manifest) after every other one.

        S3 has no multi-object transaction: until `last` is written, some files of an unfinished version may
        be readable by their exact keys, but no manifest, pointer or catalogue names them, and a retry
        completes the same version (identical bytes are accepted)."""
        written = False
        for name in sorted(files, key=lambda n: n == last):
            written = self.put_create_only(prefix + name, files[name]) or written
        return written

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        """Replace `key` only if its ETag is still `etag` (None: only if the key does not exist yet)."""
        from botocore.exceptions import BotoCoreError, ClientError

        condition: dict[str, Any] = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            resp = self._put(key, data, **condition)
        except (BotoCoreError, OSError) as exc:
            raise StoreError(f"cannot write {self.describe()}/{key}: {exc}") from None
        except ClientError as exc:
            code, status = self._code(exc)
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
                raise PreconditionFailed(f"{self.describe()}/{key} changed since it was read") from None
            raise StoreError(f"cannot write {self.describe()}/{key}: {code or status}") from None
        return resp["ETag"]


class LocalStore:
    """The same layout in a directory (the embedded default and tests). Safe between processes on one host.

    Nothing but complete files and complete versions ever appears among the public files: temporary files, a
    version being assembled, claims and locks live in an internal directory (keys under `_internal/` map
    there), which is never served. A version appears by one atomic rename of its folder, so the internal
    directory must be on the bucket's file system: it is the sibling `.<name>.internal/`, or, where the
    bucket directory is a mount point (a rename out of its parent would cross file systems), the hidden
    `.metpipeline-internal/` inside it. Either way it is 0700 and its files 0600, so a web server running as
    another user can read nothing in it. Public files are 0644 and public folders 0755 whatever the
    publisher's umask. Locks are `flock`s, which the kernel releases when their holder dies, so none can
    outlive a killed process.
    """

    LOCK_TIMEOUT_S = 30.0
    PUBLIC_FILE, PUBLIC_DIR, PRIVATE_DIR = 0o644, 0o755, 0o700

    INSIDE_MOUNT = ".metpipeline-internal"

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.internal = self.root.parent / f".{self.root.name}.internal"
        if self.root.is_dir() and os.path.ismount(self.root.resolve()):
            self.internal = self.root / self.INSIDE_MOUNT

    def describe(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        base = self.root
        if key.startswith(INTERNAL_PREFIX):
            base, key = self.internal, key[len(INTERNAL_PREFIX) :]
        path = (base / key).resolve()
        if base.resolve() not in path.parents:
            raise StoreError(f"key {key!r} escapes the bucket directory {base}")
        return path

    @contextmanager
    def _failing_as(self, action: str, key: str):
        """An OSError (disk full, read-only, permission, another file system) as one clear StoreError."""
        try:
            yield
        except StoreError:
            raise
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                raise StoreError(self._cross_device_message()) from None
            where = f" ({exc.filename})" if exc.filename else ""
            raise StoreError(
                f"cannot {action} {self.describe()}/{key}: {exc.strerror or exc}{where}"
            ) from None

    def _cross_device_message(self) -> str:
        return (
            f"the bucket directory {self.root} is on another file system than its internal directory "
            f"{self.internal}, so a version cannot appear there by one rename (was a file system mounted "
            f"inside the bucket directory?); mount the bucket's file system at {self.root} itself, or "
            "publish to a folder on one file system"
        )

    def _check_same_file_system(self) -> None:
        """Before writing a public key: the internal directory and the bucket must share a file system."""

        def device(path: Path) -> int:  # of the nearest folder that exists (the rest would be made on it)
            while not path.exists():
                path = path.parent
            return os.stat(path).st_dev

        if device(self.root) != device(self.internal):
            raise StoreError(self._cross_device_message())

    def _public_dirs(self, folder: Path) -> None:
        """`folder` and its missing parents up to the bucket directory, each 0755 whatever the umask."""
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for d in reversed(missing):
            try:
                d.mkdir()
            except FileExistsError:
                continue  # a concurrent publisher made it (and set its mode)
            os.chmod(d, self.PUBLIC_DIR)

    def _private_dir(self, *parts: str) -> Path:
        """A folder of the internal directory, which itself is 0700: nothing in it is anyone else's."""
        self.internal.mkdir(mode=self.PRIVATE_DIR, parents=True, exist_ok=True)
        if self.internal.stat().st_mode & 0o777 != self.PRIVATE_DIR:  # made by an earlier version: 0755
            os.chmod(self.internal, self.PRIVATE_DIR)
        folder = self.internal.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _prepare(self, key: str) -> Path:
        path = self._path(key)
        if key.startswith(INTERNAL_PREFIX):
            self._private_dir(*Path(key[len(INTERNAL_PREFIX) :]).parent.parts)
        else:
            self._check_same_file_system()
            self._public_dirs(path.parent)
        return path

    @staticmethod
    def _etag(data: bytes) -> str:
        return '"' + hashlib.sha256(data).hexdigest() + '"'

    def get(self, key: str) -> StoredObject | None:
        path = self._path(key)
        with self._failing_as("read", key):
            try:
                data = path.read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                return None
        return StoredObject(data, self._etag(data))

    def list_keys(self, prefix: str) -> list[str]:
        """Every file under `prefix` (relative to the store), sorted; the store's own internal folder is not
        part of the bucket."""
        root = self.root.resolve()
        folder = self._path(prefix) if prefix.strip("/") else root
        if not folder.is_dir():
            return []
        with self._failing_as("list", prefix):
            return sorted(
                p.relative_to(root).as_posix()
                for p in folder.rglob("*")
                if p.is_file() and self.INSIDE_MOUNT not in p.relative_to(root).parts
            )

    def _temp(self, data: bytes, mode: int) -> Path:
        """A complete, synced file in the internal directory (same file system, so it can be linked in),
        with its final `mode`; removed again if it cannot be written whole (a full disk)."""
        # mkstemp opens with O_CREAT|O_EXCL: the temporary name is ours alone.
        fd, tmp = tempfile.mkstemp(dir=self._private_dir("tmp"))
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fchmod(fh.fileno(), mode)
                os.fsync(fh.fileno())
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Path(tmp)

    def _mode(self, key: str) -> int:
        return 0o600 if key.startswith(INTERNAL_PREFIX) else self.PUBLIC_FILE

    def put_create_only(self, key: str, data: bytes) -> bool:
        with self._failing_as("write", key):
            path = self._prepare(key)
            tmp = self._temp(data, self._mode(key))
            try:
                # link() fails if the name exists, and readers see either nothing or the complete file.
                os.link(tmp, path)
                return True
            except FileExistsError:
                if path.read_bytes() == data:
                    return False
                raise ObjectExists(
                    f"{path} already exists with different bytes; published files are immutable"
                ) from None
            finally:
                tmp.unlink(missing_ok=True)

    def presigned_url(self, key: str, seconds: int) -> str | None:
        return None  # a local directory has no web address of its own

    def put_version(self, prefix: str, files: dict[str, bytes], last: str) -> bool:
        """Make the folder `prefix` appear with exactly `files`, all at once (one rename). True if written,
        False if it was already there with identical bytes (a retry after a crash)."""
        with self._failing_as("write", prefix):
            target = self._prepare(prefix.rstrip("/"))
            staging_dir = self._private_dir("staging")
            self._remove_abandoned_staging(staging_dir)
            staging = Path(tempfile.mkdtemp(prefix="version-", dir=staging_dir))
            # Held until this call ends: a later publish removes only folders whose holder is gone.
            held = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
            fcntl.flock(held, fcntl.LOCK_EX)
            try:
                for name, payload in files.items():
                    with open(staging / name, "wb") as fh:
                        fh.write(payload)
                        fh.flush()
                        os.fchmod(fh.fileno(), self.PUBLIC_FILE)
                        os.fsync(fh.fileno())
                os.chmod(staging, self.PUBLIC_DIR)  # still private: the internal directory is 0700
                try:
                    os.rename(staging, target)  # atomic; refuses a non-empty existing folder
                    return True
                except OSError as exc:
                    if exc.errno == errno.EXDEV or not target.is_dir():
                        raise
                existing = {p.name: p.read_bytes() for p in target.iterdir()}
                if existing == files:
                    return False
                raise ObjectExists(
                    f"{target} already exists with other files; published versions are immutable"
                )
            finally:
                shutil.rmtree(staging, ignore_errors=True)
                os.close(held)

    MIN_ABANDONED_AGE_S = 60.0

    def _remove_abandoned_staging(self, staging_dir: Path) -> None:
        """Remove version folders left by killed publishes: each is flocked by its writer while it lives
        (the kernel drops the lock when the writer dies), so one we can lock has no writer. The age test
        covers the instant between a writer's mkdtemp and its flock."""
        now = time.time()
        for folder in staging_dir.glob("version-*"):
            try:
                if now - folder.lstat().st_mtime < self.MIN_ABANDONED_AGE_S:
                    continue
                fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                continue  # gone meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live publish is writing it
            else:
                shutil.rmtree(folder, ignore_errors=True)
            finally:
                os.close(fd)

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        with self._failing_as("write", key):
            path = self._prepare(key)
            lock_path = self._path(f"{INTERNAL_PREFIX}locks/{key}.lock")
            self._private_dir("locks", *Path(key).parent.parts)
            with open(lock_path, "a+b") as lock:
                self._acquire(lock, lock_path)
                current = self.get(key)
                current_etag = current.etag if current else None
                if current_etag != etag:
                    raise PreconditionFailed(f"{path} changed since it was read")
                tmp = self._temp(data, self._mode(key))
                try:
                    os.replace(tmp, path)
                finally:
                    tmp.unlink(missing_ok=True)
                return self._etag(data)
            # closing the file releases the flock (and so does the holder's death)

    def _acquire(self, lock, lock_path: Path) -> None:
        deadline = time.monotonic() + self.LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"{lock_path} is held by a running publish for more than "
                        f"{self.LOCK_TIMEOUT_S:.0f} s; try again when it has finished"
                    ) from None
                time.sleep(0.05)


def open_store(bucket_url: str, endpoint_url: str | None = None):
    """`s3://bucket/prefix` → S3Store; anything else is a local directory → LocalStore."""
    if bucket_url.startswith("s3://"):
        bucket, _, prefix = bucket_url[len("s3://") :].partition("/")
        return S3Store(bucket, prefix, endpoint_url=endpoint_url or None)
    return LocalStore(bucket_url)
