"""Operator commands: `release`, `backfill`, `demo` and `config`.

Each run is executed in this process against the configured Dagster instance (DAGSTER_HOME), so it is
recorded there and shows in the UI exactly like a run launched from the Launchpad.
"""

import argparse
import logging
import sys

from metpipeline import settings
from metpipeline.commands.instance import REPO_ROOT, ensure_dagster_home, say

__all__ = ["REPO_ROOT", "ensure_dagster_home", "say"]


def _instance():
    import dagster as dg

    ensure_dagster_home()
    return dg.DagsterInstance.get()


def _defs():
    from metpipeline.definitions import defs

    return defs


class _OneSummaryAtTheEnd(logging.Filter):
    """Console only: drop the per-step echoes of a failure (skipped dependants, check-failure stack traces,
    the run-failure trace); `_run` ends with one summary naming every defect. The event log keeps all."""

    NOISE = (
        "were not executed",
        "Dependencies for step",
        "DagsterAssetCheckFailedError",
        "DagsterExecutionInterruptedError",
        "RUN_FAILURE",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(n in message for n in self.NOISE)


def _quiet_console_logger():
    """Dagster's console logger (same format and levels) with `_OneSummaryAtTheEnd` in front of it."""
    import dagster as dg
    from dagster._loggers import colored_console_logger

    @dg.logger(colored_console_logger.config_schema, description="console, one failure summary at the end")
    def quiet_console(init_context):
        logger = colored_console_logger.logger_fn(init_context)
        logger.addFilter(_OneSummaryAtTheEnd())
        return logger

    return quiet_console


def _run(job_name: str, *, partition_key: str | None = None, tags: dict | None = None, run_config=None):
    """Execute a job of the code location in-process against the instance; raise with the failing step."""
    import dagster as dg

    job = _defs().resolve_job_def(job_name).with_logger_defs({"console": _quiet_console_logger()})
    # The console shows INFO and above (one line per step and per month); every event, DEBUG included,
    # is still stored in the instance and shown in the UI.
    config = dict(run_config or {})
    config.setdefault("loggers", {"console": {"config": {"log_level": "INFO"}}})
    instance = _instance()
    # The command line is the deployment's own shell, holding the identity key: its runs are sealed as
    # launched from it (nobody signed in), so jobs that act on identity accept them (governance/runseal.py).
    from metpipeline.governance import runseal

    seal = runseal.seal_tags(
        runseal.load_key(say), user=None, via="cli", job=job_name, partition=partition_key, bind_config=False
    )
    result = job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        tags={**(tags or {}), **seal},
        run_config=config,
        raise_on_error=False,
    )
    if not result.success and _interrupted(result):
        # SIGTERM, Ctrl-C: Dagster stopped the step at once (cancellable queries, interrupt checks between
        # steps); say so in the run's status, as a Terminate from the UI would.
        run = instance.get_run_by_id(result.run_id)
        if run is not None:
            instance.report_run_canceled(run, "stopped by a termination signal (SIGTERM or Ctrl-C)")
        raise SystemExit(
            f"run {result.run_id} of {job_name} was stopped on request: the months it had finished are "
            "complete, the one it was working on was not written, nothing was staged or published. Run the "
            "command again to carry on."
        )
    if not result.success:
        evaluations = [
            ev.event_specific_data
            for ev in result.all_events
            if ev.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ]
        failed_checks = [
            f"check {e.check_name} on {e.asset_key.to_user_string()}: {e.description}"
            for e in evaluations
            if not e.passed
        ]
        # A step that failed only because its blocking checks failed is already named by those checks.
        failures = [
            f"{ev.step_key}: {_root_message(ev)}"
            for ev in result.all_events
            if ev.is_step_failure and "DagsterAssetCheckFailedError" not in _root_message(ev, with_class=True)
        ]
        detail = "\n  ".join(failed_checks + failures) or "see the run in the Dagster UI"
        count = f"{len(failed_checks)} failed check(s)" + (
            f", {len(failures)} failed step(s)" if failures else ""
        )
        raise SystemExit(
            f"run {result.run_id} of {job_name} failed — {count}:\n  {detail}\n"
            f"Nothing was staged or published. The run is in the Dagster UI (make ui → Runs)."
        )
    return result


def _interrupted(result) -> bool:
    return any(
        ev.is_step_failure and "DagsterExecutionInterruptedError" in _root_message(ev, with_class=True)
        for ev in result.all_events
    )


def _root_message(event, with_class: bool = False) -> str:
    """The innermost error of a failed step: Dagster wraps the asset's own exception in its own."""
    error = getattr(event.event_specific_data, "error", None)
    while error is not None and error.cause is not None:
        error = error.cause
    if error is None:
        return "see the run in the Dagster UI"
    return f"{error.cls_name}: {error.message.strip()}" if with_class else error.message.strip()


