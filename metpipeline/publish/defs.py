"""Publish stage: the approval sensor, which verifies the sealed decisions, and the publish job."""

import dagster as dg

from metpipeline.publish.jobs import publish_job
from metpipeline.publish.sensors import approval_sensor

defs = dg.Definitions(jobs=[publish_job], sensors=[approval_sensor])
