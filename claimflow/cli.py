"""The ``claimflow`` console command.

Each part of the flow registers its own subcommands (``register(subparsers)`` in
``receiver/cli.py``, ``router/cli.py``, ``handlers/cli.py``, ``sandboxes/cli.py`` and
``claimflow/devstack/cli.py``); those modules import nothing heavy until a command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from claimflow.settings import ConfigurationError

__all__ = ["main"]

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    from claimflow.devstack import cli as devstack_cli
    from handlers import cli as handlers_cli
    from receiver import cli as receiver_cli
    from router import cli as router_cli
    from sandboxes import cli as sandboxes_cli
    from worklist import cli as worklist_cli

    parser = argparse.ArgumentParser(
        prog="claimflow", description="Redox claim webhooks -> Kafka -> claims ledger."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for part in (receiver_cli, router_cli, handlers_cli, worklist_cli, sandboxes_cli, devstack_cli):
        part.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command = args.run
    try:
        return command(args)
    except ConfigurationError as exc:  # a missing secret, a bad route table or rules file
        print(f"claimflow: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            print(f"claimflow: invalid setting {where}: {error['msg']}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
