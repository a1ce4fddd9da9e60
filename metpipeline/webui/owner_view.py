"""What a data owner sees of a month's release on the decision page, read from the ledger, the registry,
the staged candidates and the Dagster instance: which datasets wait for them, what changed since the
previous month, what each candidate holds, and what happens next. No Dagster or web imports: page.py
renders it.

The page holds no ledger key: it reads, and a decision is recorded by a `decide_release` run under the
server's identity seal, where every rule is checked again (decide.py)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from metpipeline import settings
from metpipeline.approval import checklist as checklist_mod
from metpipeline.approval.candidates import DATASETS, candidate_path
from metpipeline.catalogue import CATALOGUE
from metpipeline.governance import decide, ledger
from metpipeline.governance.registry import Registry, normalise_name
from metpipeline.publish.catalog import LONDON, publication_time
from metpipeline.resources import PublicationResource
from metpipeline.workarea import WorkArea

SHORT = 16  # hex digits of a candidate's hash bound into a decision (decision_job.SHORT)


@dataclass
class Movement:
    category: str
    before: int
    now: int

    @property
    def change(self) -> int:
        return self.now - self.before


@dataclass
class DatasetView:
    dataset: str
    title: str
    content_hash: str
    checks_passed: bool
    people: tuple[str, ...]  # who may decide (owners and deputies), as display names
    mine: bool  # the signed-in person may decide on it
    state: str  # what happens next, in words
    decided: bool  # nothing is left for the signed-in person to do
    files: list[tuple[str, int]] = field(default_factory=list)  # name, bytes
    movements: list[Movement] = field(default_factory=list)
    launched_by_me: bool = False

    @property
    def short(self) -> str:
        return self.content_hash[:SHORT]


def when(moment: datetime) -> str:
    """'09:30 on Tuesday 8 December' (London time), as a person says it."""
    local = moment.astimezone(LONDON)
    return f"{local:%H:%M} on {local:%A} {local.day} {local:%B}"


def waiting(engine: sa.Engine, registry: Registry, person: str | None) -> dict[str, list[str]]:
    """Months with candidates that wait for `person`'s decision (None: anyone's), newest first."""
    out: dict[str, list[str]] = {}
    for dataset, month in ledger.staged_months(engine):
        if dataset not in registry.datasets:
            continue
        if person and normalise_name(person) not in registry.approvers(dataset):
            continue
        current = ledger.current_candidate(engine, dataset, month)
        if current is None or not current.checks_passed:
            continue
        if ledger.publication_for(engine, dataset, month, current.content_hash):
            continue
        decided = ledger.decisions_for(engine, dataset, month, current.content_hash)
        if any(d.decision == "reject" for d in decided):
            continue
        if person and any(d.approver == normalise_name(person) for d in decided):
            continue
        status = decide.approvals(engine, registry, current)
        if status.complete:
            continue
        out.setdefault(month, []).append(dataset)
    return dict(sorted(out.items(), reverse=True))


def next_step(engine, registry: Registry, current: ledger.Candidate, instance=None) -> str:
    """What happens next to this candidate, in words."""
    dataset, month, chash = current.dataset, current.month, current.content_hash
    public = ledger.publication_for(engine, dataset, month, chash)
    if public is not None:
        return f"published as version {public.version} at {when(public.published_at.replace(tzinfo=UTC))}"
    if not current.checks_passed:
        return "its checks failed: it cannot be published; the data engineers rebuild the month"
    status = decide.approvals(engine, registry, current)
    if status.rejection is not None:
        return f"rejected by {status.rejection.approver}: it will not be published"
    if not status.complete:
        have = len(status.approvers)
        if have == 0:
            return f"waiting for a decision ({status.required} approval(s) needed)"
        return f"waiting for a second approver ({have} of {status.required} approvals)"
    calendar = PublicationResource().settings()  # the webserver's process: the deployment's settings
    due = publication_time(
        decide.approvals_completed_at(engine, dataset, month, chash), calendar.release_time
    )
    if datetime.now(UTC) < due:
        return f"approved: it will be published at {when(due)}"
    attempt = _failed_attempts(instance, dataset, month, chash, engine)
    if attempt:
        limit = calendar.max_attempts
        return f"publication failed, retrying (attempt {attempt + 1} of {limit})"
    return "approved: it is being published now"


def _failed_attempts(instance, dataset: str, month: str, chash: str, engine) -> int:
    if instance is None:
        return 0
    import dagster as dg

    from metpipeline.publish import retry

    public = ledger.current_publication(engine, dataset, month)
    key = retry.publication_key(dataset, month, chash, public.version if public else 0)
    runs = instance.get_runs(filters=dg.RunsFilter(tags={retry.ATTEMPT_TAG: key}))
    return sum(r.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED) for r in runs)


def largest_movements(area: WorkArea, dataset: str, month: str, chash: str, top: int = 8) -> list[Movement]:
    """The month against the month before, by category, largest movements first: the published figures of
    the candidate's tidy file (suppressed cells count as nothing)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = candidate_path(area, month, dataset, chash) / f"{dataset}-tidy.parquet"
    if not path.is_file():
        return []
    names = pq.read_schema(path).names
    category = "minor" if "minor" in names else ("flag" if "flag" in names else None)
    if category is None:
        return []
    year, mon = int(month[:4]), int(month[5:7])
    before = f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"
    table = pq.read_table(
        path, columns=["month", category, "count"], filters=[("month", "in", [month, before])]
    )
    totals: dict[str, list[int]] = {}
    counts = pc.fill_null(table.column("count"), 0).to_pylist()
    for m, c, n in zip(
        table.column("month").to_pylist(), table.column(category).to_pylist(), counts, strict=True
    ):
        totals.setdefault(str(c), [0, 0])[0 if m == before else 1] += int(n)
    moved = [Movement(c, b, n) for c, (b, n) in totals.items()]
    moved.sort(key=lambda m: (-abs(m.change), m.category))
    return moved[:top]


