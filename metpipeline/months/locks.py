"""One run at a time per month: a run that writes a month's work-area files holds that month's lock.

`flock` locks on `.<work area name>.locks/<YYYY-MM>.lock` beside the work area (not in it: its files are the
months' outputs, compared byte for byte between runs): the kernel releases them when their holder exits or is
killed, so a crashed run never blocks the next one. A second run of a month that is being written is refused
at once with a message naming the run that holds it. (Runs launched through the daemon are queued before
that happens: `dagster.yaml` limits runs per partition to one.)
"""

import fcntl
import os
from contextlib import ExitStack
from pathlib import Path


class MonthBusy(RuntimeError):
    """Another run is writing this month. The message names it and says what to do."""


def hold(root: Path, months: list[str], run_id: str, stack: ExitStack) -> None:
    """Take every month's lock (in order, so two ranges never deadlock) until `stack` closes."""
    folder = root.parent / f".{root.name}.locks"
    folder.mkdir(parents=True, exist_ok=True)
    for month in sorted(set(months)):
        path = folder / f"{month}.lock"
        fh = stack.enter_context(open(path, "a+"))  # noqa: SIM115 - closed by the stack
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another run"
            raise MonthBusy(
                f"{month} is being written by {holder}; one run per month at a time. Wait for it to "
                "finish (or terminate it in the UI), then run again."
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"run {run_id} (pid {os.getpid()})")
        fh.flush()
