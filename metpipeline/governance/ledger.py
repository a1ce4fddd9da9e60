"""The release ledger in the pipeline's state database: staged candidates, owners' decisions, publications.

Stagings and decisions are append-only and tamper-evident: the code only ever INSERTs; on SQLite and
PostgreSQL triggers reject UPDATE and DELETE; and, because a trigger can be dropped by whoever owns the
database, every row is sealed with an HMAC under a deployment secret and chained to the dataset's previous
row of its table (seal.py). `verify_chain` and `verify_candidates` find a forged, edited or deleted row;
deciding, the sensor and the publish job call them before anything is recorded or published. The sealed
stagings say which candidate is current and who launched a run that staged its bytes (every one of them,
for good: four eyes); a decision records which published version was public when it was made (`round`), so
figures that come back are published only on a decision made after the version they replace.
Times are stored as naive UTC (SQLite keeps no time zone) and shown with an explicit "UTC".
"""

import json
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
    # Every person who launched a run in the chain that staged this row (the release run, the back-fill it
    # followed, the run it re-executes), as sorted JSON: none of them may approve these bytes.
    sa.Column("launchers", sa.Text, nullable=True),
    # The seal: the dataset's stagings numbered 1, 2, 3 … and chained like decisions. Null only in rows
    # staged before stagings were sealed, which are never taken as current.
    sa.Column("seq", sa.Integer, nullable=True),
    sa.Column("prev_mac", sa.String(64), nullable=True),
    sa.Column("mac", sa.String(64), nullable=True),
    sa.Index("ix_staged_candidates_dataset_month", "dataset", "month"),
    sa.Index(
        "uq_staged_candidates_chain",
        "dataset",
        "seq",
        unique=True,
        mssql_where=sa.text("seq IS NOT NULL"),  # SQL Server's unique index counts NULLs as equal
    ),
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
    # The version of the month that was public when the decision was made (0: none). Figures that were
    # public once and come back are published only on decisions made after the version they replace.
    sa.Column("public_version", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.UniqueConstraint("dataset", "seq", name="uq_owner_decisions_chain"),
    sa.UniqueConstraint(
        "dataset",
        "month",
        "content_hash",
        "approver",
        "registry_sha256",
        "public_version",
        name="uq_owner_decisions_person_version",
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

_APPEND_ONLY = {
    "owner_decisions": "owner_decisions is append-only: decisions cannot be changed or deleted",
    "staged_candidates": "staged_candidates is append-only: stagings cannot be changed or deleted",
}

_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{verb} BEFORE {verb.upper()} ON {table}
        BEGIN SELECT RAISE(ABORT, '{message}'); END"""
    for table, message in _APPEND_ONLY.items()
    for verb in ("update", "delete")
]

# PostgreSQL: one function per table, a row trigger for UPDATE/DELETE and a statement trigger for TRUNCATE
# (which row triggers do not see). CREATE OR REPLACE TRIGGER needs PostgreSQL 14+.
_POSTGRES_TRIGGERS = [
    statement
    for table, message in _APPEND_ONLY.items()
    for statement in (
        f"""CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{message}'; END; $$ LANGUAGE plpgsql""",
        f"""CREATE OR REPLACE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_append_only()""",
        f"""CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()""",
    )
]

_ready: "weakref.WeakSet[sa.Engine]" = weakref.WeakSet()


def ensure_schema(engine: sa.Engine) -> None:
    """Create the ledger tables and append-only triggers if absent (once per engine per process)."""
    if engine in _ready:
        return
    _migrate(engine)
    metadata.create_all(engine, checkfirst=True)
    statements = {"sqlite": _SQLITE_TRIGGERS, "postgresql": _POSTGRES_TRIGGERS}.get(engine.dialect.name, [])
    with engine.begin() as conn:
        for stmt in statements:
            conn.exec_driver_sql(stmt)
    _ready.add(engine)


_STAGING_SEAL_COLUMNS = ("launchers", "seq", "prev_mac", "mac")


def _migrate(engine: sa.Engine) -> None:
    """Bring a state database written by an earlier version up to this schema, keeping every row and seal:
    stagings gain their seal columns (earlier rows stay unsealed and are never taken as current: the month
    is staged again), decisions gain `public_version` (0 for earlier rows, outside their seal) and with it
    a uniqueness that allows one decision per person per public version.

    All of it in one transaction that holds the database's write lock (SQLite `BEGIN IMMEDIATE`,
    PostgreSQL `LOCK TABLE`), deciding what to change only once the lock is held: a process killed half-way
    leaves the earlier schema whole, and two processes starting at once migrate once."""
    inspector = sa.inspect(engine)
    tables = set(inspector.get_table_names())
    wanted = ("staged_candidates" in tables and not _has(inspector, "staged_candidates", "mac")) or (
        "owner_decisions" in tables and not _has(inspector, "owner_decisions", "public_version")
    )
    if not wanted:
        return
    if engine.dialect.name == "sqlite":
        _migrate_sqlite(engine)
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("LOCK TABLE staged_candidates, owner_decisions IN ACCESS EXCLUSIVE MODE")
            _migrate_in(conn, engine.dialect, sa.inspect(conn))


