"""A back-fill's per-month work shared between the run's process and helper processes.

A back-fill runs each stage as one step over up to two hundred months. A month's extraction reads the
DataMart and writes only that month's files, so months can be done side by side: the run's own process
works through the months from the front while helper processes take them from the back, and the results
come back keyed by month. One helper is the default (`METPIPELINE_BACKFILL_PROCESSES=2`): the machine this
runs on has two cores, and the step's own process keeps one of them busy.

Only extraction shares its months. Harmonisation and the cells come after the extracts' quality checks,
when the run's process holds Great Expectations and most of the back-fill's memory; a helper beside it
took the back-fill over its 1 GiB target (benchmarks/RESULTS.md).

Why processes and not threads: the work is pandas and the driver building Python rows, which hold the
interpreter lock. Helpers are *spawned* (a fresh interpreter that imports only the work's module), never
forked from the run's process, whose threads and open connections a fork would copy half-way.

Errors are the one-process loop's: when a month fails, no later month is started or handed to a helper,
earlier ones still are, and the error of the earliest failed month is raised. (A helper finishes the
months it already holds, at most two, which may come after the failed one: their files are written.)
When a helper dies (killed, out of memory), the run's process takes over the months it held and warns.
An interrupt (Terminate in the UI, SIGTERM) stops the helpers with the step, and a helper ends when the
run's process does, even if that is killed outright.
"""

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from metpipeline import settings
from metpipeline.memory import libc, return_freed_memory

# Fewer months than this are not worth a helper: starting one (a fresh interpreter importing pandas and
# the stage's module) costs about as much as a few months' work.
MIN_MONTHS = 8


def processes() -> int:
    """METPIPELINE_BACKFILL_PROCESSES, checked (at least 1: the run's own process)."""
    return settings.BACKFILL_PROCESSES.get()


def map_months(
    work: Callable[..., Any],
    months: list[str],
    args: tuple = (),
    on_done: Callable[[str, Any], None] | None = None,
    *,
    warn: Callable[[str], None] | None = None,
    min_months: int = MIN_MONTHS,
) -> dict[str, Any]:
    """`work(month, *args)` for every month; returns {month: result} in the order of `months`.

    `work` must be a module-level function and `args` picklable (a helper runs it in another process).
    `on_done(month, result)` runs in this process as each month completes (progress, in completion order);
    `warn(message)` is told when a helper dies and this process takes over its months.
    """
    helpers = min(processes() - 1, len(months) // 2)
    if helpers < 1 or len(months) < min_months:
        results: dict[str, Any] = {}
        for month in months:
            results[month] = work(month, *args)
            if on_done:
                on_done(month, results[month])
        return results
    return _shared(work, months, args, on_done, warn, helpers)


def _end_with_parent(parent: int) -> None:
    """In a helper: end when the run's process ends, however it ends. A process killed outright (out of
    memory, SIGKILL) cannot stop its helpers, which would otherwise wait for work for ever, holding memory
    and a DataMart connection, or finish a month after the run's month locks are gone."""
    c = libc()
    if c is not None:  # Linux: the kernel sends SIGKILL when the parent dies
        c.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    else:  # elsewhere: look every second
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # it died before the above took effect
        os._exit(1)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def _shared(work, months, args, on_done, warn, helpers: int) -> dict[str, Any]:
    index = {month: i for i, month in enumerate(months)}
    todo = deque(months)  # this process takes from the front, helpers from the back
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}
    pending: dict[str, Future] = {}  # months a helper holds
    broken = False  # a helper died: the pool takes no more months, this process does the rest

    def failed(month: str, exc: BaseException) -> None:
        # As the one-process loop: months after a failed one are not started; months before it still are,
        # since one of them may fail too, and the earliest failure is the one to report.
        errors[month] = exc
        first = min(index[m] for m in errors)
        while todo and index[todo[-1]] > first:
            todo.pop()

    def done(month: str, result: Any) -> None:
        results[month] = result
        if on_done:
            on_done(month, result)

    def collect(block_s: float) -> None:
        nonlocal broken
        if block_s and pending:
            wait(pending.values(), timeout=block_s, return_when=FIRST_COMPLETED)
        lost: list[str] = []
        for month in [m for m, f in pending.items() if f.done()]:
            try:
                result = pending.pop(month).result()
            except BrokenProcessPool:
                # The helper died (killed, out of memory): its months are this process's now.
                broken = True
                lost.append(month)
                continue
            except Exception as exc:  # the helper's own exception, with its message
                failed(month, exc)
                continue
            done(month, result)
        first_error = min((index[m] for m in errors), default=len(months))
        left = sorted({*todo, *(m for m in lost if index[m] < first_error)}, key=index.__getitem__)
        todo.clear()
        todo.extend(left)
        if lost and warn:
            warn(
                "a helper process stopped (killed, or out of memory?) while it held "
                f"{', '.join(sorted(lost))}; this process does the rest of the months"
            )

    return_freed_memory()
    pool = ProcessPoolExecutor(
        helpers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_end_with_parent,
        initargs=(os.getpid(),),
    )
    try:
        while todo or pending:
            collect(0)
            # Keep each helper a month ahead, so it never waits for this process.
            while not broken and len(todo) > 1 and len(pending) < 2 * helpers:
                month = todo.pop()
                try:
                    pending[month] = pool.submit(work, month, *args)
                except BrokenProcessPool:  # a helper died since the last look: this process does the rest
                    todo.append(month)
                    broken = True
            if todo:
                month = todo.popleft()
                try:
                    result = work(month, *args)
                except Exception as exc:
                    failed(month, exc)
                    continue
                done(month, result)
            else:
                collect(0.2)
    finally:
        # On an interrupt (Terminate, SIGTERM) or an error here, a helper may be inside a long query: it is
        # stopped, not waited for. SIGKILL, because a helper inherits an ignored SIGTERM from a parent that
        # ignores it (as test runners do). (The executor has no public way to stop its workers before 3.14.)
        if pending:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
        pool.shutdown(wait=True, cancel_futures=True)
    if errors:
        raise errors[min(errors, key=index.__getitem__)]
    return {month: results[month] for month in months}
