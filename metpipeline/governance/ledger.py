"""The release ledger in the pipeline's state database: staged candidates, owners' decisions, publications.

Decisions are append-only and tamper-evident: the code only ever INSERTs; on SQLite and PostgreSQL triggers
reject UPDATE and DELETE; and, because a trigger can be dropped by whoever owns the database, every row is
sealed with an HMAC under a deployment secret and chained to the dataset's previous decision (seal.py).
`verify_chain` finds a forged, edited or deleted row; the sensor and the publish job call it before
anything is published.
Times are stored as naive UTC (SQLite keeps no time zone) and shown with an explicit "UTC".
"""

import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from metpipeline.governance import seal

metadata = sa.MetaData()

release_candidates = sa.Table(
    "staged_candidates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset", sa.String(20), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("staged_at", sa.DateTime, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    # Who launched the release run, as the sign-in proxy said (None: the schedule, a sensor or the command
    # line). That person may not approve the candidate (four eyes).
    sa.Column("launched_by", sa.String(100), nullable=True),
    sa.Column("checks_passed", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Index("ix_staged_candidates_dataset_month", "dataset", "month"),
)

# One row per person's decision on a candidate. `seq` numbers a dataset's decisions 1, 2, 3 …; `prev_mac`
# and `mac` chain and seal them (seal.py). A person decides once per candidate under one registry; a new
# registry (different sha256) needs the decision again.
approval_decisions = sa.Table(
    "owner_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset", sa.String(20), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("decision", sa.String(10), nullable=False),
    sa.Column("approver", sa.String(100), nullable=False),
    sa.Column("authentication", sa.String(20), nullable=False),
    sa.Column("signed_in_user", sa.String(100), nullable=True),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    # The owner's checklist answers with the checklist's version (JSON text; empty for a rejection).
    sa.Column("checklist", sa.Text, nullable=False, default=""),
    sa.Column("registry_path", sa.String(500), nullable=False),
    sa.Column("registry_sha256", sa.String(64), nullable=False),
    sa.Column("registry_version", sa.String(40), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("decided_at", sa.DateTime, nullable=False),
    sa.Column("prev_mac", sa.String(64), nullable=False),
    sa.Column("mac", sa.String(64), nullable=False),
    sa.UniqueConstraint("dataset", "seq", name="uq_owner_decisions_chain"),
    sa.UniqueConstraint(
        "dataset", "month", "content_hash", "approver", "registry_sha256", name="uq_owner_decisions_person"
    ),
    sa.CheckConstraint("decision IN ('approve', 'reject')", name="ck_owner_decisions_decision"),
)

# One row per published version. A candidate may be published twice (v1, then again as v3 after the
# source was reverted to its figures), so a version, not a candidate, is the unit.
publications = sa.Table(
    "published_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset", sa.String(20), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("published_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("dataset", "version", name="uq_published_versions_version"),
)

STATUS_AWAITING = "awaiting approval"
STATUS_CHECKS_FAILED = "checks failed"

_APPEND_ONLY_MESSAGE = "owner_decisions is append-only: decisions cannot be changed or deleted"

_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS owner_decisions_no_update BEFORE UPDATE ON owner_decisions
        BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MESSAGE}'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS owner_decisions_no_delete BEFORE DELETE ON owner_decisions
        BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MESSAGE}'); END""",
]

# PostgreSQL: one function, a row trigger for UPDATE/DELETE and a statement trigger for TRUNCATE (which
# row triggers do not see). CREATE OR REPLACE TRIGGER needs PostgreSQL 14+.
_POSTGRES_TRIGGERS = [
    f"""CREATE OR REPLACE FUNCTION owner_decisions_append_only() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION '{_APPEND_ONLY_MESSAGE}'; END; $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE TRIGGER owner_decisions_no_change BEFORE UPDATE OR DELETE ON owner_decisions
        FOR EACH ROW EXECUTE FUNCTION owner_decisions_append_only()""",
    """CREATE OR REPLACE TRIGGER owner_decisions_no_truncate BEFORE TRUNCATE ON owner_decisions
        FOR EACH STATEMENT EXECUTE FUNCTION owner_decisions_append_only()""",
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
    launched_by: str | None
    checks_passed: bool
    status: str


# The fields a decision's seal covers: every column but the database's id and the seal itself.
SEALED_FIELDS = (
    "dataset",
    "seq",
    "month",
    "content_hash",
    "decision",
    "approver",
    "authentication",
    "signed_in_user",
    "comment",
    "checklist",
    "registry_path",
    "registry_sha256",
    "registry_version",
    "run_id",
    "decided_at",
    "prev_mac",
)

AUTHENTICATED = "sign-in proxy"
UNAUTHENTICATED = "unauthenticated"


@dataclass(frozen=True)
class Decision:
    id: int
    dataset: str
    seq: int
    month: str
    content_hash: str
    decision: str
    approver: str
    authentication: str
    signed_in_user: str | None
    comment: str
    checklist: str
    registry_path: str
    registry_sha256: str
    registry_version: str
    run_id: str
    decided_at: datetime
    prev_mac: str
    mac: str

    def sealed_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SEALED_FIELDS}

    def describe(self) -> str:
        who = (
            self.approver
            if self.authentication == AUTHENTICATED
            else f"{self.approver} ({self.authentication})"
        )
        return f"{self.decision} by {who} at {self.decided_at:%Y-%m-%d %H:%M:%S} UTC"

    def row_name(self) -> str:
        return f"owner_decisions row id={self.id} ({self.dataset} decision #{self.seq}, {self.month})"


@dataclass(frozen=True)
class Publication:
    dataset: str
    month: str
    content_hash: str
    version: int
    published_at: datetime


def record_candidate(
    engine: sa.Engine,
    dataset: str,
    month: str,
    content_hash: str,
    run_id: str,
    checks_passed: bool,
    launched_by: str | None = None,
) -> Candidate:
    """Append a staging of a candidate. Re-staging identical bytes appends a row too: it becomes current."""
    ensure_schema(engine)
    row: dict[str, Any] = {
        "dataset": dataset,
        "month": month,
        "content_hash": content_hash,
        "staged_at": utcnow(),
        "run_id": run_id,
        "launched_by": launched_by,
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


def append_decision(
    engine: sa.Engine,
    key: bytes,
    *,
    dataset: str,
    month: str,
    content_hash: str,
    decision: str,
    approver: str,
    authentication: str,
    signed_in_user: str | None,
    comment: str,
    registry_path: str,
    registry_sha256: str,
    registry_version: str,
    run_id: str,
    checklist: str = "",
) -> Decision:
    """INSERT a sealed decision at the end of the dataset's chain.

    Raises sqlalchemy IntegrityError when this person already decided on the candidate under this registry.
    Two decisions racing for the same place in the chain: the UNIQUE (dataset, seq) lets one in and the
    other takes the next place.
    """
    ensure_schema(engine)
    for _attempt in range(20):
        last = _last_decision(engine, dataset)
        fields: dict[str, Any] = {
            "dataset": dataset,
            "seq": (last.seq + 1) if last else 1,
            "month": month,
            "content_hash": content_hash,
            "decision": decision,
            "approver": approver,
            "authentication": authentication,
            "signed_in_user": signed_in_user,
            "comment": comment,
            "checklist": checklist,
            "registry_path": registry_path,
            "registry_sha256": registry_sha256,
            "registry_version": registry_version,
            "run_id": run_id,
            "decided_at": utcnow(),
            "prev_mac": last.mac if last else "",
        }
        row = {**fields, "mac": seal.seal(key, fields)}
        try:
            new_id = _insert(engine, approval_decisions, row)
        except sa.exc.IntegrityError:
            if decisions_by(engine, dataset, month, content_hash, approver, registry_sha256):
                raise
            continue  # lost the race for this place in the chain: take the next one
        return Decision(id=new_id, **row)
    raise RuntimeError(f"could not append a decision for {dataset}: the chain kept moving")


def _rows(engine: sa.Engine, stmt) -> list[Decision]:
    ensure_schema(engine)
    with engine.connect() as conn:
        return [Decision(**row) for row in conn.execute(stmt).mappings()]


def _last_decision(engine: sa.Engine, dataset: str) -> Decision | None:
    t = approval_decisions
    rows = _rows(engine, sa.select(t).where(t.c.dataset == dataset).order_by(t.c.seq.desc()).limit(1))
    return rows[0] if rows else None


def decisions_by(
    engine: sa.Engine, dataset: str, month: str, content_hash: str, approver: str, registry_sha256: str
) -> list[Decision]:
    t = approval_decisions
    return _rows(
        engine,
        sa.select(t).where(
            t.c.dataset == dataset,
            t.c.month == month,
            t.c.content_hash == content_hash,
            t.c.approver == approver,
            t.c.registry_sha256 == registry_sha256,
        ),
    )


def decisions_for(engine: sa.Engine, dataset: str, month: str, content_hash: str) -> list[Decision]:
    """Every decision on one candidate, in the order they were made."""
    t = approval_decisions
    return _rows(
        engine,
        sa.select(t)
        .where(t.c.dataset == dataset, t.c.month == month, t.c.content_hash == content_hash)
        .order_by(t.c.seq),
    )


def decisions_after(engine: sa.Engine, last_id: int, limit: int = 100) -> list[Decision]:
    """Decisions with id > last_id, oldest first: what the approval sensor has not seen yet."""
    t = approval_decisions
    return _rows(engine, sa.select(t).where(t.c.id > last_id).order_by(t.c.id).limit(limit))


def verify_chain(engine: sa.Engine, key: bytes, dataset: str) -> list[str]:
    """Every way the dataset's decisions differ from what the pipeline wrote; empty when intact.

    A forged row (inserted by hand) or an edited one fails its seal; a deleted row leaves a gap in the
    numbering or a row whose `prev_mac` no longer names its predecessor.
    """
    t = approval_decisions
    rows = _rows(engine, sa.select(t).where(t.c.dataset == dataset).order_by(t.c.seq, t.c.id))
    problems = []
    expected_seq, expected_prev = 1, ""
    for row in rows:
        if row.seq != expected_seq:
            problems.append(
                f"{row.row_name()}: decision #{expected_seq}"
                + (f"..#{row.seq - 1}" if row.seq - 1 > expected_seq else "")
                + " is missing before it (deleted or never written by the pipeline)"
                if row.seq > expected_seq
                else f"{row.row_name()}: a second row numbered #{row.seq} (inserted by hand)"
            )
        elif row.prev_mac != expected_prev:
            problems.append(f"{row.row_name()}: does not follow the decision before it (chain broken)")
        if not seal.seal_matches(key, row.sealed_fields(), row.mac):
            problems.append(
                f"{row.row_name()}: its seal does not match its contents (forged or edited outside the "
                "pipeline)"
            )
        expected_seq, expected_prev = row.seq + 1, row.mac
    return problems


def record_publication(engine: sa.Engine, dataset: str, month: str, content_hash: str, version: int) -> None:
    """Record that a version is public. Idempotent: another publish run of the same version is a no-op."""
    ensure_schema(engine)
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
        pass  # this version was recorded already (a re-run, or a concurrent run first)


def current_publication(engine: sa.Engine, dataset: str, month: str) -> Publication | None:
    """The newest published version of (dataset, month): what the public sees for that month."""
    ensure_schema(engine)
    t = publications
    stmt = (
        sa.select(t.c.dataset, t.c.month, t.c.content_hash, t.c.version, t.c.published_at)
        .where(t.c.dataset == dataset, t.c.month == month)
        .order_by(t.c.version.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(stmt).mappings().first()
    return Publication(**row) if row else None


def publication_for(engine: sa.Engine, dataset: str, month: str, content_hash: str) -> Publication | None:
    """The candidate's publication if it is what the public sees for the month now, else None."""
    current = current_publication(engine, dataset, month)
    return current if current is not None and current.content_hash == content_hash else None


def staged_months(engine: sa.Engine) -> list[tuple[str, str]]:
    """Every (dataset, month) with a staged candidate."""
    return _dataset_months(engine, release_candidates)


def decided_months(engine: sa.Engine) -> list[tuple[str, str]]:
    """Every (dataset, month) with at least one decision: where a publication may be due."""
    return _dataset_months(engine, approval_decisions)


def _dataset_months(engine: sa.Engine, t: sa.Table) -> list[tuple[str, str]]:
    ensure_schema(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.dataset, t.c.month).distinct().order_by(t.c.month, t.c.dataset))
        return [(r.dataset, r.month) for r in rows]
