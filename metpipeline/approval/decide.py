"""The data owner's decision on a release candidate, with every refusal explained.

Used by the Launchpad job and by `metpipeline approve`. The approver name is validated against the owners
registry but not authenticated (open-source Dagster has no login): production puts an authenticating
proxy in front of the UI, and the ledger records the name and the registry version used.
"""

import re

import sqlalchemy as sa

from metpipeline.approval import ledger
from metpipeline.approval.registry import Registry, normalise_name

DECISIONS = ("approve", "reject")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_HASH = re.compile(r"^[0-9a-f]{64}$")


class DecisionRefused(ValueError):
    """The decision was not recorded. The message says why and what to do instead."""


def record_decision(
    engine: sa.Engine,
    registry: Registry,
    dataset: str,
    month: str,
    decision: str,
    approver: str,
    comment: str,
    candidate_hash: str,
) -> ledger.Decision:
    decision = decision.strip().lower()
    if decision not in DECISIONS:
        raise DecisionRefused(f"decision must be 'approve' or 'reject', not {decision!r}")
    if not _MONTH.match(month or ""):
        raise DecisionRefused(f"month {month!r} is not a release month: use YYYY-MM, e.g. 2024-03")
    if dataset not in registry.datasets:
        raise DecisionRefused(
            f"dataset {dataset!r} is not in the owners registry {registry.source}; "
            f"known datasets: {', '.join(sorted(registry.datasets))}"
        )
    name = normalise_name(approver or "")
    allowed = registry.approvers(dataset)
    if name not in allowed:
        who = "; ".join(registry.describe(n) for n in allowed)
        raise DecisionRefused(
            f"{approver!r} is not registered to decide on the {dataset} dataset "
            f"(owners registry {registry.source}, version {registry.version}). Registered: {who}. "
            "Ask a registered owner or deputy, or have the registry updated."
        )

    current = ledger.current_candidate(engine, dataset, month)
    if current is None:
        raise DecisionRefused(
            f"no release candidate is staged for {dataset} {month}: materialise release_candidates "
            f"for partition {month} first"
        )
    candidate_hash = (candidate_hash or "").strip().lower()
    if candidate_hash != current.content_hash:
        shown = candidate_hash or "(none given)"
        raise DecisionRefused(
            f"candidate {shown} is not the current candidate for {dataset} {month}; the current one is "
            f"{current.content_hash} (staged {current.staged_at:%Y-%m-%d %H:%M:%S} UTC). Review that "
            "candidate's report and decide on its hash."
        )
    if not current.checks_passed:
        raise DecisionRefused(
            f"candidate {current.content_hash} for {dataset} {month} did not pass all its checks and "
            "cannot be approved or rejected; fix the data or the checks and rebuild the month"
        )
    earlier = ledger.decision_for(engine, dataset, month, current.content_hash)
    if earlier is not None:
        raise DecisionRefused(_already_decided(dataset, month, earlier))
    try:
        return ledger.insert_decision(
            engine, dataset, month, current.content_hash, decision, name, comment or "", registry.version
        )
    except sa.exc.IntegrityError:
        # Two decisions raced: the database's UNIQUE constraint let exactly one in.
        earlier = ledger.decision_for(engine, dataset, month, current.content_hash)
        raise DecisionRefused(_already_decided(dataset, month, earlier)) from None


def _already_decided(dataset: str, month: str, earlier: ledger.Decision | None) -> str:
    what = earlier.describe() if earlier else "by another request"
    return (
        f"candidate {earlier.content_hash if earlier else ''} for {dataset} {month} was already decided: "
        f"{what}. Decisions are final; rebuild the month to get a new candidate if it must change."
    )
