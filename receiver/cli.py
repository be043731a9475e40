"""Subcommands of `claimflow` that belong to receiver/ (registered by claimflow.cli)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def _serve(args: argparse.Namespace) -> int:
    from claimflow.settings import ReceiverSettings, load_settings
    from receiver.server import serve

    settings = load_settings()
    overrides = {
        name: value for name in ("host", "port") if (value := getattr(args, name)) is not None
    }
    if overrides:
        receiver = ReceiverSettings.model_validate({**settings.receiver.model_dump(), **overrides})
        settings = settings.model_copy(update={"receiver": receiver})
    return serve(settings)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add this part's subcommands; heavy imports happen inside the command functions."""
    serve = subparsers.add_parser(
        "serve",
        help="run the receiver: Redox webhooks -> Kafka (Starlette + uvicorn)",
        epilog="example: CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN=... claimflow serve --port 8080",
    )
    serve.add_argument("--host", help="interface to listen on (default: CLAIMFLOW_RECEIVER__HOST)")
    serve.add_argument(
        "--port", type=int, help="port to listen on (default: CLAIMFLOW_RECEIVER__PORT)"
    )
    serve.set_defaults(run=_serve)
