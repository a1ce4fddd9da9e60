"""The `metpipeline` command: seed the embedded DataMart, release a month, back-fill, approve, and the demo.

Runs started here are recorded in the configured Dagster instance (DAGSTER_HOME), so they show in the UI.
"""

import argparse
import sys

from metpipeline.db import DataMartUnreachable, StateBusy
from metpipeline.disclosure.policy import PolicyError
from metpipeline.governance.registry import RegistryError
from metpipeline.settings import ConfigError, redact_secrets


def build_parser() -> argparse.ArgumentParser:
    from metpipeline.commands import approve as approval_cli
    from metpipeline.commands import datamart as datamart_cli
    from metpipeline.commands import release as operate
    from metpipeline.commands import webserver

    parser = argparse.ArgumentParser(
        prog="metpipeline",
        description="Monthly publication of MPS crime statistics: DataMart → checks → approval → bucket.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    datamart_cli.register(sub)
    operate.register(sub)
    approval_cli.register(sub)
    approval_cli.register_acknowledge(sub)
    webserver.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Every setting is checked before any work (one line per malformed one, naming the variable and the
    # expected form), so nothing fails twenty seconds into a run; `config` shows them all with their flags.
    # A malformed setting is never a traceback: settings are read both while the command line is built (the
    # partitions need METPIPELINE_FIRST_MONTH) and while it runs.
    from metpipeline import settings

    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] != ["config"]:
            settings.check_all(files=True)
        parser = build_parser()
        args = parser.parse_args(argv)
        result = args.func(args)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"configuration error: {redact_secrets(line)}", file=sys.stderr)
        return 2
    except DataMartUnreachable as exc:
        print(f"error: {redact_secrets(str(exc))}", file=sys.stderr)
        return 1
    except StateBusy as exc:
        print(f"error: {redact_secrets(str(exc))}", file=sys.stderr)
        return 1
    except (RegistryError, PolicyError) as exc:
        print(f"configuration error: {redact_secrets(str(exc))}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
