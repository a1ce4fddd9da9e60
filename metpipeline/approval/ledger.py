"""The release ledger in the pipeline's state database: staged candidates, owners' decisions, publications.

`approval_decisions` is append-only: the code only ever INSERTs into it, a UNIQUE constraint makes a second
decision on the same candidate impossible, and on SQLite and PostgreSQL triggers reject UPDATE and DELETE
so that even a hand-typed statement cannot rewrite who approved what.
Times are stored as naive UTC (SQLite keeps no time zone) and shown with an explicit "UTC".
"""

import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

release_candidates = sa.Table(
    "release_candidates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset", sa.String(20), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("staged_at", sa.DateTime, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("checks_passed", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Index("ix_release_candidates_dataset_month", "dataset", "month"),
)

approval_decisions = sa.Table(
    "approval_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset", sa.String(20), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("decision", sa.String(10), nullable=False),
    sa.Column("approver", sa.String(100), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    sa.Column("registry_version", sa.String(40), nullable=False),
    sa.Column("decided_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("dataset", "month", "content_hash", name="uq_approval_decisions_candidate"),
    sa.CheckConstraint("decision IN ('approve', 'reject')", name="ck_approval_decisions_decision"),
)

publications = sa.Table(
    "publications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset", sa.String(20), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("published_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("dataset", "month", "content_hash", name="uq_publications_candidate"),
)

STATUS_AWAITING = "awaiting approval"
STATUS_CHECKS_FAILED = "checks failed"

_APPEND_ONLY_MESSAGE = "approval_decisions is append-only: decisions cannot be changed or deleted"

_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS approval_decisions_no_update BEFORE UPDATE ON approval_decisions
        BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MESSAGE}'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS approval_decisions_no_delete BEFORE DELETE ON approval_decisions
        BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MESSAGE}'); END""",
]

# PostgreSQL: one function, a row trigger for UPDATE/DELETE and a statement trigger for TRUNCATE (which
# row triggers do not see). CREATE OR REPLACE TRIGGER needs PostgreSQL 14+.
_POSTGRES_TRIGGERS = [
    f"""CREATE OR REPLACE FUNCTION approval_decisions_append_only() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION '{_APPEND_ONLY_MESSAGE}'; END; $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE TRIGGER approval_decisions_no_change BEFORE UPDATE OR DELETE ON approval_decisions
        FOR EACH ROW EXECUTE FUNCTION approval_decisions_append_only()""",
    """CREATE OR REPLACE TRIGGER approval_decisions_no_truncate BEFORE TRUNCATE ON approval_decisions
        FOR EACH STATEMENT EXECUTE FUNCTION approval_decisions_append_only()""",
]

_ready: "weakref.WeakSet[sa.Engine]" = weakref.WeakSet()


def ensure_schema(engine: sa.Engine) -> None:
    """Create the ledger tables and append-only triggers if absent (once per engine per process)."""
    if engine in _ready:
        return
    metadata.create_all(engine, checkfirst=True)
    statements = {"sqlite": _SQLITE_TRIGGERS, "postgresql": _POSTGRES_TRIGGERS}.get(engine.dialect.name, [])
    with engine.begin() as conn:
        for stmt in statements:
            conn.exec_driver_sql(stmt)
    _ready.add(engine)


def _insert(engine: sa.Engine, table: sa.Table, row: dict[str, Any]) -> int:
    with engine.begin() as conn:
        key = conn.execute(table.insert().values(**row)).inserted_primary_key
    if not key:
        raise RuntimeError(f"{table.name}: the database returned no id for the inserted row")
    return int(key[0])


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


@dataclass(frozen=True)
class Candidate:
    id: int
    dataset: str
    month: str
    content_hash: str
    staged_at: datetime
    run_id: str
    checks_passed: bool
    status: str


@dataclass(frozen=True)
class Decision:
    id: int
    dataset: str
    month: str
    content_hash: str
    decision: str
    approver: str
    comment: str
    registry_version: str
    decided_at: datetime

    def describe(self) -> str:
        return f"{self.decision} by {self.approver} at {self.decided_at:%Y-%m-%d %H:%M:%S} UTC"


@dataclass(frozen=True)
class Publication:
    dataset: str
    month: str
    content_hash: str
    version: int
    published_at: datetime


def record_candidate(
    engine: sa.Engine, dataset: str, month: str, content_hash: str, run_id: str, checks_passed: bool
) -> Candidate:
    """Append a staging of a candidate. Re-staging identical bytes appends a row too: it becomes current."""
    ensure_schema(engine)
    row: dict[str, Any] = {
        "dataset": dataset,
        "month": month,
        "content_hash": content_hash,
        "staged_at": utcnow(),
        "run_id": run_id,
        "checks_passed": bool(checks_passed),
        "status": STATUS_AWAITING if checks_passed else STATUS_CHECKS_FAILED,
    }
    new_id = _insert(engine, release_candidates, row)
    return Candidate(id=new_id, **row)


def current_candidate(engine: sa.Engine, dataset: str, month: str) -> Candidate | None:
    """The most recently staged candidate for (dataset, month); the id breaks ties within one second."""
    ensure_schema(engine)
    t = release_candidates
    stmt = (
        sa.select(t)
        .where(t.c.dataset == dataset, t.c.month == month)
        .order_by(t.c.staged_at.desc(), t.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(stmt).mappings().first()
    return Candidate(**row) if row else None


def latest_staged_month(engine: sa.Engine) -> str | None:
    ensure_schema(engine)
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.max(release_candidates.c.month))).scalar()


def insert_decision(
    engine: sa.Engine,
    dataset: str,
    month: str,
    content_hash: str,
    decision: str,
    approver: str,
    comment: str,
    registry_version: str,
) -> Decision:
    """INSERT only. Raises sqlalchemy IntegrityError when the candidate already has a decision."""
    ensure_schema(engine)
    row: dict[str, Any] = {
        "dataset": dataset,
        "month": month,
        "content_hash": content_hash,
        "decision": decision,
        "approver": approver,
        "comment": comment,
        "registry_version": registry_version,
        "decided_at": utcnow(),
    }
    new_id = _insert(engine, approval_decisions, row)
    return Decision(id=new_id, **row)


def decision_for(engine: sa.Engine, dataset: str, month: str, content_hash: str) -> Decision | None:
    ensure_schema(engine)
    t = approval_decisions
    stmt = sa.select(t).where(t.c.dataset == dataset, t.c.month == month, t.c.content_hash == content_hash)
    with engine.connect() as conn:
        row = conn.execute(stmt).mappings().first()
    return Decision(**row) if row else None


def decisions_after(engine: sa.Engine, last_id: int, limit: int = 100) -> list[Decision]:
    """Decisions with id > last_id, oldest first: what the approval sensor has not seen yet."""
    ensure_schema(engine)
    t = approval_decisions
    stmt = sa.select(t).where(t.c.id > last_id).order_by(t.c.id).limit(limit)
    with engine.connect() as conn:
        return [Decision(**row) for row in conn.execute(stmt).mappings()]


def record_publication(engine: sa.Engine, dataset: str, month: str, content_hash: str, version: int) -> None:
    """Record that a candidate is public. Idempotent: another publish run of the candidate is a no-op."""
    ensure_schema(engine)
    if publication_for(engine, dataset, month, content_hash) is not None:
        return
    row: dict[str, Any] = {
        "dataset": dataset,
        "month": month,
        "content_hash": content_hash,
        "version": version,
        "published_at": utcnow(),
    }
    try:
        with engine.begin() as conn:
            conn.execute(publications.insert().values(**row))
    except sa.exc.IntegrityError:
        pass  # a concurrent run recorded the same publication first


def publication_for(engine: sa.Engine, dataset: str, month: str, content_hash: str) -> Publication | None:
    ensure_schema(engine)
    t = publications
    stmt = sa.select(t.c.dataset, t.c.month, t.c.content_hash, t.c.version, t.c.published_at).where(
        t.c.dataset == dataset, t.c.month == month, t.c.content_hash == content_hash
    )
    with engine.connect() as conn:
        row = conn.execute(stmt).mappings().first()
    return Publication(**row) if row else None
