"""The ledger's seal: an HMAC over every field of a decision, chained to the dataset's previous decision.

A row typed into the state database by hand has no valid seal (the key is a deployment secret, not in the
database); an edited row no longer matches its seal; a deleted row breaks the chain of the rows after it.
The key comes from METPIPELINE_LEDGER_KEY_FILE. The embedded default creates one under var/ with mode 0600
and says so; production mounts a secret there.
"""

import hashlib
import hmac
import json
import math
import os
import secrets
import stat
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from metpipeline import settings

_MIN_KEY_BYTES = 32
# Shannon's estimate over the key's own bytes, times its length: 32 random bytes give about 150 bits, a hex
# or base64 key of that length more; a word, a repeated pattern or a run of one character far less.
_MIN_KEY_BITS = 128
KEY_FIX = "head -c 32 /dev/urandom | base64 > {path} && chmod 600 {path}"


def load_key(say=print) -> bytes:
    """The ledger key, creating the embedded default (0600) on first use. Production must set the path."""
    path = Path(settings.LEDGER_KEY_FILE.value() or "")
    name = settings.LEDGER_KEY_FILE.name
    if not path.exists():
        if settings.LEDGER_KEY_FILE.is_set():
            raise settings.ConfigError(
                f"{name}={path}: the file does not exist; mount the ledger key (at least "
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
                f"created the embedded ledger key {path} (mode 0600); production sets {name} to a mounted "
                "secret instead"
            )
    check_key_file(path, name)
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise settings.ConfigError(f"{name}={path}: cannot read the ledger key ({exc.strerror})") from None
    check_key_strength(key, f"{name}={path}", KEY_FIX.format(path=path))
    return key


def check_key_file(path: Path, name: str) -> None:
    """Refuse a key file that anyone but its owner could read or replace, as ssh refuses a private key:
    readable or writable by group or others, or in a folder that others may write to (where the file could
    be swapped) unless the folder is sticky (/tmp)."""
    try:
        mode = path.stat().st_mode
        folder = path.resolve().parent.stat().st_mode
    except OSError as exc:
        raise settings.ConfigError(f"{name}={path}: cannot read the ledger key ({exc.strerror})") from None
    if mode & 0o077:
        raise settings.ConfigError(
            f"{name}={path}: the key is readable or writable by others (mode {stat.S_IMODE(mode):04o}); "
            f"make it private with `chmod 600 {path}` (and replace the key if others may have read it)"
        )
    if folder & (stat.S_IWGRP | stat.S_IWOTH) and not folder & stat.S_ISVTX:
        raise settings.ConfigError(
            f"{name}={path}: the key's folder {path.resolve().parent} is writable by others (mode "
            f"{stat.S_IMODE(folder):04o}), so the key could be replaced; `chmod go-w "
            f"{path.resolve().parent}` or move the key to a private folder"
        )


def key_bits(key: bytes) -> float:
    """An estimate of a key's entropy in bits: the Shannon entropy of its bytes' frequencies times its
    length."""
    if not key:
        return 0.0
    counts = Counter(key).values()
    return -sum(c * math.log2(c / len(key)) for c in counts)


def _repeats(key: bytes) -> bool:
    """The key is a short unit written again and again (abcabcabc…)."""
    return any(
        key == (key[:unit] * (len(key) // unit + 1))[: len(key)] for unit in range(1, len(key) // 2 + 1)
    )


def check_key_strength(key: bytes, where: str, fix: str) -> None:
    """Refuse a key shorter than 32 bytes or evidently not random, in one line naming where and the fix."""
    if len(key) < _MIN_KEY_BYTES:
        raise settings.ConfigError(
            f"{where}: the key is {len(key)} bytes, fewer than {_MIN_KEY_BYTES}; make a random one: `{fix}`"
        )
    if _repeats(key) or key_bits(key) < _MIN_KEY_BITS:
        raise settings.ConfigError(
            f"{where}: the key is evidently not random (a repeated pattern or too few distinct bytes); "
            f"make a random one: `{fix}`"
        )


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
