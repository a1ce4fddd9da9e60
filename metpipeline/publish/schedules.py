"""The monthly release schedule: build the previous month's release on the release calendar's day.

Targets `monthly_release_job` by name (defined with the other jobs in metpipeline/jobs.py) to keep this
module free of import cycles. The cron comes from METPIPELINE_RELEASE_CRON (default 5th, 06:00 London).
"""

import dagster as dg

from metpipeline.publish.catalog import release_cron


def previous_month(year: int, month: int) -> str:
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


@dg.schedule(
    cron_schedule=release_cron(),
    job_name="monthly_release_job",
    execution_timezone="Europe/London",
    name="monthly_release_schedule",
    description="Builds last month's release candidate; publication waits for the data owner's approval.",
)
def monthly_release_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    when = context.scheduled_execution_time
    month = previous_month(when.year, when.month)
    return dg.RunRequest(run_key=f"monthly:{month}", partition_key=month, tags={"metpipeline/month": month})
