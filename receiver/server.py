"""``claimflow serve``: the receiver under uvicorn, in this process."""

from __future__ import annotations

import gc

import structlog
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from claimflow.listening import bind_listener
from claimflow.logging import configure_logging
from claimflow.settings import Settings
from claimflow.tracing import configure_tracing, instrument_asgi
from receiver.app import create_app

__all__ = ["serve"]


class _StartupGuard:
    """Keeps a failed start-up's traceback out of the logs, and the failure for the caller.

    Starlette reports a lifespan exception to uvicorn as ``lifespan.startup.failed`` with the
    whole traceback as its message, which uvicorn logs at ERROR. The guard blanks that message
    and keeps the exception: ``serve`` raises it, and ``claimflow.cli`` turns it into one
    structured log line and one line for a person (the traceback only at DEBUG).
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.failure: Exception | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self._app(scope, receive, send)
            return

        async def send_without_traceback(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                message = {**message, "message": ""}
            await send(message)

        try:
            await self._app(scope, receive, send_without_traceback)
        except Exception as exc:
            self.failure = exc
            raise


def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; the lifespan flushes the producer before exit.

    Kafka must be reachable at start-up: a receiver that cannot publish raises the start-up
    failure (``claimflow.cli`` exits 3) and its supervisor restarts it, rather than serving
    503s with a broken producer. A port in use fails before anything connects (exit 2).
    """
    configure_logging(settings.logging)
    configure_tracing(settings.tracing, role="receiver")
    traced = instrument_asgi(create_app(settings), routes=("/webhooks/redox", "/openapi.json"))
    app = _StartupGuard(traced)  # a missing token stops here (create_app)
    listener = bind_listener(
        settings.receiver.host,
        settings.receiver.port,
        what="the receiver",
        setting="--port or CLAIMFLOW_RECEIVER__PORT",
    )
    config = uvicorn.Config(
        app,
        log_config=None,  # keep configure_logging's handlers: uvicorn's lines go through it
        access_log=False,  # the webhook's canonical line says more, and redacted
        lifespan="on",
        proxy_headers=False,
        server_header=False,
        # Redox waits for our answer; give in-flight publishes time to finish on shutdown.
        timeout_graceful_shutdown=int(settings.kafka.publish_timeout_seconds) + 5,
    )
    host, port = listener.getsockname()[:2]
    structlog.get_logger("receiver.server").info("starting", url=f"http://{host}:{port}")
    # What start-up made (modules, models, the app: ~65,000 objects) lives as long as the
    # process: out of the collector's sight, a full collection no longer walks it (~35 ms each,
    # ~12% of the receiver's CPU under load before; docs/performance.md).
    gc.freeze()
    try:
        uvicorn.Server(config).run(sockets=[listener])
    except SystemExit:  # uvicorn's STARTUP_FAILURE: say why, not just that
        if app.failure is None:
            raise
    finally:
        listener.close()
    if app.failure is not None:
        raise app.failure  # outside the except: its own cause chain stays as it was
    return 0
