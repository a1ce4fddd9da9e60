"""Looking at processes from a test: whether one has ended, and which helpers (months/shared_work.py) one
started."""

from pathlib import Path


def gone(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie, ended but not yet reaped, counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def helpers(pid: int) -> list[int]:
    """The helper processes (months/shared_work.py) `pid` has spawned."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            try:
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(child)
            except OSError:
                continue
    return found
