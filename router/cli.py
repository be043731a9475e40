"""Subcommands of `claimflow` that belong to router/ (registered by claimflow.cli).

``claimflow route`` runs the router stage until SIGTERM; ``claimflow schemas export``
regenerates docs/schemas/*.json and docs/asyncapi.yaml from the models.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from claimflow.errors import DependencyUnavailable

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add this part's subcommands; heavy imports happen inside the command functions."""
    route = subparsers.add_parser(
        "route",
        help="run the router stage (webhook topics -> per-claim topics) until SIGTERM",
        epilog="example: CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092 claimflow route",
    )
    route.set_defaults(run=_route)

    schemas = subparsers.add_parser(
        "schemas",
        help="the published message schemas",
        epilog="example: claimflow schemas export",
    )
    schema_commands = schemas.add_subparsers(
        dest="schemas_command", required=True, metavar="COMMAND"
    )
    export = schema_commands.add_parser(
        "export",
        help="write JSON Schemas and the AsyncAPI document generated from the models",
        epilog="example: claimflow schemas export --out docs/schemas",
    )
    export.add_argument(
        "--out",
        type=Path,
        default=Path("docs/schemas"),
        help="directory of the JSON Schemas (asyncapi.yaml goes to its parent)",
    )
    export.set_defaults(run=_export)


def _route(args: argparse.Namespace) -> int:
    import asyncio

    from claimflow.logging import configure_logging
    from claimflow.settings import load_settings
    from router.process import serve_router
    from router.stage import TopicLayoutError

    settings = load_settings()
    configure_logging(settings.logging)
    try:
        asyncio.run(serve_router(settings))
    except TopicLayoutError as exc:  # Kafka answers, but the topics are not there (yet)
        raise DependencyUnavailable(
            f"{exc} on {settings.kafka.bootstrap_servers}; run `claimflow topics create`"
        ) from exc
    return 0


def _export(args: argparse.Namespace) -> int:
    from router.schemas import export_schemas

    for path in export_schemas(args.out):
        print(path)
    return 0
