"""A back-fill's months shared with helper processes (months/shared_work.py): the same files and results
as one process, the one-process loop's errors, and no helper left running when the step stops."""

import hashlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metpipeline import settings
from metpipeline.datamart.seed import seed_datamart
from metpipeline.db import make_engine
from metpipeline.extract.month_files import extract_month, run_engine
from metpipeline.extract.queries import source_state
from metpipeline.harmonise.rules import DataError
from metpipeline.months import shared_work as monthwork
from metpipeline.months.arithmetic import month_range
from metpipeline_tests.processes import gone

MONTHS = month_range("2024-01", "2024-08")


# Module-level, so a spawned helper can import them.
def whose(month: str, tag: str) -> tuple[str, str, int]:
    return month, tag, os.getpid()


def fails_in(month: str, bad: tuple[str, ...], slow_s: float) -> str:
    if month in bad:
        raise DataError(f"{month}: offence code 99/X is not in the classification")
    time.sleep(slow_s)
    return month


def dies_in(month: str, doomed: str) -> tuple[str, int]:
    if month == doomed and multiprocessing.parent_process() is not None:  # in a helper only
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer would
    return month, os.getpid()


def dies_while_this_process_works(month: str, doomed: str) -> tuple[str, int]:
    in_helper = multiprocessing.parent_process() is not None
    if not in_helper:
        time.sleep(3)  # this process's months are long
    elif month == doomed:
        time.sleep(2)  # the helper is inside this month when the run's process next looks, then dies
        os.kill(os.getpid(), signal.SIGKILL)
    return month, os.getpid()


def sleeps(month: str, pid_dir: str) -> str:
    Path(pid_dir, str(os.getpid())).touch()
    time.sleep(240)
    return month


@pytest.fixture
def two_processes(monkeypatch):
    monkeypatch.setenv(settings.BACKFILL_PROCESSES.name, "2")


def test_a_helper_shares_the_months_and_results_come_back_in_month_order(two_processes):
    seen: list[tuple[str, int]] = []
    results = monthwork.map_months(whose, MONTHS, ("t",), lambda m, r: seen.append((m, os.getpid())))
    assert list(results) == MONTHS and [r[0] for r in results.values()] == MONTHS
    pids = {r[2] for r in results.values()}
    assert os.getpid() in pids and len(pids) == 2  # this process and one helper both did months
    # Progress is reported here, once per month, whoever did it.
    assert sorted(seen) == sorted((m, os.getpid()) for m in MONTHS)
    assert multiprocessing.active_children() == []


def test_few_months_or_one_process_stay_in_this_process(monkeypatch, two_processes):
    few = monthwork.map_months(whose, MONTHS[: monthwork.MIN_MONTHS - 1], ("t",))
    assert {r[2] for r in few.values()} == {os.getpid()}
    monkeypatch.setenv(settings.BACKFILL_PROCESSES.name, "1")
    alone = monthwork.map_months(whose, MONTHS, ("t",))
    assert {r[2] for r in alone.values()} == {os.getpid()}


def test_a_bad_process_count_is_named(monkeypatch):
    monkeypatch.setenv(settings.BACKFILL_PROCESSES.name, "0")
    with pytest.raises(settings.ConfigError, match="METPIPELINE_BACKFILL_PROCESSES='0'"):
        monthwork.map_months(whose, MONTHS, ("t",))


@pytest.mark.parametrize(
    "bad",
    [
        ("2024-07",),  # a helper's month (helpers take from the back): its error, class and message
        ("2024-03", "2024-07"),  # the later one fails first, in the helper: the earlier one is reported
        ("2024-02",),  # this process's month
    ],
)
def test_the_earliest_failed_month_is_raised_as_one_process_would(two_processes, bad):
    with pytest.raises(DataError) as shared:
        monthwork.map_months(fails_in, MONTHS, (bad, 0.3))
    assert str(shared.value) == f"{bad[0]}: offence code 99/X is not in the classification"
    assert multiprocessing.active_children() == []


def test_a_killed_helper_s_months_are_done_here_with_a_warning(two_processes):
    # The helper takes months from the back: the last month is its first, and it dies in it.
    warnings: list[str] = []
    results = monthwork.map_months(dies_in, MONTHS, (MONTHS[-1],), warn=warnings.append)
    assert list(results) == MONTHS and results[MONTHS[-1]] == (MONTHS[-1], os.getpid())
    (warning,) = warnings
    assert "a helper process stopped" in warning and MONTHS[-1] in warning
    assert multiprocessing.active_children() == []


