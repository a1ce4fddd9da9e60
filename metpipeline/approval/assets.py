"""The `release_candidates` asset: freeze each dataset's month into a candidate the data owner reviews."""

import dagster as dg

from metpipeline.approval import candidates, ledger
from metpipeline.identity import signed_in_user
from metpipeline.partitions import monthly_partitions
from metpipeline.resources import StateResource, WorkAreaResource


@dg.asset(
    partitions_def=monthly_partitions,
    deps=["release_report"],
    group_name="release",
    description="One release candidate per dataset for the month: the publishable files, the report and a "
    "manifest, frozen under their content hash and awaiting the data owner's decision "
    "(Launchpad job `record_approval`).",
)
def release_candidates(
    context: dg.AssetExecutionContext, workarea: WorkAreaResource, state: StateResource
) -> dg.MaterializeResult:
    month = context.partition_key
    staged = candidates.stage_candidates(workarea.area, month, code_version=candidates.code_version())
    engine = state.engine()
    # The release run's launcher, as the sign-in proxy said (none for the schedule): may not approve it.
    launched_by = signed_in_user(context.run.tags)
    metadata: dict[str, dg.RawMetadataValue] = {}
    rows = ["| dataset | content hash (paste into `record_approval`) | checks |", "|---|---|---|"]
    for c in staged:
        ledger.record_candidate(
            engine, c.dataset, month, c.content_hash, context.run_id, c.checks_passed, launched_by
        )
        metadata[f"{c.dataset}_content_hash"] = dg.MetadataValue.text(c.content_hash)
        metadata[f"{c.dataset}_report"] = dg.MetadataValue.path(str(c.report_path))
        metadata[f"{c.dataset}_manifest"] = dg.MetadataValue.path(str(c.manifest_path))
        rows.append(f"| {c.dataset} | `{c.content_hash}` | {'passed' if c.checks_passed else 'FAILED'} |")
        context.log.info(f"staged {c.dataset} {month} candidate {c.content_hash}")
    metadata["candidates"] = dg.MetadataValue.md("\n".join(rows))
    return dg.MaterializeResult(metadata=metadata)
