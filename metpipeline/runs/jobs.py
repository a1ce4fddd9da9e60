"""The jobs an operator runs: the monthly release of one month, and the back-fill of many months' extracts.

Both use the in-process executor: the default multiprocess executor re-imports the code location for every
step (benchmarks/RESULTS.md), and the steps of a month run one after another anyway.
"""

import dagster as dg

from metpipeline.catalogue import CATALOGUE
from metpipeline.memory import release_pools, resident_mib
from metpipeline.months.partitions import monthly_partitions

# Extraction, harmonisation and the monthly cells: what the back-fill runs over a partition range in one run.
SOURCE_ASSETS = dg.AssetSelection.assets(
    "cris_extract", "connect_extract", "harmonised_offences", "monthly_cells"
)

# Everything from the DataMart to a staged release candidate. Publication is a separate job, launched by
# the approval sensor once the data owner has approved exactly the staged bytes.
RELEASE_ASSETS = SOURCE_ASSETS | dg.AssetSelection.assets(
    *(spec.asset_name for spec in CATALOGUE.values()),
    "disclosed_datasets",
    "release_report",
    "release_candidates",
)


# Memory is returned after a step that left the process this much larger than the step before it did: the
# small steps (most checks) leave nothing worth the tens of milliseconds a return takes on a large heap.
RETURN_AFTER_GROWTH_MIB = 64
_resident_after_last_step = [0]  # per process; a process running several jobs shares it, which is harmless


@dg.success_hook(name="return_freed_memory")
def freed_memory_hook(_context: dg.HookContext) -> None:
    """After a step that grew the process, what the step freed goes back to the system before the next
    starts (memory.py): the steps run in one process, and a release's peak is its largest step on top of
    what the steps before it left."""
    if resident_mib() > _resident_after_last_step[0] + RETURN_AFTER_GROWTH_MIB:
        release_pools()
    _resident_after_last_step[0] = resident_mib()


monthly_release_job = dg.define_asset_job(
    name="monthly_release_job",
    selection=RELEASE_ASSETS,
    partitions_def=monthly_partitions,
    executor_def=dg.in_process_executor,
    hooks={freed_memory_hook},
    description="Build one month's release: extract, harmonise, datasets, quality and disclosure checks, "
    "report, and a release candidate waiting for the data owner's approval.",
)

backfill_job = dg.define_asset_job(
    name="backfill_job",
    selection=SOURCE_ASSETS,
    partitions_def=monthly_partitions,
    executor_def=dg.in_process_executor,
    hooks={freed_memory_hook},
    description="Extract, harmonise and reduce to cells many months in one run. From the UI: Materialize "
    "all…, choose the range of months (e.g. [2026-06...2026-08]) and launch: the source assets back-fill "
    "a range as one run, as `metpipeline backfill 2026-06 2026-08` does. Months already extracted are "
    "replaced; nothing else is touched.",
)
