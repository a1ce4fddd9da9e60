"""Approval stage: release candidates, the data owner's Launchpad job, and the sensor that publishes."""

import dagster as dg

from metpipeline.approval.acknowledge_job import acknowledge_volume
from metpipeline.approval.assets import release_candidates
from metpipeline.approval.jobs import record_approval
from metpipeline.approval.sensors import approval_sensor

defs = dg.Definitions(
    assets=[release_candidates], jobs=[record_approval, acknowledge_volume], sensors=[approval_sensor]
)
