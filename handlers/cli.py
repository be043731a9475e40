"""Subcommands of `claimflow` that belong to handlers/ (registered by claimflow.cli).

``claimflow handle NAME`` runs one handler until SIGTERM; ``claimflow dlq replay HANDLER``
moves a handler's dead letters back to their original topics (``--dry-run`` only lists them);
``claimflow db upgrade`` migrates both wings' schemas (the ledger's, then the follow-up state's).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from claimflow.errors import UsageError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add this part's subcommands; heavy imports happen inside the command functions."""
    handle = subparsers.add_parser(
        "handle",
        help="run one Kafka handler until SIGTERM",
        epilog="example: claimflow handle ledger",
    )
    handle.add_argument("name", metavar="NAME", help="the handler to run")
    handle.set_defaults(run=_handle)

    dlq = subparsers.add_parser(
        "dlq",
        help="dead-letter topics of the handlers",
        epilog="example: claimflow dlq replay ledger --dry-run",
    )
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")
    replay = dlq_commands.add_parser(
        "replay",
        help="move a handler's dead letters back to their original topics",
        epilog="example: claimflow dlq replay ledger --dry-run --limit 10",
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

    db = subparsers.add_parser(
        "db", help="the claims ledger database", epilog="example: claimflow db upgrade"
    )
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    up = db_commands.add_parser(
        "upgrade",
        help="apply the ledger's migrations",
        epilog="example: CLAIMFLOW_DATABASE__URL=postgresql+asyncpg://... claimflow db upgrade",
    )
    up.set_defaults(run=_upgrade)


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
        raise UsageError(f"unknown handler {args.name!r}; known: {known}")
    settings = load_settings()
    configure_logging(settings.logging)
    asyncio.run(serve_handler(settings, factory))
    return 0


def _replay(args: argparse.Namespace) -> int:
    from claimflow.logging import configure_logging
    from claimflow.progress import progress
    from claimflow.settings import load_settings
    from handlers.runtime import replay_dead_letters
    from router.topics import TopicSet

    settings = load_settings()
    configure_logging(settings.logging)
    lane = args.lane or settings.handlers.lane
    topic_set = TopicSet(prefix=settings.kafka.topic_prefix, lane=lane)
    topic = topic_set.handler_dead_letter(args.handler)

    def echo(line: str) -> None:  # one line per dead letter seen
        print(line)
        bar.advance()

    try:
        with progress(f"dlq replay {args.handler}", args.limit, unit="dead letters") as bar:
            summary = asyncio.run(
                replay_dead_letters(
                    settings.kafka,
                    topic_set,
                    args.handler,
                    dry_run=args.dry_run,
                    limit=args.limit,
                    echo=echo,
                )
            )
    except LookupError as exc:  # no such handler's dead-letter topic
        known = "ledger, status-check, attachment"
        raise UsageError(f"{exc}; is {args.handler!r} a handler ({known})?") from exc
    if args.dry_run:
        print(f"dry run: {summary.seen} dead letters on {topic} would be replayed")
    else:
        print(
            f"replayed {summary.replayed} dead letters from {topic}"
            f" ({summary.skipped} skipped without an original topic)"
        )
    return 0


async def _upgrade_db(settings: Any) -> None:
    """Both schemas, through the one helper: the ledger's chain, then the follow-up state's."""
    from claimflow.database import create_engine
    from handlers.followups.state.database import FOLLOW_UP_MIGRATIONS
    from handlers.ledger.database import LEDGER_MIGRATIONS

    engine = create_engine(settings.database)
    try:
        for migrations in (LEDGER_MIGRATIONS, FOLLOW_UP_MIGRATIONS):
            await migrations.upgrade(engine)
    finally:
        await engine.dispose()


def _upgrade(args: argparse.Namespace) -> int:
    from claimflow.settings import load_settings

    asyncio.run(_upgrade_db(load_settings()))
    print("the claims ledger schema is up to date")
    return 0
