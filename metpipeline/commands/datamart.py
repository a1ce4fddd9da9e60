"""`metpipeline datamart …`: seed the synthetic DataMart and describe what a DataMart holds."""

import argparse
import sys
from typing import Any

import sqlalchemy as sa

from metpipeline.datamart import ddl
from metpipeline.datamart.seed import DEFAULT_SEED, DataMartNotEmpty, seed_datamart, table_counts
from metpipeline.datamart.timeutil import last_complete_month, month_str
from metpipeline.db import make_engine
from metpipeline.settings import DATAMART_URL, check_sqlalchemy_url, redact_url


def _url(args: argparse.Namespace) -> str:
    return check_sqlalchemy_url(DATAMART_URL.name, args.url or DATAMART_URL.value() or "")


def _seed(args: argparse.Namespace) -> int:
    url = _url(args)
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(sa.make_url(url).database or ".").parent.mkdir(parents=True, exist_ok=True)
    try:
        summary = seed_datamart(
            url,
            args.first,
            args.last,
            seed=args.seed,
            defects=args.defects,
            force=args.force,
            scale=args.scale,
            progress=not args.quiet,
        )
    except DataMartNotEmpty as exc:
        print(f"refusing to seed: {exc}", file=sys.stderr)
        return 1
    print(summary.render())
    return 0


def _month_range(engine: sa.Engine, name: str, column: str) -> tuple[str | None, str | None]:
    t = ddl.core_table(name, engine.dialect.name)
    col: sa.ColumnClause[Any] = sa.column(column)
    with engine.connect() as conn:
        lo, hi = conn.execute(sa.select(sa.func.min(col), sa.func.max(col)).select_from(t)).one()
    return (str(lo)[:7] if lo else None, str(hi)[:7] if hi else None)


def _info(args: argparse.Namespace) -> int:
    url = _url(args)
    engine = make_engine(url)
    counts = table_counts(engine)
    print(f"DataMart {redact_url(url)}")
    if not counts:
        print("  no contract tables (run `metpipeline datamart seed`)")
        return 1
    for name, n in counts.items():
        print(f"  {name:<24} {n:>12,}")
    for name, column in (("cris_crime_report", "recorded_at"), ("connect_offence", "recorded_at_utc")):
        if counts.get(name):
            lo, hi = _month_range(engine, name, column)
            print(f"  {name}.{column}: {lo} .. {hi}")
    return 0


def register(subparsers) -> None:
    """Add the `datamart` command group to an argparse subparsers object."""
    group = subparsers.add_parser("datamart", help="seed or describe the DataMart")
    sub = group.add_subparsers(dest="datamart_command", required=True, metavar="ACTION")

    seed = sub.add_parser(
        "seed", help="create the contract tables and fill them with synthetic MPS-scale data"
    )
    seed.add_argument(
        "--from", dest="first", default="2022-01", metavar="YYYY-MM", help="first month (2022-01)"
    )
    seed.add_argument(
        "--to",
        dest="last",
        default=None,
        metavar="YYYY-MM",
        help=f"last month (default: last complete month in London, now {month_str(last_complete_month())})",
    )
    seed.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed ({DEFAULT_SEED})")
    seed.add_argument("--url", default=None, help=f"SQLAlchemy URL (default: ${DATAMART_URL.name} or var/)")
    seed.add_argument(
        "--defects", action="store_true", help="relaxed tables plus release-blocking data errors"
    )
    seed.add_argument("--force", action="store_true", help="replace a DataMart that already holds rows")
    seed.add_argument("--scale", type=float, default=1.0, help="volume multiplier (1.0 = MPS scale)")
    seed.add_argument("--quiet", action="store_true", help="no progress bar")
    seed.set_defaults(func=_seed)

    info = sub.add_parser("info", help="rows per table and months covered")
    info.add_argument("--url", default=None, help=f"SQLAlchemy URL (default: ${DATAMART_URL.name} or var/)")
    info.set_defaults(func=_info)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m metpipeline.commands.datamart")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["datamart", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
