"""Publish stage: the publish job, launched by the approval sensor."""

import dagster as dg

from metpipeline.publish.jobs import publish_job

defs = dg.Definitions(jobs=[publish_job])
