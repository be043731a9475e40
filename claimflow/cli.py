"""The ``claimflow`` console command.

Each part of the flow registers its own subcommands (``register(subparsers)`` in
``receiver/cli.py``, ``router/cli.py``, ``handlers/cli.py``, ``sandboxes/cli.py`` and
``claimflow/devstack/cli.py``); those modules import nothing heavy until a command runs.
The last two are developer tooling: the production wheel leaves them out (pyproject.toml), and
their commands then simply do not exist.

:func:`main` is the one place where a failure becomes what a person reads: one line on
stderr and an exit code from :class:`claimflow.errors.ExitCode` (docs/operations.md, "Exit
codes"). Commands raise; they do not print their own errors. A long-running service (one
that configured logging) also logs one structured line with the error type; the traceback
goes to DEBUG only.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from claimflow.errors import CommandError, ExitCode, from_exception

if TYPE_CHECKING:
    from claimflow.settings import Settings

__all__ = ["build_parser", "main"]

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


class _VersionAction(argparse.Action):
    """``--version``, computed only when asked (it may run ``git``)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from claimflow.version import describe_version

        print(describe_version())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    from handlers import cli as handlers_cli
    from receiver import cli as receiver_cli
    from router import cli as router_cli
    from worklist import cli as worklist_cli

    parser = argparse.ArgumentParser(
        prog="claimflow",
        description="Redox claim webhooks -> Kafka -> claims ledger.",
        epilog="example: claimflow serve --port 8080   (exit codes: docs/operations.md)",
    )
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for part in (receiver_cli, router_cli, handlers_cli, worklist_cli, *_installed_dev_parts()):
        part.register(subparsers)
    return parser


def _settings() -> Settings | None:
    """The settings, to say where a failure happened; None when they are the failure."""
    from claimflow.settings import load_settings

    try:
        return load_settings()
    except Exception:  # noqa: BLE001 - an invalid setting is reported as the error itself
        return None


def _log_failure(error: CommandError, exc: BaseException) -> None:
    """One structured line for log pipelines (services only), the traceback at DEBUG."""
    import structlog

    if not structlog.is_configured():
        return
    log = structlog.get_logger("claimflow.cli")
    log.error(
        "command_failed",
        reason=str(error),  # addresses, paths, setting names: never a value of a message
        error=type(error).__name__,
        cause=type(exc).__name__,
        exit_code=int(error.exit_code),
    )
    log.debug("command_failed_traceback", exc_info=exc)


def _report(exc: Exception) -> int:
    settings = _settings()
    error = from_exception(exc, settings)
    if error is None:
        error = CommandError(
            f"unexpected {type(exc).__name__}; run again with CLAIMFLOW_LOGGING__LEVEL=DEBUG "
            "to see the traceback, and report it"
        )
    _log_failure(error, exc)
    import structlog

    debug = settings is not None and settings.logging.level == "DEBUG"
    if debug and not structlog.is_configured():
        traceback.print_exception(exc, file=sys.stderr)
    print(f"claimflow: {error}", file=sys.stderr)
    return int(error.exit_code)


def _silence_unconfigured_logging() -> None:
    """Commands that configure no logging must not print library records (lastResort)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # bad usage: argparse prints one usage line and exits 2
    command: Command = args.run
    _silence_unconfigured_logging()
    try:
        return int(command(args))
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - the one place a failure becomes a line and a code
        return _report(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
