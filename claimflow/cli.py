"""The ``claimflow`` console command.

Each part of the flow registers its own subcommands (``register(subparsers)`` in
``receiver/cli.py``, ``router/cli.py``, ``handlers/cli.py``, ``sandboxes/cli.py`` and
``claimflow/devstack/cli.py``); those modules import nothing heavy until a command runs.
The last two are developer tooling: the production wheel leaves them out (pyproject.toml), and
their commands then simply do not exist.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from pydantic import ValidationError

from claimflow.settings import ConfigurationError

__all__ = ["main"]

Command = Callable[[argparse.Namespace], int]

# Developer tooling, present in a checkout and in the image's `dev` target only.
_DEV_PARTS = ("sandboxes.cli", "claimflow.devstack.cli")


def _installed_dev_parts() -> list[ModuleType]:
    parts = []
    for name in _DEV_PARTS:
        try:
            parts.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            # Only the tooling's own absence is expected; a missing dependency inside it is not.
            if exc.name is None or not name.startswith(exc.name):
                raise
    return parts


def build_parser() -> argparse.ArgumentParser:
    from handlers import cli as handlers_cli
    from receiver import cli as receiver_cli
    from router import cli as router_cli

    parser = argparse.ArgumentParser(
        prog="claimflow", description="Redox claim webhooks -> Kafka -> claims ledger."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for part in (receiver_cli, router_cli, handlers_cli, *_installed_dev_parts()):
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