def latest_complete_month() -> str:
    from metpipeline.months.partitions import monthly_partitions

    month = monthly_partitions.get_last_partition_key()
    assert month is not None, "no complete month since METPIPELINE_FIRST_MONTH"
    return month


# --- commands ----------------------------------------------------------------------------------------


def cmd_config(args: argparse.Namespace) -> int:
    """Every setting, where its value comes from, the value (secrets redacted) and what is wrong with it;
    exit 2 when any is malformed."""
    width = max(len(s.name) for s in settings.ALL_SETTINGS)
    bad = 0
    for s in settings.ALL_SETTINGS:
        value = s.value()
        shown = settings.redact_secrets(value) if value else value
        source = "env" if s.is_set() else "default"
        print(f"{s.name:{width}} {source:8} {shown}")
        problem = settings.problem_of(s)
        if problem:
            bad += 1
            print(f"{'':{width}} {'MALFORMED':8} {problem}")
    source = "env" if settings.dagster_home_is_set() else "default"
    print(f"{'DAGSTER_HOME':{width}} {source:8} {ensure_dagster_home()}")
    if bad:
        print(f"{bad} malformed setting(s): fix them before running anything", file=sys.stderr)
        return 2
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from metpipeline.runs.release_chain import RANGE_END_TAG, RANGE_START_TAG

    say(f"back-filling extraction and harmonisation for {args.start} .. {args.end} in one run")
    result = _run("backfill_job", tags={RANGE_START_TAG: args.start, RANGE_END_TAG: args.end})
    say(f"back-fill finished: run {result.run_id}")
    return 0


def refresh_plan(month: str):
    """Which earlier months need (re-)extraction before `month` can be released."""
    from metpipeline.cellstore import months_ready
    from metpipeline.extract.changes import months_changed_since_extraction
    from metpipeline.resources import default_resources
    from metpipeline.runs.release_chain import plan_release

    resources = default_resources()
    area = resources["workarea"].area
    engine = resources["datamart"].engine()
    extracted = months_ready(area)
    changed = months_changed_since_extraction(engine, area)
    return plan_release(month, extracted, changed)


def release_month(month: str) -> None:
    from metpipeline.runs.release_chain import RANGE_END_TAG, RANGE_START_TAG, RELEASE_MONTH_TAG

    plan = refresh_plan(month)
    if plan.refresh:
        start, end = plan.backfill_range  # type: ignore[misc]
        say(
            f"{len(plan.missing)} earlier month(s) never extracted, {len(plan.changed)} changed at source: "
            f"back-filling {start} .. {end} first (one run)"
        )
        result = _run(
            "backfill_job", tags={RANGE_START_TAG: start, RANGE_END_TAG: end, RELEASE_MONTH_TAG: month}
        )
        say(f"back-fill done: run {result.run_id}")
    else:
        say("every earlier month is extracted and unchanged at source")
    say(f"releasing {month}: extract → harmonise → datasets → checks → disclosure → report → candidates")
    result = _run("monthly_release_job", partition_key=month)
    say(f"release run {result.run_id} succeeded: candidates staged, waiting for the data owner's approval")


def cmd_release(args: argparse.Namespace) -> int:
    month = args.month or latest_complete_month()
    release_month(month)
    from metpipeline.runs.release_summary import print_release_summary

    print_release_summary(month)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole monthly cycle on the embedded default: seed, release, approve as the demo owner, publish."""
    from metpipeline.commands.demo import run_demo

    month = args.month or latest_complete_month()
    if not settings.RELEASE_TIME.is_set():
        settings.RELEASE_TIME.set_for_this_process("immediate")
        say(
            "embedded demo: approved candidates are published at once (production publishes them at the next "
            f"release time, 09:30 London by default: {settings.RELEASE_TIME.name})"
        )
    return run_demo(say=say, release_month=release_month, run_job=_run, month=month)


def _month(text: str) -> str:
    import re

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a month: expected YYYY-MM")
    return text


def register(sub) -> None:
    p = sub.add_parser("release", help="build a month's release candidates (back-fills earlier months first)")
    p.add_argument("month", nargs="?", type=_month, help="YYYY-MM (default: the last complete month)")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("backfill", help="extract, harmonise and reduce to cells a range of months in one run")
    p.add_argument("start", type=_month)
    p.add_argument("end", type=_month)
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser("demo", help="the whole cycle on the embedded default (what `make run` does)")
    p.add_argument("--month", type=_month, help="YYYY-MM (default: the last complete month)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("config", help="show the configuration in force (passwords hidden)")
    p.set_defaults(func=cmd_config)
