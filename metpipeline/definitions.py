"""The code location: the whole flow, stage by stage, merged into one `Definitions`.

DataMart ─► extract ─► harmonise ─► datasets ─► disclosure ─► report ─► candidates ─┐ owners notified
                 quality checks (Great Expectations) on every stage                   │ data owner decides
                                                                                      ▼ (decide_release)
                                      approval sensor (sealed ledger verified) ─► publish job ─► bucket
                                      published_<dataset> assets (what is live) ◄─┘  read back daily
"""

import dagster as dg

from metpipeline import settings

# Every setting checked when the code location loads, before any run: a malformed one is one line naming
# the variable, shown where the code location's error is shown, not a stack trace twenty seconds into a run.
settings.check_all(files=False)

from metpipeline.approval import defs as approval  # noqa: E402
from metpipeline.datasets import defs as datasets  # noqa: E402
from metpipeline.disclosure import defs as disclosure  # noqa: E402
from metpipeline.extract import defs as extract  # noqa: E402
from metpipeline.harmonise import defs as harmonise  # noqa: E402
from metpipeline.publish import defs as publish  # noqa: E402
from metpipeline.quality import defs as quality  # noqa: E402
from metpipeline.report import defs as report  # noqa: E402
from metpipeline.resources import default_resources  # noqa: E402
from metpipeline.runs import jobs, monthly_schedule, release_chain  # noqa: E402

defs = dg.Definitions.merge(
    extract.defs,
    harmonise.defs,
    datasets.defs,
    quality.defs,
    disclosure.defs,
    report.defs,
    approval.defs,
    publish.defs,
    release_chain.defs,
    dg.Definitions(
        jobs=[jobs.monthly_release_job, jobs.backfill_job],
        schedules=[monthly_schedule.monthly_backfill_then_release],
        resources=default_resources(),
        # Materializing assets from the UI (its implicit asset job, a back-fill of a range) runs every step
        # in the run's one process, as the jobs do: steps in processes of their own would each take the
        # month's lock from one another, and re-import the code location each (benchmarks/RESULTS.md).
        executor=dg.in_process_executor,
    ),
)
