"""The ledger's seal: an HMAC over every field of a decision, chained to the dataset's previous decision.

A row typed into the state database by hand has no valid seal (the key is a deployment secret, not in the
database); an edited row no longer matches its seal; a deleted row breaks the chain of the rows after it.
The key comes from METPIPELINE_LEDGER_KEY_FILE. The embedded default creates one under var/ with mode 0600
and says so; production mounts a secret there.
"""

import hashlib
import hmac
import json
import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from metpipeline import keyfile, settings
from metpipeline.keyfile import KEY_FIX
from metpipeline.keyfile import MIN_KEY_BYTES as _MIN_KEY_BYTES


def load_key(say=print) -> bytes:
    """The ledger key, creating the embedded default (0600) on first use. Production must set the path."""
    return load_secret(settings.LEDGER_KEY_FILE, "ledger key", say)


def load_secret(setting: settings.Setting, what: str, say=print) -> bytes:
    """A deployment's secret key file: read and checked (private, long, random), or, where the setting is
    not set, the embedded default created under var/ with mode 0600 on first use (and said so)."""
    path = Path(setting.value() or "")
    name = setting.name
    if not path.exists():
        if setting.is_set():
            raise settings.ConfigError(
                f"{name}={path}: the file does not exist; mount the {what} (at least "
                f"{_MIN_KEY_BYTES} random bytes) there, readable by the pipeline only: "
                f"`{KEY_FIX.format(path=path)}`"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            pass  # another process created it first
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
            say(
                f"created the embedded {what} {path} (mode 0600); production sets {name} to a mounted "
                "secret instead"
            )
    check_key_file(path, name)
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise settings.ConfigError(f"{name}={path}: cannot read the {what} ({exc.strerror})") from None
    check_key_strength(key, f"{name}={path}", KEY_FIX.format(path=path))
    return key


def check_key_file(path: Path, name: str) -> None:
    problem = keyfile.file_problem(path, name)
    if problem:
        raise settings.ConfigError(problem)


def check_key_strength(key: bytes, where: str, fix: str) -> None:
    problem = keyfile.strength_problem(key, where, fix)
    if problem:
        raise settings.ConfigError(problem)


def canonical(fields: dict[str, Any]) -> bytes:
    """One byte string per row content: sorted keys, datetimes as ISO text, no whitespace variation."""

    def default(value):
        if isinstance(value, datetime):
            return value.replace(microsecond=0).isoformat()
        raise TypeError(f"cannot seal a {type(value).__name__}")

    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=default).encode("utf-8")


def seal(key: bytes, fields: dict[str, Any]) -> str:
    return hmac.new(key, canonical(fields), hashlib.sha256).hexdigest()


def seal_matches(key: bytes, fields: dict[str, Any], mac: str | None) -> bool:
    return bool(mac) and hmac.compare_digest(seal(key, fields), mac or "")
