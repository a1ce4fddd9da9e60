"""The approval sensor: launches one publish run for each candidate whose approvals are complete."""

import dagster as dg

from metpipeline.approval import ledger
from metpipeline.approval.decide import publication_problem
from metpipeline.approval.registry import RegistryError
from metpipeline.publish.jobs import PUBLISH_OP, publish_job
from metpipeline.resources import GovernanceResource, StateResource
from metpipeline.settings import ConfigError


@dg.sensor(
    job=publish_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches publish_job for each release candidate whose required approvals are complete, "
    "after verifying the sealed ledger, the registry in force and that the candidate is still current.",
)
def approval_sensor(
    context: dg.SensorEvaluationContext, state: StateResource, governance: GovernanceResource
) -> dg.SensorResult | dg.SkipReason:
    # The cursor is the id of the last decision examined. Ids only grow (append-only ledger), so every
    # decision is looked at once; the run_key also makes Dagster drop a duplicate request. With n-of-m
    # approval, the decision that completes the set is the one that launches the run.
    last_id = int(context.cursor or 0)
    engine = state.engine()
    decisions = ledger.decisions_after(engine, last_id)
    if not decisions:
        return dg.SkipReason(f"no new decisions after id {last_id}")
    try:
        registry, key = governance.registry(), governance.ledger_key(context.log.info)
    except (RegistryError, ConfigError) as exc:
        # Leave the cursor where it is: these decisions are evaluated again once the setting is fixed.
        return dg.SkipReason(f"cannot evaluate decisions: {exc}")
    requests: dict[str, dg.RunRequest] = {}
    skipped = []
    for d in decisions:
        problem = publication_problem(engine, key, registry, d.dataset, d.month, d.content_hash)
        if problem:
            skipped.append(f"decision {d.id}: {problem}")
            (context.log.error if "altered outside the pipeline" in problem else context.log.info)(
                f"decision {d.id} not published: {problem}"
            )
            continue
        run_key = f"publish:{d.dataset}:{d.month}:{d.content_hash}"
        requests[run_key] = dg.RunRequest(
            run_key=run_key,
            run_config={
                "ops": {
                    PUBLISH_OP: {
                        "config": {
                            "dataset": d.dataset,
                            "month": d.month,
                            "candidate_hash": d.content_hash,
                        }
                    }
                }
            },
            tags={"metpipeline/dataset": d.dataset, "metpipeline/month": d.month},
        )
    cursor = str(decisions[-1].id)
    if not requests:
        return dg.SensorResult(skip_reason="; ".join(skipped), cursor=cursor)
    return dg.SensorResult(run_requests=list(requests.values()), cursor=cursor)
