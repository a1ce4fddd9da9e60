"""The approval sensor: publishes every approved, current candidate that is not what the public sees yet.

Each tick looks at every (dataset, month) with a decision, not only at new decisions, so that a publish
run that failed, was cancelled or died is retried (with backoff, up to a limit: publish/retry.py), and a
candidate whose approvals complete later, or whose figures come back after a revert, is published too.
"""

import json
from datetime import UTC, datetime

import dagster as dg

from metpipeline.approval.decision_job import decision_link
from metpipeline.governance import ledger
from metpipeline.governance.decide import approvals_completed_at, publication_problem
from metpipeline.governance.registry import RegistryError
from metpipeline.notify import Notice, send
from metpipeline.publish import retry
from metpipeline.publish.anchor import rollback_problem
from metpipeline.publish.catalog import publication_time
from metpipeline.publish.jobs import PUBLISH_OP, publish_job
from metpipeline.resources import GovernanceResource, PublicationResource, StateResource
from metpipeline.settings import ConfigError

PUBLISH_RUNS = "/locations/metpipeline/jobs/publish_job/runs"  # the publish runs' page in the UI


@dg.sensor(
    job=publish_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches publish_job for each release candidate whose required approvals are complete "
    "and which the public does not see yet, after verifying the sealed ledger, the registry in force and "
    "that the candidate is still current; retries failed publish runs with backoff.",
)
def approval_sensor(
    context: dg.SensorEvaluationContext,
    state: StateResource,
    governance: GovernanceResource,
    publication: PublicationResource,
) -> dg.SensorResult | dg.SkipReason:
    engine = state.engine()
    try:
        registry, key = governance.registry(), governance.ledger_key(context.log.info)
        public = publication.settings()
    except (RegistryError, ConfigError) as exc:
        return dg.SkipReason(f"cannot evaluate decisions: {exc}")
    requests, notes = [], []
    notified: dict[str, int] = json.loads(context.cursor or "{}")
    for dataset, month in ledger.decided_months(engine):
        current = ledger.current_candidate(engine, dataset, month)
        if current is None or ledger.publication_for(engine, dataset, month, current.content_hash):
            continue  # nothing staged, or the public already sees this candidate
        chash = current.content_hash
        problem = publication_problem(engine, key, registry, dataset, month, chash) or rollback_problem(
            context.instance, current
        )
        if problem:
            if "altered outside the pipeline" in problem or "was removed from the state database" in problem:
                context.log.error(problem)
                notes.append(problem)
            elif ledger.decisions_for(engine, dataset, month, chash):
                notes.append(problem)  # decided on, but not publishable (yet): say why
            continue
        due = publication_time(approvals_completed_at(engine, dataset, month, chash), public.release_time)
        if datetime.now(UTC) < due:
            notes.append(
                f"{dataset} {month}: approved; published at the release time {due:%Y-%m-%d %H:%M} London"
            )
            continue
        published = ledger.current_publication(engine, dataset, month)
        attempt_of = retry.publication_key(dataset, month, chash, published.version if published else 0)
        plan = retry.plan(context.instance, attempt_of, public.max_attempts, public.backoff_seconds)
        if plan.attention:
            context.log.error(f"{dataset} {month} needs attention: {plan.reason}")
            notes.append(f"{dataset} {month} NEEDS ATTENTION: {plan.reason}")
            # Tell the owners once per failed attempt (the cursor remembers), not on every tick.
            if notified.get(attempt_of) != plan.attempt:
                notice = Notice(
                    f"MPS crime data {month}: publication of {dataset} needs attention",
                    f"The approved {dataset} {month} release could not be published: {plan.reason}. It is "
                    "retried by itself; the data engineers see the runs at "
                    f"{governance.ui_base_url}{PUBLISH_RUNS}",
                    decision_link(governance.ui_base_url, month),
                    registry.recipients([dataset]),
                )
                send(notice, context.log)
                notified[attempt_of] = plan.attempt
        if plan.action == "wait":
            if not plan.attention:
                notes.append(f"{dataset} {month}: {plan.reason}")
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"publish:{attempt_of}:attempt-{plan.attempt}",
                run_config={
                    "ops": {
                        PUBLISH_OP: {"config": {"dataset": dataset, "month": month, "candidate_hash": chash}}
                    }
                },
                tags={
                    "metpipeline/dataset": dataset,
                    "metpipeline/month": month,
                    retry.ATTEMPT_TAG: attempt_of,
                    "metpipeline/publish_attempt": str(plan.attempt),
                    **({"metpipeline/needs_attention": plan.reason} if plan.attention else {}),
                },
            )
        )
    cursor = json.dumps(notified, sort_keys=True)
    if not requests:
        return dg.SensorResult(skip_reason="; ".join(notes) or "nothing to publish", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
