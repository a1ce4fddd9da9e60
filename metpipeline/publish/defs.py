"""Publish stage: the approval sensor, which verifies the sealed decisions, the publish job, and the daily
read-back of the public bucket."""

import dagster as dg

from metpipeline.publish.assets import PUBLISHED_DATASETS
from metpipeline.publish.jobs import publish_job
from metpipeline.publish.sensors import approval_sensor
from metpipeline.publish.verify_job import verify_published, verify_published_job, verify_published_schedule

defs = dg.Definitions(
    assets=PUBLISHED_DATASETS,
    asset_checks=[verify_published],
    jobs=[publish_job, verify_published_job],
    sensors=[approval_sensor],
    schedules=[verify_published_schedule],
)
