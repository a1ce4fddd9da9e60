"""Publish stage: the publish job (launched by the approval sensor) and the monthly release schedule."""

import dagster as dg

from metpipeline.publish.jobs import publish_job
from metpipeline.publish.schedules import monthly_release_schedule

defs = dg.Definitions(jobs=[publish_job], schedules=[monthly_release_schedule])
