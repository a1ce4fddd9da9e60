"""Secret key files (the ledger key, the identity seal key): refused when others could read or replace them,
when short, or when evidently not random, as ssh refuses a private key. Pure checks that return the problem
in one line naming the file and the fix; the modules that load keys raise it."""

import math
import stat
from collections import Counter
from pathlib import Path

MIN_KEY_BYTES = 32
# Shannon's estimate over the key's own bytes, times its length: 32 random bytes give about 150 bits, a hex
# or base64 key of that length more; a word, a repeated pattern or a run of one character far less.
MIN_KEY_BITS = 128
KEY_FIX = "head -c 32 /dev/urandom | base64 > {path} && chmod 600 {path}"


def file_problem(path: Path, name: str) -> str | None:
    """A key file anyone but its owner could read or replace: readable or writable by group or others, or
    in a folder that others may write to (where the file could be swapped) unless the folder is sticky."""
    try:
        mode = path.stat().st_mode
        folder = path.resolve().parent.stat().st_mode
    except OSError as exc:
        return f"{name}={path}: cannot read the key ({exc.strerror})"
    if mode & 0o077:
        return (
            f"{name}={path}: the key is readable or writable by others (mode {stat.S_IMODE(mode):04o}); "
            f"make it private with `chmod 600 {path}` (and replace the key if others may have read it)"
        )
    if folder & (stat.S_IWGRP | stat.S_IWOTH) and not folder & stat.S_ISVTX:
        return (
            f"{name}={path}: the key's folder {path.resolve().parent} is writable by others (mode "
            f"{stat.S_IMODE(folder):04o}), so the key could be replaced; `chmod go-w "
            f"{path.resolve().parent}` or move the key to a private folder"
        )
    return None


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


def strength_problem(key: bytes, where: str, fix: str) -> str | None:
    """A key shorter than 32 bytes or evidently not random."""
    if len(key) < MIN_KEY_BYTES:
        return f"{where}: the key is {len(key)} bytes, fewer than {MIN_KEY_BYTES}; make a random one: `{fix}`"
    if _repeats(key) or key_bits(key) < MIN_KEY_BITS:
        return (
            f"{where}: the key is evidently not random (a repeated pattern or too few distinct bytes); "
            f"make a random one: `{fix}`"
        )
    return None


def read_problem(path: Path, name: str) -> str | None:
    """Everything wrong with an existing key file, without using it: permissions, then the key itself."""
    problem = file_problem(path, name)
    if problem:
        return problem
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        return f"{name}={path}: cannot read the key ({exc.strerror})"
    return strength_problem(key, f"{name}={path}", KEY_FIX.format(path=path))