def month_view(
    engine: sa.Engine,
    registry: Registry,
    area: WorkArea,
    month: str,
    person: str | None,
    instance=None,
    movements: bool = True,
) -> list[DatasetView]:
    """Every dataset staged for the month, as the person sees it (`movements`: read each candidate's tidy
    file for the month against the month before; checking a submitted form does not need them)."""
    name = normalise_name(person) if person else None
    views = []
    for dataset in DATASETS:
        current = ledger.current_candidate(engine, dataset, month)
        if current is None or dataset not in registry.datasets:
            continue
        allowed = registry.approvers(dataset)
        decided = ledger.decisions_for(engine, dataset, month, current.content_hash)
        mine = name is None or name in allowed
        by_me = name is not None and any(d.approver == name for d in decided)
        launchers = {
            normalise_name(p) for p in ledger.launchers_of(engine, dataset, month, current.content_hash)
        }
        state = next_step(engine, registry, current, instance)
        folder = candidate_path(area, month, dataset, current.content_hash)
        files = sorted(
            (p.name, p.stat().st_size)
            for p in (folder.iterdir() if folder.is_dir() else [])
            if p.is_file() and p.name not in ("manifest.json", "disclosure.json", "report.json")
        )
        views.append(
            DatasetView(
                dataset=dataset,
                title=CATALOGUE[dataset].name if dataset in CATALOGUE else dataset,
                content_hash=current.content_hash,
                checks_passed=current.checks_passed,
                people=tuple(registry.describe(p) for p in allowed),
                mine=mine,
                state=state,
                decided=by_me or not state.startswith("waiting"),
                files=files,
                movements=largest_movements(area, dataset, month, current.content_hash)
                if movements and current.checks_passed
                else [],
                launched_by_me=name is not None and name in launchers,
            )
        )
    return views


def report_body(area: WorkArea, month: str, views: list[DatasetView]) -> str | None:
    """The release report's body as staged with the candidates (rendered with autoescaping at build)."""
    for view in views:
        path = candidate_path(area, month, view.dataset, view.content_hash) / "report.html"
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            start, end = text.find("<body>"), text.rfind("</body>")
            if start != -1 and end != -1:
                return text[start + len("<body>") : end]
    return None


def staged_file(area: WorkArea, month: str, dataset: str, chash: str, name: str) -> Path | None:
    """A file of a staged candidate, by its bare name (nothing outside the candidate's folder)."""
    folder = candidate_path(area, month, dataset, chash)
    path = folder / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return None
    return path


def checklist_items() -> dict[str, str]:
    return checklist_mod.load(settings.CHECKLIST_FILE.value() or "").items
