"""``claimflow web``: the billing worklist (registered by claimflow.cli)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def _web(args: argparse.Namespace) -> int:
    from claimflow.settings import WebSettings, load_settings
    from worklist.server import serve

    settings = load_settings()
    overrides = {
        name: value for name in ("host", "port") if (value := getattr(args, name)) is not None
    }
    if overrides:
        web = WebSettings.model_validate({**settings.web.model_dump(), **overrides})
        settings = settings.model_copy(update={"web": web})
    return serve(settings)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``web``; heavy imports happen inside the command function."""
    web = subparsers.add_parser(
        "web",
        help="run the billing worklist: queues, claims and notes (sign-in required)",
        epilog="example: CLAIMFLOW_WEB__ISSUER=https://login.example.org claimflow web --port 8090",
    )
    web.add_argument("--host", help="interface to listen on (default: CLAIMFLOW_WEB__HOST)")
    web.add_argument("--port", type=int, help="port to listen on (default: CLAIMFLOW_WEB__PORT)")
    web.set_defaults(run=_web)
    from worklist import review_cli

    review_cli.register(subparsers)
