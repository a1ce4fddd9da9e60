"""The identity seal on a run: who launched it, attested by the server, never taken from the request.

Open-source Dagster has no login, and every run tag a client sends can be forged. So who launched a run is
not a tag a request carries but a seal the server makes: an HMAC under METPIPELINE_IDENTITY_KEY_FILE, a key
only the webserver (`metpipeline ui`) and the code location hold, over who launched it (the sign-in proxy's
user, or nobody for the schedule), how (`ui`, `backfill`, `schedule`, `sensor`, `cli`), the job, the
partition, a digest of the run config, the time and a nonce.

- `metpipeline ui` seals every run it stores (launches, re-executions) and every back-fill it stores, at
  the one place each passes, the run storage (commands/webserver.py), replacing any seal a client typed;
- the schedule and sensors, which run in the code location, seal their run requests as themselves, and
  `metpipeline release` / `backfill` seal their runs as the command line;
- every job that acts on identity (decisions, volume acknowledgements, staging a release) calls `verify`,
  which refuses a run whose seal is missing, made with another key, made for another job, partition or run
  config, older than `MAX_AGE_S` when its run was created, or already used by another run (its nonce is
  recorded in the state database when a run consumes it). Run tags are visible to every UI user, so a seal
  copied from another person's run cannot be replayed.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from metpipeline import settings
from metpipeline.governance import ledger, seal

SEAL_TAG = "metpipeline/identity_seal"
MAX_AGE_S = 600  # a seal is used within minutes of being made: at the creation of its run
VIA_PERSON = ("ui", "backfill", "cli")  # ways a person launches a run (`cli`: the deployment's own shell)
VIA_AUTOMATION = ("schedule", "sensor")
BACKFILL_TAG = "dagster/backfill"
PARTITION_TAG = "dagster/partition"
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")

consumed_seals = sa.Table(
    "consumed_seals",
    ledger.metadata,
    sa.Column("use", sa.String(200), primary_key=True),  # the nonce (and, for a back-fill, its partition)
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("consumed_at", sa.DateTime, nullable=False),
)


_ready: "weakref.WeakSet[sa.Engine]" = weakref.WeakSet()


class SealRefused(ValueError):
    """A run's identity seal is missing or does not hold. The message says what to do instead."""


@dataclass(frozen=True)
class Sealed:
    """Who launched a run, as its seal attests."""

    user: str | None  # the signed-in person; None for the schedule, a sensor, or nobody signed in
    via: str
    run_id: str
    follows: str | None = None  # the run this one follows, as the seal names it

    def describe(self) -> str:
        return self.user or {"schedule": "the schedule", "sensor": "a sensor", "cli": "the command line"}.get(
            self.via, "nobody signed in"
        )


def load_key(say=print) -> bytes:
    """The identity key (the same file for the webserver and the code location), creating the embedded
    default (0600) on first use; refused when others could read or replace it, or when it is short or
    evidently not random."""
    return seal.load_secret(settings.IDENTITY_KEY_FILE, "identity key", say)


def automation_tags(
    key: bytes, via: str, job: str | None, partition: str | None, follows: str | None = None
) -> dict[str, str]:
    """The seal of a run the schedule or a sensor requests (they run in the code location, which holds the
    key): nobody launched it. The run config is not bound: the daemon completes it."""
    return seal_tags(
        key, user=None, via=via, job=job, partition=partition, bind_config=False, follows=follows
    )