def _has(inspector, table: str, column: str) -> bool:
    return column in {c["name"] for c in inspector.get_columns(table)}


def _migrate_sqlite(engine: sa.Engine) -> None:
    # pysqlite runs DDL outside its implicit transactions: the transaction is begun here by hand.
    raw = engine.raw_connection()
    driver = raw.driver_connection
    isolation = driver.isolation_level  # type: ignore[union-attr]
    driver.isolation_level = None  # type: ignore[union-attr]
    try:
        driver.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
        try:
            # What is still to do, read now that this process holds the write lock.
            _migrate_statements(driver, _needed(_SqliteCatalogue(driver)), engine.dialect)
            driver.execute("COMMIT")  # type: ignore[union-attr]
        except BaseException:
            driver.execute("ROLLBACK")  # type: ignore[union-attr]
            raise
    finally:
        driver.isolation_level = isolation  # type: ignore[union-attr]
        raw.close()


class _SqliteCatalogue:
    """The two questions `_needed` asks, answered on the connection that holds the lock."""

    def __init__(self, driver):
        self.driver = driver

    def get_table_names(self) -> list[str]:
        return [r[0] for r in self.driver.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]

    def get_columns(self, table: str) -> list[dict]:
        return [{"name": r[1]} for r in self.driver.execute(f"PRAGMA table_info({table})")]


def _needed(inspector) -> tuple[list[str], bool]:
    tables = set(inspector.get_table_names())
    staging = (
        [c for c in _STAGING_SEAL_COLUMNS if not _has(inspector, "staged_candidates", c)]
        if "staged_candidates" in tables
        else []
    )
    decisions = "owner_decisions" in tables and not _has(inspector, "owner_decisions", "public_version")
    return staging, decisions


def _staging_statements(staging: list[str], dialect, if_not_exists: str) -> list[str]:
    """The statements that give the stagings table its seal columns and chain index (identifiers are this
    module's own)."""
    out = [
        f"ALTER TABLE staged_candidates ADD {if_not_exists}{name} "
        f"{release_candidates.c[name].type.compile(dialect=dialect)}"
        for name in staging
    ]
    if staging:
        out.append(
            "CREATE UNIQUE INDEX IF NOT EXISTS uq_staged_candidates_chain ON staged_candidates (dataset, seq)"
        )
    return out


def _migrate_in(conn: sa.Connection, dialect, inspector) -> None:
    staging, decisions = _needed(inspector)
    for statement in _staging_statements(staging, dialect, "COLUMN IF NOT EXISTS "):
        conn.exec_driver_sql(statement)
    if decisions:
        conn.exec_driver_sql(
            "ALTER TABLE owner_decisions ADD COLUMN IF NOT EXISTS public_version INTEGER NOT NULL DEFAULT 0"
        )
        conn.exec_driver_sql(
            "ALTER TABLE owner_decisions DROP CONSTRAINT IF EXISTS uq_owner_decisions_person"
        )
        # Written out, not sa.schema.AddConstraint: that would mark the table's constraint as added
        # separately, and every later CREATE TABLE in this process would leave it out.
        conn.exec_driver_sql(
            "ALTER TABLE owner_decisions ADD CONSTRAINT uq_owner_decisions_person_version "
            "UNIQUE (dataset, month, content_hash, approver, registry_sha256, public_version)"
        )


def _migrate_statements(driver, need: tuple[list[str], bool], dialect) -> None:
    """SQLite's migration, statement by statement inside the caller's transaction (identifiers are this
    module's own). SQLite cannot drop a constraint: the decisions table is rebuilt, rows copied unchanged."""
    staging, decisions = need
    for statement in _staging_statements(staging, dialect, ""):
        driver.execute(statement)
    if decisions:
        for trigger in ("owner_decisions_no_update", "owner_decisions_no_delete"):
            driver.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        driver.execute("ALTER TABLE owner_decisions RENAME TO owner_decisions_before_versions")
        driver.execute(str(sa.schema.CreateTable(approval_decisions).compile(dialect=dialect)))
        _copy_decisions(driver, dialect)
        driver.execute("DROP TABLE owner_decisions_before_versions")


