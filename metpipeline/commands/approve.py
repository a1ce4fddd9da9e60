"""`metpipeline approve DATASET YYYY-MM --as NAME [--reject] [--comment TEXT] [--hash HASH]`.

Records the same decision, through the same checks, as the Launchpad job `record_approval`. Without
--hash the current candidate is decided on, and its hash is printed so the user sees what they approved.
Decisions made here are recorded as *unauthenticated*; when the deployment has a sign-in proxy
(METPIPELINE_IDENTITY_HEADER), decisions are taken in the UI only and this command refuses.
"""

import argparse
import sys
from pathlib import Path

from metpipeline import settings
from metpipeline.db import make_state_engine
from metpipeline.governance import decide, ledger
from metpipeline.governance.registry import DATASETS, RegistryError, load_registry
from metpipeline.governance.seal import load_key


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "approve",
        help="approve (or reject) a month's release candidate for one dataset",
        description="Record the data owner's decision on the current release candidate of a dataset.",
    )
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument("month", help="release month, YYYY-MM")
    parser.add_argument("--as", dest="approver", required=True, help="your name in the owners registry")
    parser.add_argument("--reject", action="store_true", help="reject instead of approve")
    parser.add_argument("--comment", default="", help="why; kept in the ledger")
    parser.add_argument("--hash", dest="candidate_hash", default=None, help="content hash (default: current)")
    parser.set_defaults(func=run)


def register_acknowledge(subparsers) -> None:
    parser = subparsers.add_parser(
        "acknowledge-volume",
        help="confirm that a month blocked by the volume check really has that total",
        description="Record a borough owner's acknowledgement of a month's implausible total (sealed).",
    )
    parser.add_argument("month", help="release month, YYYY-MM")
    parser.add_argument("--total", type=int, required=True, help="the month_total the check reported")
    parser.add_argument("--as", dest="approver", required=True, help="your name in the owners registry")
    parser.add_argument("--reason", required=True, help="why the total is real")
    parser.set_defaults(func=run_acknowledge)


def run_acknowledge(args: argparse.Namespace) -> int:
    from metpipeline.governance import acknowledge

    if (settings.IDENTITY_HEADER.value() or "").strip():
        print(
            "refused: with a sign-in proxy, acknowledge in the Dagster UI (job acknowledge_volume)",
            file=sys.stderr,
        )
        return 1
    engine = make_state_engine(
        settings.check_sqlalchemy_url(settings.STATE_URL.name, settings.STATE_URL.value() or "")
    )
    try:
        ack = acknowledge.record(
            engine,
            load_key(),
            load_registry(settings.OWNERS_FILE.value() or ""),
            args.month,
            args.total,
            args.approver,
            args.reason,
        )
    except (decide.DecisionRefused, RegistryError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    print(f"recorded: {args.month} {ack.describe()}; release the month again")
    return 0


def run(args: argparse.Namespace) -> int:
    if (settings.IDENTITY_HEADER.value() or "").strip():
        print(
            f"refused: this deployment has a sign-in proxy ({settings.IDENTITY_HEADER.name} is set), so "
            "decisions are taken in the Dagster UI, where the signed-in user is known",
            file=sys.stderr,
        )
        return 1
    url = settings.check_sqlalchemy_url(settings.STATE_URL.name, settings.STATE_URL.value() or "")
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    engine = make_state_engine(url)
    try:
        registry = load_registry(settings.OWNERS_FILE.value() or "")
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    key = load_key()  # a missing or unreadable key is a configuration error: say so before anything else
    chash = args.candidate_hash
    if not chash:
        current = ledger.current_candidate(engine, args.dataset, args.month)
        if current is None:
            print(f"error: no release candidate is staged for {args.dataset} {args.month}", file=sys.stderr)
            return 1
        chash = current.content_hash
        print(f"current candidate for {args.dataset} {args.month}: {chash}")
    try:
        decision, status = decide.record_decision(
            engine,
            key,
            registry,
            args.dataset,
            args.month,
            "reject" if args.reject else "approve",
            args.approver,
            args.comment,
            chash,
        )
    except decide.DecisionRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    print(f"recorded: {decision.dataset} {decision.month} candidate {decision.content_hash}")
    print(f"          {decision.describe()}")
    if decision.decision == "approve":
        print(f"          {len(status.approvers)} of {status.required} required approval(s)")
    return 0
