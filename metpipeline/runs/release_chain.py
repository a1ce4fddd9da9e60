"""Putting a month's release in motion: which earlier months must be re-extracted first, and the chain
back-fill ─► release that the schedule and the `metpipeline release` command both follow.

A release of month M publishes M and the 23 months before it (and the historical file), so every earlier
month must be extracted, and re-extracted when its source rows changed since (a crime cancelled in CONNECT
revises the month it was recorded in). Those months are back-filled in one run first; when that run
succeeds, `release_after_backfill` launches the release of M.
"""

import warnings
from dataclasses import dataclass

import dagster as dg

from metpipeline.governance import runseal
from metpipeline.identity import FOLLOWS_RUN_TAG
from metpipeline.months.partitions import monthly_partitions
from metpipeline.resources import GovernanceResource
from metpipeline.runs.jobs import backfill_job, monthly_release_job

# Dagster's run_status_sensor passes its beta `owners` parameter internally: not ours to act on.
warnings.filterwarnings("ignore", message="Parameter `owners`", category=dg.BetaWarning)

RELEASE_MONTH_TAG = "metpipeline/release_month"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class ReleasePlan:
    month: str
    refresh: tuple[str, ...]  # earlier months to (re-)extract before the release, oldest first
    missing: tuple[str, ...]  # of which: never extracted
    changed: tuple[str, ...]  # of which: source rows changed since their extraction

    @property
    def backfill_range(self) -> tuple[str, str] | None:
        """One contiguous range covering every month to refresh (re-extracting a month is idempotent)."""
        return (self.refresh[0], self.refresh[-1]) if self.refresh else None


def earlier_months(month: str) -> list[str]:
    keys = list(monthly_partitions.get_partition_keys())
    if month not in keys:
        raise ValueError(
            f"{month} is not a release month: months run from {keys[0]} to {keys[-1]} "
            "(the last complete month; set METPIPELINE_FIRST_MONTH for an earlier start)"
        )
    return keys[: keys.index(month)]


def plan_release(month: str, extracted_months: set[str], changed_months: set[str]) -> ReleasePlan:
    """Pure: which months before `month` must be refreshed, given what is extracted and what changed."""
    before = earlier_months(month)
    missing = tuple(m for m in before if m not in extracted_months)
    changed = tuple(m for m in before if m in changed_months and m in extracted_months)
    refresh = tuple(sorted(set(missing) | set(changed)))
    return ReleasePlan(month=month, refresh=refresh, missing=missing, changed=changed)


def backfill_run_request(plan: ReleasePlan) -> dg.RunRequest:
    start, end = plan.backfill_range  # type: ignore[misc]
    return dg.RunRequest(
        run_key=f"refresh-for-{plan.month}:{start}:{end}",
        job_name="backfill_job",
        tags={RANGE_START_TAG: start, RANGE_END_TAG: end, RELEASE_MONTH_TAG: plan.month},
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[backfill_job],
    request_job=monthly_release_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="When a back-fill started for a release succeeds, launch that month's release.",
)
def release_after_backfill(context: dg.RunStatusSensorContext, governance: GovernanceResource):
    month = context.dagster_run.tags.get(RELEASE_MONTH_TAG)
    if not month:
        return dg.SkipReason("back-fill was not started for a release")
    # The release follows the back-fill: whoever launched the back-fill launched the release (four eyes).
    # The sensor runs in the code location, which holds the identity key: the request is sealed as its own.
    followed = context.dagster_run.run_id
    seal = runseal.automation_tags(
        governance.identity_key(context.log.info), "sensor", monthly_release_job.name, month, followed
    )
    return dg.RunRequest(
        run_key=f"release-after:{context.dagster_run.run_id}",
        partition_key=month,
        tags={FOLLOWS_RUN_TAG: followed, **seal},
    )


defs = dg.Definitions(sensors=[release_after_backfill])
