"""Approval stage: release candidates, the data owner's Launchpad jobs, and the reminders."""

import dagster as dg

from metpipeline.approval.acknowledge_job import acknowledge_volume
from metpipeline.approval.assets import release_candidates
from metpipeline.approval.decision_job import decide_release
from metpipeline.approval.jobs import record_approval
from metpipeline.approval.reminders import approval_reminder

defs = dg.Definitions(
    assets=[release_candidates],
    jobs=[decide_release, record_approval, acknowledge_volume],
    sensors=[approval_reminder],
)
