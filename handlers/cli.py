"""Subcommands of `claimflow` that belong to handlers/ (registered by claimflow.cli).

``claimflow handle NAME`` runs one handler until SIGTERM; ``claimflow dlq replay HANDLER``
moves a handler's dead letters back to their original topics (``--dry-run`` only lists them).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add this part's subcommands; heavy imports happen inside the command functions."""
    handle = subparsers.add_parser("handle", help="run one Kafka handler until SIGTERM")
    handle.add_argument("name", metavar="NAME", help="the handler to run")
    handle.set_defaults(run=_handle)

    dlq = subparsers.add_parser("dlq", help="dead-letter topics of the handlers")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")
    replay = dlq_commands.add_parser(
        "replay", help="move a handler's dead letters back to their original topics"
    )
    replay.add_argument("handler", metavar="HANDLER", help="whose dead-letter topic to replay")
    replay.add_argument(
        "--dry-run", action="store_true", help="list the dead letters without moving them"
    )
    replay.add_argument(
        "--limit", type=_positive_int, default=None, help="replay at most N dead letters"
    )
    replay.add_argument(
        "--lane",
        choices=("production", "test"),
        default=None,
        help="which lane's topics (default: CLAIMFLOW_HANDLERS__LANE)",
    )
    replay.set_defaults(run=_replay)

    from handlers.ledger import cli as ledger_cli

    ledger_cli.register(subparsers)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _handle(args: argparse.Namespace) -> int:
    from claimflow.logging import configure_logging
    from claimflow.settings import load_settings
    from handlers.registry import HANDLER_FACTORIES
    from handlers.runtime import serve_handler

    factory = HANDLER_FACTORIES.get(args.name)
    if factory is None:
        known = ", ".join(sorted(HANDLER_FACTORIES)) or "none yet"
        print(f"claimflow: unknown handler {args.name!r}; known: {known}", file=sys.stderr)
        return 2
    settings = load_settings()
    configure_logging(settings.logging)
    asyncio.run(serve_handler(settings, factory))
    return 0


def _replay(args: argparse.Namespace) -> int:
    from claimflow.logging import configure_logging
    from claimflow.settings import load_settings
    from handlers.runtime import replay_dead_letters
    from router.topics import TopicSet

    settings = load_settings()
    configure_logging(settings.logging)
    lane = args.lane or settings.handlers.lane
    topic_set = TopicSet(prefix=settings.kafka.topic_prefix, lane=lane)
    topic = topic_set.handler_dead_letter(args.handler)
    try:
        summary = asyncio.run(
            replay_dead_letters(
                settings.kafka,
                topic_set,
                args.handler,
                dry_run=args.dry_run,
                limit=args.limit,
                echo=print,
            )
        )
    except LookupError as exc:
        print(f"claimflow: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(f"dry run: {summary.seen} dead letters on {topic} would be replayed")
    else:
        print(
            f"replayed {summary.replayed} dead letters from {topic}"
            f" ({summary.skipped} skipped without an original topic)"
        )
    return 0
