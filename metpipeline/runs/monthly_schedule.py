"""The monthly release schedule: build the previous month's release on the release calendar's day.

The schedule launches one back-fill run, tagged with the release month, over the earlier months that are
missing or changed at source (or over the release month alone when none is); `release_after_backfill`
(runs/release_chain.py) launches the release when that run succeeds. A schedule targets one job, so the chain
always starts with the back-fill. Cron: METPIPELINE_RELEASE_CRON (default the 5th, 06:00 London).
"""

import dagster as dg

from metpipeline import settings
from metpipeline.cellstore import months_ready
from metpipeline.extract.changes import months_changed_since_extraction
from metpipeline.governance import runseal
from metpipeline.resources import DataMartResource, GovernanceResource, WorkAreaResource
from metpipeline.runs.release_chain import ReleasePlan, backfill_run_request, plan_release


def previous_month(year: int, month: int) -> str:
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


def release_request(plan: ReleasePlan) -> dg.RunRequest:
    """The back-fill that opens the chain: the months to refresh, or just the release month."""
    if plan.refresh:
        return backfill_run_request(plan)
    return backfill_run_request(ReleasePlan(plan.month, (plan.month,), (), ()))


@dg.schedule(
    # The release calendar is part of the definitions, read when the code location loads.
    cron_schedule=settings.RELEASE_CRON.get(),
    job_name="backfill_job",
    execution_timezone="Europe/London",
    name="monthly_backfill_then_release",
    # Runs as soon as the daemon runs: a monthly release must not wait for someone to find the toggle.
    default_status=dg.DefaultScheduleStatus.RUNNING,
    # Named for what it launches: the back-fill run (this job), whose success starts the release run
    # (monthly_release_job, by the release_after_backfill sensor); a schedule targets one job.
    description="Starts last month's release on the release calendar: first this back-fill run (the months "
    "that changed at source or were never extracted, or the month alone), then, when it succeeds, the "
    "release run monthly_release_job (sensor release_after_backfill). Publication waits for the data "
    "owners' approval.",
)
def monthly_backfill_then_release(
    context: dg.ScheduleEvaluationContext,
    datamart: DataMartResource,
    workarea: WorkAreaResource,
    governance: GovernanceResource,
) -> dg.RunRequest:
    when = context.scheduled_execution_time
    month = previous_month(when.year, when.month)
    area = workarea.area
    plan = plan_release(month, months_ready(area), months_changed_since_extraction(datamart.engine(), area))
    request = release_request(plan)
    # The schedule runs in the code location, which holds the identity key: its run is sealed as the
    # schedule's (nobody launched it), so the release that follows knows no person launched the back-fill.
    seal = runseal.automation_tags(
        governance.identity_key(context.log.info), "schedule", request.job_name, None
    )
    return request.with_replaced_attrs(tags={**request.tags, **seal})
