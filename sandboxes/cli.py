"""Subcommands of `claimflow` that belong to sandboxes/ (registered by claimflow.cli).

``claimflow sandbox integrex|availity [--host H] [--port P] ...`` serves a partner sandbox with
uvicorn, for the local stack (the production clients point their base URLs at it).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from claimflow.errors import (
    CommandError,
    DataRefused,
    DependencyUnavailable,
    FileProblem,
    UsageError,
)

__all__ = ["register"]

_DEFAULT_PORTS = {"integrex": 8091, "availity": 8092}


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add this part's subcommands; heavy imports happen inside the command functions."""
    parser = subparsers.add_parser(
        "sandbox",
        help="Serve a fake Integrex or Availity API for local runs and tests.",
        epilog="example: claimflow sandbox integrex --port 8091 --category-code R4",
    )
    parser.add_argument("partner", choices=sorted(_DEFAULT_PORTS), help="Which partner to play.")
    parser.add_argument("--host", default="127.0.0.1", help="Interface to listen on.")
    parser.add_argument(
        "--port", type=int, default=None, help="Port (integrex 8091, availity 8092 by default)."
    )
    parser.add_argument(
        "--client-id",
        default=None,
        help="Client id the sandbox accepts (default: the partner's demo/sandbox id).",
    )
    parser.add_argument(
        "--client-secret",
        default=None,
        help="Client secret the sandbox accepts: a dev value, visible to `ps`; "
        "CLAIMFLOW_SANDBOX_CLIENT_SECRET is read when this is absent.",
    )
    parser.add_argument(
        "--token-lifetime",
        type=float,
        default=None,
        help="Seconds an access token lives (integrex 3599, availity 300 by default).",
    )
    parser.add_argument(
        "--pending-polls",
        type=int,
        default=1,
        help="Polls answered 'pending' before a result or a final status.",
    )
    parser.add_argument(
        "--category-code",
        default=None,
        help="Integrex: answer every inquiry with this X12 category (e.g. R4); default A4.",
    )
    parser.add_argument(
        "--status-code", default=None, help="Integrex: the X12 status code to answer with."
    )
    parser.set_defaults(run=_serve)
    _register_send_sample(subparsers)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from starlette.applications import Starlette

    # The sandbox guards nothing real: its secret may come on the command line (the local
    # stack's dev value), else from the environment, else the sandbox's published default.
    secret = args.client_secret or os.environ.get("CLAIMFLOW_SANDBOX_CLIENT_SECRET")
    app: Starlette
    if args.partner == "integrex":
        from sandboxes import integrex

        app = integrex.create_app(
            client_id=args.client_id or integrex.DEMO_CLIENT_ID,
            client_secret=secret or integrex.DEMO_CLIENT_SECRET,
            token_lifetime_seconds=args.token_lifetime or 3599,
            pending_polls=args.pending_polls,
            category_code=args.category_code,
            status_code=args.status_code,
        )
    else:
        from sandboxes import availity

        app = availity.create_app(
            client_id=args.client_id or availity.SANDBOX_CLIENT_ID,
            client_secret=secret or availity.SANDBOX_CLIENT_SECRET,
            token_lifetime_seconds=args.token_lifetime or 300,
            # SUBMITTED (the reference's only status, not final) while "pending", then the
            # local stack's stand-in for a payer's final status (AvailitySettings default).
            status_sequence=["SUBMITTED"] * (args.pending_polls + 1) + ["ACCEPTED"],
        )
    from claimflow.listening import bind_listener

    port = args.port if args.port is not None else _DEFAULT_PORTS[args.partner]
    listener = bind_listener(args.host, port, what=f"the {args.partner} sandbox", setting="--port")
    print(f"{args.partner} sandbox on http://{args.host}:{port}", flush=True)
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="info", lifespan="off")).run([listener])
    finally:
        listener.close()
    return 0


def _register_send_sample(subparsers: argparse._SubParsersAction[Any]) -> None:
    send = subparsers.add_parser(
        "send-sample",
        help="Post Redox's Claim.PaymentBatch sample to URL as Redox would.",
        epilog="example: claimflow send-sample http://127.0.0.1:8080/webhooks/redox --fresh-log-id",
    )
    send.add_argument("url", help="The webhook URL, e.g. http://127.0.0.1:8080/webhooks/redox")
    send.add_argument(
        "--token",
        default=None,
        help="verification-token to send (default: CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN, "
        "else the local dev stack's).",
    )
    send.add_argument("--file", default=None, help="Post this JSON file instead of the sample.")
    send.add_argument(
        "--fresh-log-id",
        action="store_true",
        help="A new Meta.Logs[].ID (a new delivery) instead of the sample's.",
    )
    send.add_argument("--attempts", type=int, default=5, help="Most attempts (Redox retries).")
    send.set_defaults(run=_send_sample)


def _send_sample(args: argparse.Namespace) -> int:
    import asyncio
    import json
    from pathlib import Path

    from sandboxes.redox_sender import Delivery, RedoxSender, load_sample

    token = args.token or os.environ.get("CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN")
    if not token:
        # What `claimflow dev up` (make run) configures: the README's second-shell command.
        from claimflow.devstack.stack import DEV_VERIFICATION_TOKEN

        print("send-sample: no token given, using the local dev stack's")
        token = DEV_VERIFICATION_TOKEN
    try:
        payload = json.loads(Path(args.file).read_bytes()) if args.file else load_sample()
    except ValueError as exc:  # not JSON (OSError: claimflow.cli names the file)
        raise FileProblem(f"{args.file} is not a JSON webhook ({type(exc).__name__})") from exc

    async def send() -> Delivery:
        async with RedoxSender(token=token, max_attempts=args.attempts) as sender:
            delivery = await sender.deliver(args.url, payload, fresh_log_id=args.fresh_log_id)
        for number, attempt in enumerate(delivery.attempts, 1):
            outcome = attempt.status if attempt.status is not None else attempt.error
            print(f"attempt {number} ({attempt.attempt_id}): {outcome}")
        print(f"log id {delivery.log_id}: {'delivered' if delivery.delivered else 'failed'}")
        return delivery

    delivery = asyncio.run(send())
    if not delivery.delivered:
        raise _undelivered(args.url, delivery)
    return 0


def _undelivered(url: str, delivery: Any) -> CommandError:
    """Why the last attempt failed, as the exit code says it (docs/operations.md)."""
    last = delivery.attempts[-1]
    if last.status is None:
        return DependencyUnavailable(
            f"nothing answers at {url} ({last.error}); start the receiver (`make run`)"
        )
    if last.status in (401, 403):
        return UsageError(
            f"{url} refused the verification token ({last.status}); pass --token "
            "or set CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN"
        )
    if last.status < 500:
        return DataRefused(
            f"{url} refused the webhook ({last.status}); fix the payload (--file) and send it again"
        )
    return DependencyUnavailable(
        f"{url} answered {last.status} to every attempt; check the receiver's log"
    )
