"""A back-fill's months shared with helper processes (monthwork.py): the same files and results as one
process, the one-process loop's errors, and no helper left running when the step stops."""

import hashlib
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from metpipeline import monthwork, settings
from metpipeline.datamart.seed import seed_datamart
from metpipeline.db import make_engine
from metpipeline.extract.month_files import extract_month, run_engine
from metpipeline.extract.queries import source_state
from metpipeline.harmonise.rules import DataError
from metpipeline.months import month_range

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


def sleeps(month: str, pid_dir: str) -> str:
    Path(pid_dir, str(os.getpid())).touch()
    time.sleep(600)
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


def test_an_interrupted_step_leaves_no_helper_running(two_processes, tmp_path):
    def interrupt(month, result):  # the step is stopped (Terminate, SIGTERM) while helpers work
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        monthwork.map_months(fails_in, MONTHS, ((), 0.0), interrupt)
    assert multiprocessing.active_children() == []


def _first_month_quick(month: str, pid_dir: str) -> str:
    # This process's first month is done at once; the helper's months (from the back) take ten minutes each.
    return month if month == MONTHS[0] else sleeps(month, pid_dir)


def test_a_helper_in_a_long_month_is_stopped_not_waited_for(two_processes, tmp_path):
    def interrupt_once_the_helper_works(month, result):
        deadline = time.monotonic() + 120
        while not any(tmp_path.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        monthwork.map_months(_first_month_quick, MONTHS, (str(tmp_path),), interrupt_once_the_helper_works)
    assert multiprocessing.active_children() == []
    helper = int(next(tmp_path.iterdir()).name)
    with pytest.raises(ProcessLookupError):
        os.kill(helper, 0)
    assert time.monotonic() - started < 300  # the helper's ten-minute month was not waited for


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
