"""A data owner's recorded acknowledgement that an implausible month's total is real.

The `month_volume_plausible` check blocks a month with no crime, or far fewer than usual; a registered owner
or deputy of the borough dataset (whose figures every other dataset shares) can acknowledge exactly that
total, with a reason, and the next release of the month passes the check. The acknowledgement is sealed
with the ledger's key like every decision, so a row typed into the database does not count; a different
total needs a new acknowledgement.
"""

import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import yaml

from metpipeline.catalogue import headline
from metpipeline.governance import decide, ledger, seal
from metpipeline.governance.registry import Registry, normalise_name

# The owners of the table that counts every crime (the headline table, borough) acknowledge a month's
# total: every other table's figures derive from the same crimes.
DATASET = headline().slug
# The Launchpad job an owner records an acknowledgement with (approval/acknowledge_job.py).
JOB, OP = "acknowledge_volume", "acknowledge_volume_op"


def launchpad_link(base: str, month: str, total: int) -> str:
    """The Launchpad of the acknowledgement job with the blocked month and its total filled in (the check
    that blocked it links here): the owner types their name and the reason, nothing else."""
    config = {"ops": {OP: {"config": {"month": month, "total": total, "approver": "", "reason": ""}}}}
    query = urllib.parse.urlencode(
        {"config": yaml.safe_dump(config, sort_keys=False), "tags[0][key]": "dagster/partition"}
        | {"tags[0][value]": month}
    )
    return f"{base}/locations/metpipeline/jobs/{JOB}/playground/setup?{query}"


volume_acknowledgements = sa.Table(
    "volume_acknowledgements",
    ledger.metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("approver", sa.String(100), nullable=False),
    sa.Column("authentication", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("registry_sha256", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("decided_at", sa.DateTime, nullable=False),
    sa.Column("mac", sa.String(64), nullable=False),
)
_SEALED = (
    "month",
    "total",
    "approver",
    "authentication",
    "reason",
    "registry_sha256",
    "run_id",
    "decided_at",
)


@dataclass(frozen=True)
class Acknowledgement:
    month: str
    total: int
    approver: str
    authentication: str
    reason: str
    registry_sha256: str
    run_id: str
    decided_at: datetime

    def describe(self) -> str:
        return (
            f"{self.total:,} acknowledged by {self.approver} ({self.authentication}) at "
            f"{self.decided_at:%Y-%m-%d %H:%M} UTC: {self.reason}"
        )


def record(
    engine: sa.Engine,
    key: bytes,
    registry: Registry,
    month: str,
    total: int,
    approver: str,
    reason: str,
    identity: decide.Identity = decide.UNAUTHENTICATED,
    run_id: str = "",
) -> Acknowledgement:
    name = normalise_name(approver or "")
    if name not in registry.approvers(DATASET):
        raise decide.DecisionRefused(
            f"{approver!r} is not an owner or deputy of the {DATASET} dataset, whose figures every dataset "
            "shares; ask one of them to acknowledge the month"
        )
    decide.check_identity(identity, name)
    if not (reason or "").strip():
        raise decide.DecisionRefused("say why this total is real: the reason is published in the record")
    if total < 0:
        raise decide.DecisionRefused(f"total {total} cannot be negative")
    fields: dict[str, Any] = {
        "month": month,
        "total": int(total),
        "approver": name,
        "authentication": identity.authentication,
        "reason": reason.strip(),
        "registry_sha256": registry.sha256,
        "run_id": run_id,
        "decided_at": ledger.utcnow(),
    }
    ledger.ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(volume_acknowledgements.insert().values(**fields, mac=seal.seal(key, fields)))
    return Acknowledgement(**fields)


def find(engine: sa.Engine, key: bytes, registry: Registry, month: str, total: int) -> Acknowledgement | None:
    """A valid acknowledgement of exactly this total: sealed, made under the registry in force (the same
    file content, as decisions are) by a person it lists."""
    return next((a for a in _sealed(engine, key, month, total) if _counts(a, registry)), None)


def stale(engine: sa.Engine, key: bytes, registry: Registry, month: str, total: int) -> list[Acknowledgement]:
    """Sealed acknowledgements of this total that no longer count: made under another owners registry, or by
    someone it no longer lists. The owner acknowledges again under the registry in force."""
    return [a for a in _sealed(engine, key, month, total) if not _counts(a, registry)]


def _counts(ack: Acknowledgement, registry: Registry) -> bool:
    return ack.registry_sha256 == registry.sha256 and ack.approver in registry.approvers(DATASET)


def _sealed(engine: sa.Engine, key: bytes, month: str, total: int) -> list[Acknowledgement]:
    ledger.ensure_schema(engine)
    t = volume_acknowledgements
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).where(t.c.month == month, t.c.total == total).order_by(t.c.id))
        return [
            Acknowledgement(**fields)
            for row in rows.mappings()
            if seal.seal_matches(key, (fields := {k: row[k] for k in _SEALED}), row["mac"])
        ]
