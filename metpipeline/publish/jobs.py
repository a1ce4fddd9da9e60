"""The publish job: put one approved candidate in the bucket. Launched by the approval sensor."""

import hashlib
import json
from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from metpipeline import settings
from metpipeline.approval.candidates import DATASETS, CandidateError
from metpipeline.approval.decision_job import decision_link
from metpipeline.bucket import StoreError, open_store
from metpipeline.governance import ledger
from metpipeline.governance.decide import approvals_completed_at, publication_problem
from metpipeline.governance.registry import RegistryError
from metpipeline.notify import Notice, send
from metpipeline.publish.anchor import rollback_problem
from metpipeline.publish.assets import published_key
from metpipeline.publish.catalog import publication_time
from metpipeline.publish.publisher import BUCKET_SLUGS, MANIFEST, PublishError, publish_candidate
from metpipeline.publish.verify import verify_dataset
from metpipeline.resources import (
    BucketResource,
    GovernanceResource,
    PublicationResource,
    StateResource,
    WorkAreaResource,
)
from metpipeline.settings import ConfigError

PUBLISH_OP = "publish_candidate_op"


class PublishConfig(dg.Config):
    dataset: str = Field(description=f"Dataset slug: one of {', '.join(DATASETS)}.")
    month: str = Field(description="Release month, YYYY-MM.")
    candidate_hash: str = Field(description="Content hash of the approved candidate.")


def pre_release_access(engine, dataset: str, month: str, chash: str) -> list[dict]:
    """Who saw the figures before publication, and since when (Code of Practice for Statistics): everyone
    who launched a run that staged these bytes (or the schedule), and each person who decided on them."""
    launchers = ledger.launchers_of(engine, dataset, month, chash)
    first = ledger.first_staged_at(engine, dataset, month, chash)
    access = [
        {"who": who, "role": "launched a release run", "since": f"{since:%Y-%m-%dT%H:%M:%S}Z"}
        for who, since in sorted(launchers.items(), key=lambda item: (item[1], item[0]))
    ]
    if not access and first is not None:
        access.append(
            {
                "who": "scheduled release run (no person)",
                "role": "launched the release run",
                "since": f"{first:%Y-%m-%dT%H:%M:%S}Z",
            }
        )
    for d in ledger.decisions_for(engine, dataset, month, chash):
        access.append(
            {
                "who": d.approver,
                "role": f"data owner ({d.decision}, {d.authentication})",
                "since": f"{d.decided_at:%Y-%m-%dT%H:%M:%S}Z",
            }
        )
    return access


def publication_metadata(store, result, approvals: list[str], base: str) -> dict:
    """What the Catalog shows of a published month: read back from the bucket (latest.json's entry for the
    version and the version's manifest)."""
    slug = BUCKET_SLUGS[result.dataset]
    latest = json.loads(store.get(f"datasets/{slug}/latest.json").data)
    entry = next(v for v in latest.get("versions", []) if v.get("version") == result.version)
    manifest = store.get(result.prefix + MANIFEST).data
    files = json.loads(manifest).get("files", [])
    return {
        "version": result.version,
        "public_url": dg.MetadataValue.url(f"{base}/{result.prefix}") if base else result.prefix,
        "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "candidate_hash": result.content_hash,
        "released_at": entry.get("released_at", ""),
        "reverts_to_version": entry.get("reverts_to_version", 0),
        "files": dg.MetadataValue.md(
            "\n".join(f"- {f['name']}: {f['bytes']:,} bytes, sha256 {f['sha256'][:12]}…" for f in files)
        ),
        "approved_by": dg.MetadataValue.md("\n".join(f"- {a}" for a in approvals)),
    }


@dg.op(description="Verify the approval and the candidate's bytes, then publish it as a new version.")
def publish_candidate_op(
    context: dg.OpExecutionContext,
    config: PublishConfig,
    state: StateResource,
    bucket: BucketResource,
    workarea: WorkAreaResource,
    governance: GovernanceResource,
    publication: PublicationResource,
) -> None:
    dataset, month = config.dataset.strip().lower(), config.month.strip()
    chash = config.candidate_hash.strip().lower()
    engine = state.engine()
    # Everything is verified again here, from the ledger and the registry in force, whatever launched this
    # run (the sensor, a re-execution or a hand-typed Launchpad config).
    try:
        problem = publication_problem(
            engine, governance.ledger_key(), governance.registry(), dataset, month, chash
        )
    except (RegistryError, ConfigError) as exc:
        raise dg.Failure(description=f"Not published: {exc}") from None
    problem = problem or rollback_problem(context.instance, ledger.current_candidate(engine, dataset, month))
    if problem:
        raise dg.Failure(description=f"Not published: {problem}")
    # The announced release time holds here, in the step that writes, so no path reaches the public before
    # it: the sensor, a Launchpad launch with the approved hash, `dagster job execute`, a re-execution of an
    # earlier publish run (Code of Practice for Statistics, orderly release).
    try:
        public = publication.settings()
        due = publication_time(approvals_completed_at(engine, dataset, month, chash), public.release_time)
    except ConfigError as exc:
        raise dg.Failure(description=f"Not published: {exc}") from None
    if datetime.now(UTC) < due:
        raise dg.Failure(
            description=f"Not published: {dataset} {month} is approved for the release time "
            f"{due:%A %-d %B %Y %H:%M} London ({settings.RELEASE_TIME.name}); nothing is published "
            "before it, on any path. The approval sensor publishes it then."
        )
    store = open_store(bucket.validated_url(), bucket.endpoint_url or None)
    try:
        result = publish_candidate(
            store,
            workarea.area,
            dataset,
            month,
            chash,
            publication=public,
            pre_release_access=pre_release_access(engine, dataset, month, chash),
        )
    except (CandidateError, PublishError, StoreError) as exc:
        raise dg.Failure(description=f"Not published: {exc}") from None
    ledger.record_publication(engine, dataset, month, chash, result.version)
    # Read back what the public now sees (a re-run of an already published candidate included: it used to
    # answer "already published" without looking).
    try:
        differences = verify_dataset(store, engine, dataset)
    except StoreError as exc:
        raise dg.Failure(description=f"Published, but the bucket could not be read back: {exc}") from None
    if differences:
        raise dg.Failure(
            description=f"{dataset} {month}: the bucket differs from what was published:\n"
            + "\n".join(f"- {d}" for d in differences)
        )
    approvals = [
        f"{d.describe()}"
        for d in ledger.decisions_for(engine, dataset, month, chash)
        if d.decision == "approve"
    ]
    context.log.info(
        f"{dataset} {month}: v{result.version} at {result.prefix}"
        + (" (already published; nothing changed)" if result.already_published else "")
    )
    if not result.already_published:
        # The owners hear that it is public, on the channels that asked them to decide.
        base = public.public_base_url
        notice = Notice(
            f"MPS crime data {month}: {dataset} published (version {result.version})",
            f"The approved {dataset} {month} release is public as version {result.version}.",
            f"{base}/{result.prefix}" if base else decision_link(governance.ui_base_url, month),
            governance.registry().recipients([dataset]),
        )
        send(notice, context.log)
    context.log_event(
        dg.AssetMaterialization(
            asset_key=published_key(dataset),
            partition=month,
            description=f"{dataset} {month} v{result.version}, as the public sees it",
            metadata=publication_metadata(store, result, approvals, public.public_base_url),
        )
    )
    context.add_output_metadata(
        {
            "version": result.version,
            "prefix": dg.MetadataValue.text(result.prefix),
            "already_published": result.already_published,
            "approved": dg.MetadataValue.md("\n".join(f"- {a}" for a in approvals)),
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