def _copy_decisions(driver, dialect) -> None:
    names = [c.name for c in approval_decisions.columns if c.name != "public_version"]
    old = sa.table("owner_decisions_before_versions", *(sa.column(n) for n in names))
    copy = approval_decisions.insert().from_select(
        [*names, "public_version"], sa.select(*old.c, sa.literal(0))
    )
    driver.execute(str(copy.compile(dialect=dialect, compile_kwargs={"literal_binds": True})))


def _insert(engine: sa.Engine, table: sa.Table, row: dict[str, Any]) -> int:
    with engine.begin() as conn:
        key = conn.execute(table.insert().values(**row)).inserted_primary_key
    if not key:
        raise RuntimeError(f"{table.name}: the database returned no id for the inserted row")
    return int(key[0])


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


# The fields a staging's seal covers: every column but the database's id and the seal itself.
CANDIDATE_SEALED_FIELDS = (
    "dataset",
    "seq",
    "month",
    "content_hash",
    "staged_at",
    "run_id",
    "launched_by",
    "launchers",
    "checks_passed",
    "status",
    "prev_mac",
)


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
    launchers: str | None = None
    seq: int | None = None
    prev_mac: str | None = None
    mac: str | None = None

    def sealed_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CANDIDATE_SEALED_FIELDS}

    def people(self) -> tuple[str, ...]:
        """Everyone this staging names as a launcher."""
        named = json.loads(self.launchers) if self.launchers else []
        return tuple(sorted({*named, *([self.launched_by] if self.launched_by else [])}))

    def row_name(self) -> str:
        return f"staged_candidates row id={self.id} ({self.dataset} staging #{self.seq}, {self.month})"


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
    public_version: int = 0

    def sealed_fields(self) -> dict[str, Any]:
        fields = {name: getattr(self, name) for name in SEALED_FIELDS}
        # Rows made before `public_version` existed were sealed without it (and hold 0): their seals stay
        # valid. Any other value is inside the seal.
        if self.public_version:
            fields["public_version"] = self.public_version
        return fields

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
    key: bytes,
    dataset: str,
    month: str,
    content_hash: str,
    run_id: str,
    checks_passed: bool,
    launchers: tuple[str, ...] = (),
) -> Candidate:
    """Append a sealed staging of a candidate at the end of the dataset's chain. Re-staging identical bytes
    appends a row too: it becomes current, and its launchers join the earlier ones (none is ever lost)."""
    ensure_schema(engine)
    people = sorted(set(launchers))
    for _attempt in range(20):
        last = _last_sealed_candidate(engine, dataset)
        fields: dict[str, Any] = {
            "dataset": dataset,
            "seq": (last.seq or 0) + 1 if last else 1,
            "month": month,
            "content_hash": content_hash,
            "staged_at": utcnow(),
            "run_id": run_id,
            "launched_by": people[0] if people else None,
            "launchers": json.dumps(people),
            "checks_passed": bool(checks_passed),
            "status": STATUS_AWAITING if checks_passed else STATUS_CHECKS_FAILED,
            "prev_mac": last.mac if last else "",
        }
        row = {**fields, "mac": seal.seal(key, fields)}
        try:
            new_id = _insert(engine, release_candidates, row)
        except sa.exc.IntegrityError:
            continue  # another staging took this place in the chain: take the next one
        return Candidate(id=new_id, **row)
    raise RuntimeError(f"could not stage a candidate for {dataset}: the chain kept moving")


def _candidates(engine: sa.Engine, stmt) -> list[Candidate]:
    ensure_schema(engine)
    with engine.connect() as conn:
        return [Candidate(**row) for row in conn.execute(stmt).mappings()]


def _last_sealed_candidate(engine: sa.Engine, dataset: str) -> Candidate | None:
    t = release_candidates
    rows = _candidates(
        engine,
        sa.select(t).where(t.c.dataset == dataset, t.c.seq.is_not(None)).order_by(t.c.seq.desc()).limit(1),
    )
    return rows[0] if rows else None


def current_candidate(engine: sa.Engine, dataset: str, month: str) -> Candidate | None:
    """The most recent sealed staging of (dataset, month). Rows staged before stagings were sealed are never
    current (the month is staged again); whether the chain is intact is `verify_candidates`' to say."""
    t = release_candidates
    rows = _candidates(
        engine,
        sa.select(t)
        .where(t.c.dataset == dataset, t.c.month == month, t.c.seq.is_not(None))
        .order_by(t.c.seq.desc())
        .limit(1),
    )
    return rows[0] if rows else None