def config_digest(run_config: Any) -> str:
    return hashlib.sha256(
        json.dumps(run_config or {}, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
    ).hexdigest()


def make(
    key: bytes,
    *,
    user: str | None,
    via: str,
    job: str | None,
    partition: str | None,
    run_config: Any = None,
    bind_config: bool = True,
    backfill_id: str | None = None,
    follows: str | None = None,
    now: float | None = None,
) -> str:
    """A seal for one run (or one back-fill's runs), as the tag value."""
    payload = {
        "v": 1,
        "user": user or None,
        "via": via,
        "job": job,
        "partition": partition,
        "config": config_digest(run_config) if bind_config else None,
        "backfill": backfill_id,
        "follows": follows,  # the run this one was launched to follow (its launchers are this run's)
        "ts": int(now if now is not None else time.time()),
        "nonce": secrets.token_hex(16),
    }
    body = base64.urlsafe_b64encode(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")
    ).decode("ascii")
    return f"{body}.{hmac.new(key, body.encode('ascii'), hashlib.sha256).hexdigest()}"


def read(key: bytes, value: str | None) -> dict[str, Any]:
    """The seal's contents if the server made it with this key; SealRefused otherwise."""
    if not value:
        raise SealRefused(
            "this run carries no identity seal, so who launched it cannot be known: launch it from the "
            "Dagster UI served by `metpipeline ui`, or let the schedule or a sensor launch it"
        )
    body, _, mac = value.partition(".")
    expected = hmac.new(key, body.encode("ascii", "replace"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, mac):
        raise SealRefused(
            "this run's identity seal was not made by this deployment's server (forged, edited, or made "
            "with another key): launch it again from the Dagster UI"
        )
    try:
        return json.loads(base64.urlsafe_b64decode(body.encode("ascii")))
    except ValueError:
        raise SealRefused("this run's identity seal cannot be read: launch it again") from None


def verify(key: bytes, engine: sa.Engine, instance, run) -> Sealed:
    """Who launched `run`, as its seal attests; SealRefused (fail closed) when the seal is missing, forged,
    for another job, partition or run config, stale when the run was created, or used by another run."""
    seal = read(key, run.tags.get(SEAL_TAG))
    partition = run.tags.get(PARTITION_TAG)
    if seal.get("backfill"):
        if run.tags.get(BACKFILL_TAG) != seal["backfill"]:
            raise SealRefused("this run's identity seal belongs to another back-fill: launch it again")
        backfill = instance.get_backfill(seal["backfill"])
        if backfill is None:
            raise SealRefused(f"the back-fill {seal['backfill']} this run belongs to is not in the instance")
        # One use per month (or range) of the back-fill, by a run created while the back-fill ran (a day).
        months = partition or "..".join(filter(None, (run.tags.get(t) for t in RANGE_TAGS)))
        if not months:
            raise SealRefused(
                "a back-fill's identity seal is used by its runs of months only: launch it again"
            )
        record = instance.get_run_record_by_id(run.run_id)
        created = getattr(record, "create_timestamp", None)
        started = float(backfill.backfill_timestamp)
        if (
            not isinstance(created, datetime)
            or not started - MAX_AGE_S <= created.timestamp() <= started + 86400
        ):
            raise SealRefused("this run was not created by its back-fill while it ran: launch it again")
        made_for = started
        use = f"{seal['nonce']}:{months}"
    else:
        if seal.get("job") != run.job_name:
            raise SealRefused(
                f"this run's identity seal was made for the job {seal.get('job')}, not {run.job_name}: "
                "launch it again"
            )
        if seal.get("partition") != partition:
            raise SealRefused(
                f"this run's identity seal was made for the month {seal.get('partition')}, not {partition}: "
                "launch it again"
            )
        if seal.get("config") is not None and seal["config"] != config_digest(run.run_config):
            raise SealRefused(
                "this run's config is not the config its identity seal was made for: launch it again"
            )
        record = instance.get_run_record_by_id(run.run_id)
        created = getattr(record, "create_timestamp", None)
        made_for = created.timestamp() if isinstance(created, datetime) else time.time()
        use = seal["nonce"]
    if abs(made_for - float(seal.get("ts", 0))) > MAX_AGE_S:
        raise SealRefused(
            f"this run's identity seal was made {abs(made_for - float(seal.get('ts', 0))) / 60:.0f} minutes "
            "away from the run's creation (a seal expires within minutes): launch it again"
        )
    _consume(engine, use, run.run_id)
    return Sealed(
        user=seal.get("user"), via=str(seal.get("via")), run_id=run.run_id, follows=seal.get("follows")
    )


def _consume(engine: sa.Engine, use: str, run_id: str) -> None:
    """Record that `run_id` used the seal; refuse when another run used it first (a copied seal)."""
    ledger.ensure_schema(engine)
    t = consumed_seals
    if engine not in _ready:
        t.create(engine, checkfirst=True)  # the ledger's schema may have been made before this module loaded
        _ready.add(engine)
    try:
        with engine.begin() as conn:
            conn.execute(t.insert().values(use=use, run_id=run_id, consumed_at=ledger.utcnow()))
        return
    except sa.exc.IntegrityError:
        pass
    with engine.connect() as conn:
        first = conn.execute(sa.select(t.c.run_id).where(t.c.use == use)).scalar()
    if first != run_id:
        raise SealRefused(
            f"this run's identity seal was already used by run {first} (copied from another run's tags): "
            "launch it again from the Dagster UI"
        )


def seal_tags(key: bytes, **kwargs) -> dict[str, str]:
    """The tag that carries a new seal (arguments as `make`)."""
    return {SEAL_TAG: make(key, **kwargs)}
