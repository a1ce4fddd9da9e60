"""The state database as the version before sealed stagings wrote it: its two tables, a sealed decision and
a staging, so that the migration can be tried on SQLite and on PostgreSQL alike."""

import sqlalchemy as sa

from metpipeline.governance import seal


def write_earlier_ledger(engine: sa.Engine, key: bytes) -> None:
    old = sa.MetaData()
    stagings = sa.Table(
        "staged_candidates",
        old,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(20), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("staged_at", sa.DateTime, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("launched_by", sa.String(100), nullable=True),
        sa.Column("checks_passed", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
    )
    decisions = sa.Table(
        "owner_decisions",
        old,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        *(
            sa.Column(name, kind, nullable=nullable)
            for name, kind, nullable in (
                ("dataset", sa.String(20), False),
                ("seq", sa.Integer, False),
                ("month", sa.String(7), False),
                ("content_hash", sa.String(64), False),
                ("decision", sa.String(10), False),
                ("approver", sa.String(100), False),
                ("authentication", sa.String(20), False),
                ("signed_in_user", sa.String(100), True),
                ("comment", sa.Text, False),
                ("checklist", sa.Text, False),
                ("registry_path", sa.String(500), False),
                ("registry_sha256", sa.String(64), False),
                ("registry_version", sa.String(40), False),
                ("run_id", sa.String(64), False),
                ("decided_at", sa.DateTime, False),
                ("prev_mac", sa.String(64), False),
                ("mac", sa.String(64), False),
            )
        ),
        sa.UniqueConstraint("dataset", "seq", name="uq_owner_decisions_chain"),
        sa.UniqueConstraint(
            "dataset",
            "month",
            "content_hash",
            "approver",
            "registry_sha256",
            name="uq_owner_decisions_person",
        ),
    )
    old.create_all(engine)
    from datetime import datetime

    when = datetime(2024, 4, 2, 9, 0, 0)
    fields = {
        "dataset": "borough",
        "seq": 1,
        "month": "2024-03",
        "content_hash": "a" * 64,
        "decision": "approve",
        "approver": "alice.owner",
        "authentication": "unauthenticated",
        "signed_in_user": None,
        "comment": "",
        "checklist": "",
        "registry_path": "/etc/owners.yaml",
        "registry_sha256": "c" * 64,
        "registry_version": "7",
        "run_id": "run-1",
        "decided_at": when,
        "prev_mac": "",
    }
    with engine.begin() as conn:
        conn.execute(
            stagings.insert().values(
                dataset="borough",
                month="2024-03",
                content_hash="a" * 64,
                staged_at=when,
                run_id="run-0",
                launched_by="eve.engineer",
                checks_passed=True,
                status="awaiting approval",
            )
        )
        conn.execute(decisions.insert().values(**fields, mac=seal.seal(key, fields)))
