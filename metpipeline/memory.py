"""Handing memory the process has freed back to the system.

A step that reads the historical files leaves hundreds of MiB of freed blocks in the allocators' pools
(glibc's and Arrow's); they count as resident until returned, and the next heavy step's working set comes
on top of them. Returning them costs milliseconds (no garbage collection pass unless asked)."""

import ctypes
import gc

import pyarrow as pa


def libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not glibc
        return None


def resident_mib() -> int:
    """This process's resident memory (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 >> 20
    except OSError:
        return 0


def return_free_memory(collect: bool = True) -> None:
    """Return freed memory to the system: Arrow's unused pool memory and glibc's free heap pages (after a
    garbage collection pass when `collect`)."""
    if collect:
        gc.collect()
    pa.default_memory_pool().release_unused()
    c = libc()
    if c is not None:
        c.malloc_trim(0)
