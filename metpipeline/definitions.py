"""The code location: the whole flow, stage by stage, merged into one `Definitions`.

DataMart ─► extract ─► harmonise ─► datasets ─► disclosure ─► report ─► candidates ─┐ owners notified
                 quality checks (Great Expectations) on every stage                   │ data owner decides
                                                                                      ▼ (decide_release)
                                      approval sensor (sealed ledger verified) ─► publish job ─► bucket
"""

import dagster as dg

from metpipeline import jobs, orchestration, schedule
from metpipeline.approval import defs as approval
from metpipeline.datasets import defs as datasets
from metpipeline.disclosure import defs as disclosure
from metpipeline.extract import defs as extract
from metpipeline.harmonise import defs as harmonise
from metpipeline.publish import defs as publish
from metpipeline.quality import defs as quality
from metpipeline.report import defs as report
from metpipeline.resources import default_resources

defs = dg.Definitions.merge(
    extract.defs,
    harmonise.defs,
    datasets.defs,
    quality.defs,
    disclosure.defs,
    report.defs,
    approval.defs,
    publish.defs,
    orchestration.defs,
    dg.Definitions(
        jobs=[jobs.monthly_release_job, jobs.backfill_job],
        schedules=[schedule.monthly_release_schedule],
        resources=default_resources(),
    ),
)