def test_a_helper_killed_in_a_later_month_is_taken_over_too(two_processes):
    """The helper finishes its first month (from the back), dies in its second while this process works:
    the pool is broken before this process hands it another month."""
    warnings: list[str] = []
    results = monthwork.map_months(dies_while_this_process_works, MONTHS, (MONTHS[-2],), warn=warnings.append)
    assert list(results) == MONTHS and results[MONTHS[-2]] == (MONTHS[-2], os.getpid())
    assert [w for w in warnings if MONTHS[-2] in w]
    assert multiprocessing.active_children() == []


def test_an_interrupted_step_leaves_no_helper_running(two_processes, tmp_path):
    def interrupt(month, result):  # the step is stopped (Terminate, SIGTERM) while helpers work
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        monthwork.map_months(fails_in, MONTHS, ((), 0.0), interrupt)
    assert multiprocessing.active_children() == []


def _first_month_quick(month: str, pid_dir: str) -> str:
    # This process's first month is done at once; the helper's months (from the back) take four minutes each.
    return month if month == MONTHS[0] else sleeps(month, pid_dir)


@pytest.mark.parametrize("sigterm", [signal.SIG_DFL, signal.SIG_IGN], ids=["sigterm", "sigterm-ignored"])
def test_a_helper_in_a_long_month_is_stopped_not_waited_for(two_processes, tmp_path, sigterm):
    """Also when SIGTERM is ignored here, as in a test runner's worker: a spawned helper inherits that."""

    def interrupt_once_the_helper_works(month, result):
        deadline = time.monotonic() + 120
        while not any(tmp_path.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, sigterm)
    try:
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            monthwork.map_months(
                _first_month_quick, MONTHS, (str(tmp_path),), interrupt_once_the_helper_works
            )
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert multiprocessing.active_children() == []
    helper = int(next(tmp_path.iterdir()).name)
    with pytest.raises(ProcessLookupError):
        os.kill(helper, 0)
    assert time.monotonic() - started < 120  # the helper's four-minute month was not waited for


def _this_process_busy(month: str, pid_dir: str) -> str:
    # The helper's months are quick (it then waits for more); this process's first month takes ten minutes.
    if multiprocessing.parent_process() is not None:
        Path(pid_dir, str(os.getpid())).touch()
    else:
        time.sleep(240)
    return month


def test_a_helper_ends_when_the_run_s_process_is_killed_outright(tmp_path):
    """SIGKILL (the out-of-memory killer's) gives the run's process no chance to stop its helper, which
    waits for its next month: it must end by itself, not wait for ever."""
    script = (
        "from metpipeline.months import shared_work as monthwork\n"
        "from metpipeline_tests.test_monthwork import MONTHS, _this_process_busy\n"
        f"monthwork.map_months(_this_process_busy, MONTHS, ({str(tmp_path)!r},))\n"
    )
    env = dict(os.environ, **{settings.BACKFILL_PROCESSES.name: "2"})
    run = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1], env=env)
    try:
        deadline = time.monotonic() + 180
        while not any(tmp_path.iterdir()):
            assert run.poll() is None and time.monotonic() < deadline, "no helper started"
            time.sleep(0.1)
        helper = int(next(tmp_path.iterdir()).name)
        time.sleep(1)  # the helper's two months done: it waits for work
        assert not gone(helper)
    finally:
        run.kill()
        run.wait()
    deadline = time.monotonic() + 60
    while not gone(helper) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(helper)


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.integration
def test_extraction_shared_writes_the_one_process_files(tmp_path, monkeypatch):
    """Months on both sides of the cut-over, from a seeded DataMart: every extract, undated-row count and
    watermark is byte for byte what one process writes."""
    url = f"sqlite:///{tmp_path / 'datamart.sqlite'}"
    seed_datamart(url, "2023-11", "2024-04", scale=0.01, progress=False)
    months = month_range("2023-11", "2024-04")
    engine = make_engine(url)
    roots = {}
    for processes in ("1", "2"):
        monkeypatch.setenv(settings.BACKFILL_PROCESSES.name, processes)
        root = tmp_path / f"work{processes}"
        with run_engine(url, engine):
            summaries = {
                system: monthwork.map_months(
                    extract_month,
                    months,
                    (url, str(root), system, source_state(engine, system)),
                    min_months=2,
                )
                for system in ("CRIS", "CONNECT")
            }
        roots[processes] = (root, summaries)
    (one, one_summaries), (two, two_summaries) = roots["1"], roots["2"]
    assert one_summaries == two_summaries
    assert sum(s["rows"] for s in one_summaries["CRIS"].values()) > 0
    assert sum(s["rows"] for s in one_summaries["CONNECT"].values()) > 0
    files = _digests(one)
    # Per month: two extracts, two undated-row counts, two watermarks.
    assert len(files) == len(months) * 6
    assert files == _digests(two)
