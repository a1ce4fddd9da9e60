"""The data owner's decision on a release candidate, and the rules a candidate must meet to be published.

Used by the Launchpad job, by `metpipeline approve`, by the approval sensor and by the publish job, so that
the same rules are checked when a decision is recorded and again, from the ledger, at publication:
- the approver is registered (owner or deputy) for the dataset in the registry in force, and the decision
  was made under that same registry file (path and sha256);
- when the sign-in proxy is configured, the approver is the signed-in user who launched the decision;
- the approver launched no run that staged the candidate's bytes (four eyes: every launcher, for good);
- the candidate is the current one (its staging sealed and chained) and passed its checks;
- figures that were public before and come back are published only on decisions made after the version
  they replace (a decision records the version public when it was made);
- the registry's `approvals_required` distinct people approved it, and nobody rejected it;
- the dataset's decisions and stagings are intact (sealed and chained; see seal.py).
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from metpipeline.governance import ledger
from metpipeline.governance.registry import Registry, normalise_name

DECISIONS = ("approve", "reject")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class DecisionRefused(ValueError):
    """The decision was not recorded. The message says why and what to do instead."""


@dataclass(frozen=True)
class Identity:
    """Who launched the decision, as far as the pipeline can know."""

    signed_in_user: str | None  # from the sign-in proxy (run tag set by `metpipeline ui`), else None
    required: bool  # the deployment has a sign-in proxy: an approval must come through it

    @property
    def authentication(self) -> str:
        return ledger.AUTHENTICATED if self.signed_in_user else ledger.UNAUTHENTICATED


UNAUTHENTICATED = Identity(signed_in_user=None, required=False)


def identity_of_sealed(sealed, proxy_configured: bool) -> Identity:
    """Who launched a decision run, as its identity seal attests (runseal.py). A decision is a person's:
    a run the schedule or a sensor launched decides nothing. The signed-in user counts where the deployment
    has a sign-in proxy; without one nobody is signed in and the decision is recorded as unauthenticated."""
    if sealed.via not in ("ui", "cli"):
        raise DecisionRefused(
            f"this run was launched by {sealed.describe()}, not by a person: a decision is taken by its "
            "owner in the Dagster UI"
        )
    if sealed.user and not proxy_configured:
        # The webserver is behind the sign-in proxy but the code location was not told: recording the
        # decision as unauthenticated would silently lose who made it.
        raise DecisionRefused(
            "this decision was signed in through the sign-in proxy, but the code location has no "
            "METPIPELINE_IDENTITY_HEADER: set the same header for the code location as for the webserver"
        )
    return Identity(sealed.user if proxy_configured else None, proxy_configured)


def valid_month(value: str) -> str:
    """A release month for a Launchpad form: YYYY-MM, or a message saying so."""
    if not _MONTH.match((value or "").strip()):
        raise ValueError(f"month {value!r} must be YYYY-MM, e.g. 2024-03")
    return value.strip()


@dataclass(frozen=True)
class Approvals:
    """Where a candidate stands: valid approvals under the registry in force, and what is still missing."""

    approvers: tuple[str, ...]
    required: int
    rejection: ledger.Decision | None
    stale: tuple[ledger.Decision, ...]  # decisions made under another registry file
    replaces: int = 0  # the public version these figures would replace (0: none, or they are public)

    @property
    def complete(self) -> bool:
        return self.rejection is None and len(self.approvers) >= self.required


def record_decision(*args, **kwargs) -> tuple[ledger.Decision, Approvals]:
    """Record one person's decision on the current candidate, or raise DecisionRefused saying why
    (arguments as `_decide`)."""
    decision, status = _decide(*args, **kwargs, dry_run=False)
    assert decision is not None  # recorded: a dry run alone returns none
    return decision, status


def check_decision(*args, **kwargs) -> Approvals:
    """Every check `record_decision` makes, recording nothing: how the webserver reviews a decision at
    launch, so that a refusal is a sentence on the Launchpad rather than a failed run."""
    return _decide(*args, **kwargs, dry_run=True)[1]


def _decide(
    engine: sa.Engine,
    key: bytes,
    registry: Registry,
    dataset: str,
    month: str,
    decision: str,
    approver: str,
    comment: str,
    candidate_hash: str,
    *,
    identity: Identity = UNAUTHENTICATED,
    run_id: str = "",
    checklist: str = "",
    dry_run: bool = False,
) -> tuple[ledger.Decision | None, Approvals]:
    """`checklist`: the owner's checklist answers as JSON text (recorded and sealed with the decision).
    `dry_run`: make every check and record nothing (the decision is then None)."""
    decision = (decision or "").strip().lower()
    dataset = (dataset or "").strip().lower()
    month = (month or "").strip()
    if decision not in DECISIONS:
        raise DecisionRefused(f"decision must be 'approve' or 'reject', not {decision!r}")
    if not _MONTH.match(month):
        raise DecisionRefused(f"month {month!r} is not a release month: use YYYY-MM, e.g. 2024-03")
    if dataset not in registry.datasets:
        raise DecisionRefused(
            f"dataset {dataset!r} is not in the owners registry; the datasets are: "
            f"{', '.join(sorted(registry.datasets))}"
        )
    name = normalise_name(approver or "")
    allowed = registry.approvers(dataset)
    if name not in allowed:
        import difflib

        who = "; ".join(registry.describe(n) for n in allowed)
        close = difflib.get_close_matches(name, list(registry.people), n=1, cutoff=0.6)
        typo = f" (did you mean {close[0]}?)" if close and close[0] != name else ""
        raise DecisionRefused(
            f"{approver!r}{typo} is not registered to decide on the {dataset} dataset "
            f"(owners registry version {registry.version}). Registered: {who}. "
            "Ask a registered owner or deputy, or have the registry updated."
        )
    check_identity(identity, name)

    broken = ledger.verify_candidates(engine, key, dataset)
    if broken:
        raise DecisionRefused(_broken_ledger(dataset, broken))
    current = ledger.current_candidate(engine, dataset, month)
    if current is None:
        raise DecisionRefused(
            f"no release candidate is staged for {dataset} {month}: materialise release_candidates "
            f"for partition {month} first"
        )
    candidate_hash = (candidate_hash or "").strip().lower()
    if candidate_hash != current.content_hash:
        # Never print the current hash here: an owner must open the candidate to learn it.
        shown = candidate_hash[:12] or "(none given)"
        raise DecisionRefused(
            f"candidate {shown}… is not the current candidate for {dataset} {month} (it was rebuilt, or the "
            "hash was mistyped). Open the latest release_candidates materialization, read its report, and "
            "decide on the hash shown there."
        )
    if not current.checks_passed:
        raise DecisionRefused(
            f"the {dataset} {month} candidate did not pass all its checks and cannot be decided on; fix "
            "the data or the checks and rebuild the month"
        )
    _check_four_eyes(engine, current, name, identity)
    broken = ledger.verify_chain(engine, key, dataset)
    if broken:
        raise DecisionRefused(_broken_ledger(dataset, broken))

    public = ledger.current_publication(engine, dataset, month)
    public_version = public.version if public else 0
    status = approvals(engine, registry, current)
    if status.rejection is not None:
        raise DecisionRefused(
            f"the {dataset} {month} candidate was rejected ({status.rejection.describe()}); a rejected "
            "candidate stays rejected. Rebuild the month to get a new candidate."
        )
    if name in status.approvers or ledger.decisions_by(
        engine, dataset, month, candidate_hash, name, registry.sha256, public_version
    ):
        raise DecisionRefused(
            f"{name} has already decided on the {dataset} {month} candidate; decisions are final"
            + (
                f" ({len(status.approvers)} of {status.required} approvals so far)"
                if status.required > 1
                else ""
            )
        )
    if dry_run:
        return None, status
    try:
        recorded = ledger.append_decision(
            engine,
            key,
            dataset=dataset,
            month=month,
            content_hash=current.content_hash,
            decision=decision,
            approver=name,
            authentication=identity.authentication,
            signed_in_user=identity.signed_in_user,
            comment=comment or "",
            registry_path=registry.source,
            registry_sha256=registry.sha256,
            registry_version=registry.version,
            run_id=run_id,
            checklist=checklist,
            public_version=public_version,
        )
    except sa.exc.IntegrityError:
        raise DecisionRefused(
            f"{name} has already decided on the {dataset} {month} candidate; decisions are final"
        ) from None
    return recorded, approvals(engine, registry, current)


def check_identity(identity: Identity, name: str) -> None:
    if not identity.required:
        return
    if not identity.signed_in_user:
        raise DecisionRefused(
            "this decision did not come through the sign-in proxy, so nobody is signed in to it; open the "
            "Dagster UI at its production address and launch the decision there"
        )
    if normalise_name(identity.signed_in_user) != name:
        raise DecisionRefused(
            f"you are signed in as {identity.signed_in_user!r} but typed approver {name!r}; an owner "
            "decides under their own name only"
        )


def _check_four_eyes(engine: sa.Engine, current: ledger.Candidate, name: str, identity: Identity) -> None:
    launchers = ledger.launchers_of(engine, current.dataset, current.month, current.content_hash)
    people = {normalise_name(p) for p in launchers}
    if people & {name, normalise_name(identity.signed_in_user or "")} - {""}:
        raise DecisionRefused(
            f"{name} launched a run that staged this candidate and cannot also approve it "
            "(four eyes); ask another registered owner or deputy"
        )


def approvals(engine: sa.Engine, registry: Registry, current: ledger.Candidate) -> Approvals:
    """The candidate's approvals that hold under `registry`, re-checked from the ledger (not trusted).

    Not counted: decisions under another registry file, by people it no longer lists, by anyone who
    launched a run that staged these bytes, and, where another version is public now, decisions made
    before it was (figures that come back need a decision made after the version they replace)."""
    decisions = ledger.decisions_for(engine, current.dataset, current.month, current.content_hash)
    allowed = set(registry.approvers(current.dataset))
    launchers = {
        normalise_name(p)
        for p in ledger.launchers_of(engine, current.dataset, current.month, current.content_hash)
    }
    public = ledger.current_publication(engine, current.dataset, current.month)
    floor = public.version if public is not None and public.content_hash != current.content_hash else 0
    valid, stale, rejection = [], [], None
    for d in decisions:
        if d.registry_sha256 != registry.sha256 or d.registry_path != registry.source:
            stale.append(d)
            continue
        if d.approver not in allowed or d.approver in launchers:
            continue
        if d.decision == "reject":
            rejection = rejection or d
        elif d.public_version < floor:
            continue  # made before the version these figures would replace was public
        elif d.approver not in valid:
            valid.append(d.approver)
    return Approvals(tuple(valid), registry.required(current.dataset), rejection, tuple(stale), floor)


def publication_problem(
    engine: sa.Engine, key: bytes, registry: Registry, dataset: str, month: str, chash: str
) -> str | None:
    """Why this candidate may not be published now, or None. Checked by the sensor and again by the publish
    job immediately before anything is written: nothing reaches the public that the registered owners did
    not approve byte for byte, under the registry in force, in an intact ledger."""
    broken = ledger.verify_chain(engine, key, dataset) + ledger.verify_candidates(engine, key, dataset)
    if broken:
        return _broken_ledger(dataset, broken)
    rejection = next(
        (d for d in ledger.decisions_for(engine, dataset, month, chash) if d.decision == "reject"), None
    )
    if rejection is not None:
        return f"{dataset} {month} candidate {chash[:12]}… was rejected ({rejection.describe()})"
    current = ledger.current_candidate(engine, dataset, month)
    if current is None or current.content_hash != chash:
        return (
            f"{dataset} {month} candidate {chash[:12]}… is no longer the current candidate (the month was "
            "rebuilt); the current candidate needs its own approval"
        )
    if not current.checks_passed:
        return f"{dataset} {month} candidate {chash[:12]}… did not pass its checks"
    status = approvals(engine, registry, current)
    if status.rejection is not None:
        return f"{dataset} {month} candidate {chash[:12]}… was rejected ({status.rejection.describe()})"
    if not status.complete:
        missing = status.required - len(status.approvers)
        have = ", ".join(status.approvers) or "nobody"
        stale = (
            "; approvals given under an earlier owners registry no longer count ("
            + ", ".join(d.approver for d in status.stale)
            + "): the owners must decide again under the registry in force"
            if status.stale
            else ""
        )
        again = (
            f"; these figures were public before v{status.replaces} and come back: only decisions made "
            f"after v{status.replaces} was published count, so the owners decide again"
            if status.replaces and ledger.was_published(engine, dataset, month, chash)
            else ""
        )
        return (
            f"{dataset} {month} candidate {chash[:12]}… has {len(status.approvers)} of {status.required} "
            f"required approval(s) (approved by {have}); waiting for {missing} more{stale}{again}"
        )
    return None


def approvals_completed_at(engine: sa.Engine, dataset: str, month: str, chash: str) -> datetime:
    """When the candidate's approvals completed: its latest approval, aware UTC (ledger times are naive UTC).
    The release time is counted from it on every path that publishes."""
    times = [
        d.decided_at for d in ledger.decisions_for(engine, dataset, month, chash) if d.decision == "approve"
    ]
    return max(times).replace(tzinfo=UTC) if times else datetime.now(UTC)


def _broken_ledger(dataset: str, problems: list[str]) -> str:
    return (
        f"the {dataset} decisions or stagings in the ledger were altered outside the pipeline, so nothing of "
        f"{dataset} is published until an administrator investigates: " + "; ".join(problems)
    )