def launchers_of(engine: sa.Engine, dataset: str, month: str, content_hash: str) -> dict[str, datetime]:
    """Every person who launched a run that staged these bytes, with when they first did: none of them may
    approve them (four eyes), whatever ran since."""
    t = release_candidates
    out: dict[str, datetime] = {}
    rows = _candidates(
        engine,
        sa.select(t)
        .where(t.c.dataset == dataset, t.c.month == month, t.c.content_hash == content_hash)
        .order_by(t.c.id),
    )
    for row in rows:
        for person in row.people():
            out.setdefault(person, row.staged_at)
    return out


def first_staged_at(engine: sa.Engine, dataset: str, month: str, content_hash: str):
    """When these bytes were first staged (None: never)."""
    t = release_candidates
    stmt = sa.select(sa.func.min(t.c.staged_at)).where(
        t.c.dataset == dataset, t.c.month == month, t.c.content_hash == content_hash
    )
    ensure_schema(engine)
    with engine.connect() as conn:
        return conn.execute(stmt).scalar()


def verify_candidates(engine: sa.Engine, key: bytes, dataset: str) -> list[str]:
    """Every way the dataset's stagings differ from what the pipeline wrote; empty when intact. A row
    inserted by hand (to make old figures current again) or edited (to drop a launcher) fails its seal; a
    deleted row leaves a gap; an unsealed row after the first sealed one was not written by the pipeline."""
    t = release_candidates
    rows = _candidates(engine, sa.select(t).where(t.c.dataset == dataset).order_by(t.c.id))
    first_sealed = next((r.id for r in rows if r.seq is not None), None)
    problems = [
        f"{r.row_name()}: has no seal (inserted by hand)"
        for r in rows
        if r.seq is None and first_sealed is not None and r.id > first_sealed
    ]
    problems += _chain_problems(
        sorted((r for r in rows if r.seq is not None), key=lambda r: (r.seq, r.id)), key
    )
    return problems


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
    public_version: int = 0,
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
        if public_version:
            fields["public_version"] = public_version
        row = {**fields, "mac": seal.seal(key, fields)}
        try:
            new_id = _insert(engine, approval_decisions, row)
        except sa.exc.IntegrityError:
            if decisions_by(engine, dataset, month, content_hash, approver, registry_sha256, public_version):
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
    engine: sa.Engine,
    dataset: str,
    month: str,
    content_hash: str,
    approver: str,
    registry_sha256: str,
    public_version: int = 0,
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
            t.c.public_version == public_version,
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
    return _chain_problems(
        _rows(engine, sa.select(t).where(t.c.dataset == dataset).order_by(t.c.seq, t.c.id)), key
    )


def _chain_problems(rows, key: bytes) -> list[str]:
    """The problems of one dataset's chain of sealed rows (decisions or stagings), in order."""
    problems = []
    expected_seq, expected_prev = 1, ""
    for row in rows:
        what = "decision" if isinstance(row, Decision) else "staging"
        if row.seq != expected_seq:
            problems.append(
                f"{row.row_name()}: {what} #{expected_seq}"
                + (f"..#{row.seq - 1}" if row.seq - 1 > expected_seq else "")
                + " is missing before it (deleted or never written by the pipeline)"
                if row.seq > expected_seq
                else f"{row.row_name()}: a second row numbered #{row.seq} (inserted by hand)"
            )
        elif row.prev_mac != expected_prev:
            problems.append(f"{row.row_name()}: does not follow the {what} before it (chain broken)")
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
    return _newest_publication(engine, dataset, month)


def newest_publication(engine: sa.Engine, dataset: str) -> Publication | None:
    """The dataset's newest publication (latest month, latest version): what its `latest.json` must name."""
    return _newest_publication(engine, dataset)


def _newest_publication(engine: sa.Engine, dataset: str, month: str | None = None) -> Publication | None:
    ensure_schema(engine)
    t = publications
    stmt = sa.select(t.c.dataset, t.c.month, t.c.content_hash, t.c.version, t.c.published_at).where(
        t.c.dataset == dataset, *([t.c.month == month] if month is not None else [])
    )
    stmt = stmt.order_by(t.c.month.desc(), t.c.version.desc()).limit(1)
    with engine.connect() as conn:
        row = conn.execute(stmt).mappings().first()
    return Publication(**row) if row else None


def was_published(engine: sa.Engine, dataset: str, month: str, content_hash: str) -> bool:
    """These bytes were public for the month at some time (a version of them exists)."""
    ensure_schema(engine)
    t = publications
    stmt = sa.select(t.c.id).where(
        t.c.dataset == dataset, t.c.month == month, t.c.content_hash == content_hash
    )
    with engine.connect() as conn:
        return conn.execute(stmt.limit(1)).first() is not None


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
