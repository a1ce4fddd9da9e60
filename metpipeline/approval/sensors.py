"""The approval sensor: turns each new approval in the ledger into exactly one publish run."""

import dagster as dg

from metpipeline.approval import ledger
from metpipeline.publish.jobs import PUBLISH_OP, approval_problem, publish_job
from metpipeline.resources import StateResource


@dg.sensor(
    job=publish_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches publish_job for each approved, still-current release candidate.",
)
def approval_sensor(
    context: dg.SensorEvaluationContext, state: StateResource
) -> dg.SensorResult | dg.SkipReason:
    # The cursor is the id of the last decision examined. Ids only grow (append-only ledger), so every
    # decision is looked at once; the run_key also makes Dagster drop a duplicate request.
    last_id = int(context.cursor or 0)
    engine = state.engine()
    decisions = ledger.decisions_after(engine, last_id)
    if not decisions:
        return dg.SkipReason(f"no new decisions after id {last_id}")
    requests, skipped = [], []
    for d in decisions:
        problem = approval_problem(engine, d.dataset, d.month, d.content_hash)
        if problem:
            skipped.append(problem)
            context.log.info(f"decision {d.id} skipped: {problem}")
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"publish:{d.dataset}:{d.month}:{d.content_hash}",
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
        )
    cursor = str(decisions[-1].id)
    if not requests:
        return dg.SensorResult(skip_reason="; ".join(skipped), cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
