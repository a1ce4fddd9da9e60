"""Giving freed memory back to the system, so that a run's resident size follows what it holds.

A release's steps run one after another in one process (runs/jobs.py). Each frees its tables when it ends, but
the allocators keep freed blocks in their pools: glibc's (pandas, numpy, Python) and Arrow's own
(mimalloc). Freed there, the memory still counts as resident and only the allocator that freed it can reuse
it, so without this every step started on top of the garbage of the steps before it (the historical LSOA
table was read by six steps). `release_pools` empties both pools: the jobs' hook calls it after a step
that grew the process by RETURN_AFTER_GROWTH_MIB (runs/jobs.py), and the heaviest steps between their own
stages. It is not free on a large heap, so it is not called after every step; nor is the garbage collector
(benchmarks/RESULTS.md). No Dagster here: back-fill helper processes import this module.
"""

import ctypes
import gc
import os

import pyarrow as pa

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# Columns copied between returns of Arrow's pool when a table read from Parquet is copied column by column
# (datasets/build.extend, disclosure/tables.rows_kept): each return takes well under a millisecond.
RELEASE_EVERY_COLUMNS = 16


def libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not glibc
        return None


def resident_mib() -> int:
    """This process's resident set size now (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE >> 20
    except OSError:
        return 0


def release_pools(heaps: bool = True) -> None:
    """Return the free pages of Arrow's pool and (unless `heaps` is false) of glibc's heaps to the system.
    No garbage collection. Arrow's alone takes well under a millisecond: enough to call every few columns
    while a table read from Parquet (its columns Arrow's memory) is copied column by column."""
    pa.default_memory_pool().release_unused()
    c = libc() if heaps else None
    if c is not None:
        c.malloc_trim(0)


def return_freed_memory() -> None:
    """Collect garbage, then return the free pages of both pools to the system."""
    gc.collect()
    release_pools()
