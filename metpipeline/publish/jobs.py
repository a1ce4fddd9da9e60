"""The publish job: put one approved candidate in the bucket. Launched by the approval sensor."""

import dagster as dg
from pydantic import Field

from metpipeline.approval import ledger
from metpipeline.approval.candidates import CandidateError
from metpipeline.approval.jobs import DatasetSlug
from metpipeline.publish.publisher import PublishError, publish_candidate
from metpipeline.publish.store import StoreError, open_store
from metpipeline.resources import BucketResource, StateResource, WorkAreaResource

PUBLISH_OP = "publish_candidate_op"


class PublishConfig(dg.Config):
    dataset: DatasetSlug = Field(description="Dataset slug.")
    month: str = Field(description="Release month, YYYY-MM.")
    candidate_hash: str = Field(description="Content hash of the approved candidate.")


def approval_problem(engine, dataset: str, month: str, chash: str) -> str | None:
    """Why this candidate may not be published, or None. Nothing reaches the public that the owner did not
    approve byte for byte, and a candidate superseded by a rebuild is not published on an old approval."""
    decision = ledger.decision_for(engine, dataset, month, chash)
    if decision is None:
        return (
            f"no decision is recorded for {dataset} {month} candidate {chash}; the data owner must approve it"
        )
    if decision.decision != "approve":
        return (
            f"{dataset} {month} candidate {chash} was rejected ({decision.describe()}); "
            "it will not be published"
        )
    current = ledger.current_candidate(engine, dataset, month)
    if current is None or current.content_hash != chash:
        now = current.content_hash if current else "none"
        return (
            f"{dataset} {month} candidate {chash} was approved but is no longer current (current: {now}); "
            "the current candidate needs its own approval"
        )
    return None


@dg.op(description="Verify the approval and the candidate's bytes, then publish it as a new version.")
def publish_candidate_op(
    context: dg.OpExecutionContext,
    config: PublishConfig,
    state: StateResource,
    bucket: BucketResource,
    workarea: WorkAreaResource,
) -> None:
    dataset, month, chash = config.dataset.value, config.month, config.candidate_hash.strip().lower()
    engine = state.engine()
    problem = approval_problem(engine, dataset, month, chash)
    if problem:
        raise dg.Failure(description=f"Not published: {problem}")
    store = open_store(bucket.validated_url(), bucket.endpoint_url or None)
    try:
        result = publish_candidate(store, workarea.area, dataset, month, chash)
    except (CandidateError, PublishError, StoreError) as exc:
        raise dg.Failure(description=f"Not published: {exc}") from None
    ledger.record_publication(engine, dataset, month, chash, result.version)
    context.log.info(
        f"{dataset} {month}: v{result.version} at {result.prefix}"
        + (" (already published; nothing changed)" if result.already_published else "")
    )
    context.add_output_metadata(
        {
            "version": result.version,
            "prefix": dg.MetadataValue.text(result.prefix),
            "already_published": result.already_published,
            "files": dg.MetadataValue.json(list(result.files)),
        }
    )


@dg.job(
    name="publish_job",
    description="Publish one approved release candidate (dataset, month, content hash) to the bucket.",
    tags={"metpipeline/kind": "publish"},
    executor_def=dg.in_process_executor,  # one op: no need to re-import the code location for it
)
def publish_job():
    publish_candidate_op()
