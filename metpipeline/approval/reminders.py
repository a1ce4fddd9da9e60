"""Reminders: owners are reminded of a release still waiting for their decision after
METPIPELINE_REMINDER_DAYS days (then once a day), and a release-calendar date that passed without a new
release is shown in catalog.json, so the public sees the delay too."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from metpipeline.approval import release_notice
from metpipeline.approval.candidates import DATASETS
from metpipeline.approval.decision_job import SHORT, decision_link
from metpipeline.bucket import PreconditionFailed, StoreError, open_store
from metpipeline.governance import ledger
from metpipeline.governance.decide import approvals
from metpipeline.notify import send
from metpipeline.resources import BucketResource, GovernanceResource, StateResource


def waiting(engine, registry, month: str) -> dict[str, ledger.Candidate]:
    """The month's current candidates that passed their checks and still wait for a decision."""
    out = {}
    for dataset in DATASETS:
        current = ledger.current_candidate(engine, dataset, month)
        if current is None or not current.checks_passed:
            continue
        if ledger.publication_for(engine, dataset, month, current.content_hash):
            continue
        status = approvals(engine, registry, current)
        if status.rejection is None and not status.complete:
            out[dataset] = current
    return out


def mark_overdue(store, now: datetime) -> list[str]:
    """Datasets whose catalogue entry's next scheduled release has passed: flag them in catalog.json."""
    for _ in range(5):
        obj = store.get("catalog.json")
        if obj is None:
            return []
        catalog = json.loads(obj.data)
        overdue = []
        for entry in catalog.get("datasets", []):
            due = datetime.fromisoformat(entry["next_scheduled_release"])
            if now > due and entry.get("release_overdue_since") != entry["next_scheduled_release"]:
                entry["release_overdue_since"] = entry["next_scheduled_release"]
                overdue.append(entry["dataset"])
        if not overdue:
            return []
        data = (json.dumps(catalog, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            store.put_if_match("catalog.json", data, obj.etag)
            return overdue
        except PreconditionFailed:
            continue
    return []


@dg.sensor(
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reminds the owners of a release waiting for their decision (after METPIPELINE_REMINDER_DAYS "
    "days, then daily) and marks a missed release-calendar date in catalog.json.",
)
def approval_reminder(
    context: dg.SensorEvaluationContext,
    state: StateResource,
    governance: GovernanceResource,
    bucket: BucketResource,
) -> dg.SkipReason:
    now = datetime.now(UTC)
    days = governance.reminder_days
    reminded: dict[str, str] = json.loads(context.cursor or "{}")
    engine = state.engine()
    registry = governance.registry()
    notes = []
    for month in sorted({m for _, m in ledger.staged_months(engine)})[-3:]:
        open_candidates = waiting(engine, registry, month)
        if not open_candidates:
            continue
        staged = min(c.staged_at for c in open_candidates.values()).replace(tzinfo=UTC)
        if now - staged < timedelta(days=days) or reminded.get(month) == now.date().isoformat():
            continue
        shown = {d: c.content_hash[:SHORT] for d, c in open_candidates.items()}
        notice = release_notice.reminder_notice(
            month,
            list(shown),
            (now - staged).days,
            registry.recipients(shown),
            decision_link(governance.ui_base_url, month),
        )
        outcome = send(notice, context.log)
        reminded[month] = now.date().isoformat()
        notes.append(f"reminded the owners of {month} ({', '.join(sorted(shown))}): {outcome}")
    try:
        overdue = mark_overdue(open_store(bucket.validated_url(), bucket.endpoint_url or None), now)
    except StoreError as exc:
        overdue, notes = [], [*notes, f"could not check the release dates in catalog.json: {exc}"]
    if overdue:
        notes.append(f"release date missed: {', '.join(overdue)} (marked in catalog.json)")
    context.update_cursor(json.dumps(reminded))
    return dg.SkipReason("; ".join(notes) or "no release waiting longer than the reminder period")
