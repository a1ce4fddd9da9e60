"""When a publish run is due for an approved candidate: first try, retry with backoff, or needs attention.

Read from the Dagster instance's own run records (runs tagged with the candidate), so a run that failed,
was cancelled or was marked failed by run monitoring after its process died is retried by the next sensor
tick, and one that is still queued or running is left alone.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg

from metpipeline import settings

ATTEMPT_TAG = "metpipeline/publish_of"
_IN_FLIGHT = {
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
}
_FAILED = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@dataclass(frozen=True)
class Plan:
    action: str  # "launch" or "wait"
    attempt: int  # the attempt a launch would be (1 = first try)
    reason: str
    attention: bool = False  # failed as often as the limit allows: a person should look


def publication_key(dataset: str, month: str, chash: str, published_version: int) -> str:
    """Names one publication to be made: this candidate, on top of what is public now (a revert publishes
    the same candidate again, after a newer version)."""
    return f"{dataset}:{month}:{chash}:after-v{published_version}"


def plan(
    instance: dg.DagsterInstance, key: str, max_attempts: int, backoff: int, now: datetime | None = None
) -> Plan:
    """What to do about one publication: `max_attempts` and `backoff` (seconds, doubling) are the
    deployment's (PublicationResource)."""
    records = instance.get_run_records(filters=dg.RunsFilter(tags={ATTEMPT_TAG: key}))
    if any(r.dagster_run.status in _IN_FLIGHT for r in records):
        return Plan("wait", len(records), "a publish run is queued or running")
    failed = [r for r in records if r.dagster_run.status in _FAILED]
    if not failed:
        return Plan("launch", 1, "approved and not yet published")
    # Past the limit the candidate needs attention, but is still tried at the longest interval, so it is
    # published without a person once the fault is gone.
    attention = len(failed) >= max_attempts
    wait = backoff * 2 ** (min(len(failed), max_attempts) - 1)
    last_end = max((r.end_time or r.create_timestamp.timestamp()) for r in failed)
    now_ts = (now or datetime.now(UTC)).timestamp()
    note = (
        f"publication failed {len(failed)} times (limit {settings.PUBLISH_MAX_ATTEMPTS.name}="
        f"{max_attempts}); see the failed publish_job runs and fix the cause: it is retried every "
        f"{wait} s meanwhile"
        if attention
        else f"retry {len(failed) + 1} after {len(failed)} failed run(s)"
    )
    if now_ts < last_end + wait:
        return Plan("wait", len(failed) + 1, f"{note}; next in {last_end + wait - now_ts:.0f} s", attention)
    return Plan("launch", len(failed) + 1, note, attention)
