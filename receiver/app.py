"""``create_app``: the receiver's Starlette application and its composition root.

The lifespan builds one frozen :class:`~receiver.context.ReceiverContext` (publisher, route
table, token verifier, metrics) and hands it to every request as ``request.state.context``;
nothing is created at import time. The app starts the publisher it is given (or its own
``WebhookPublisher``) on start-up and stops it, flushing, on shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from claimflow.settings import Settings
from receiver import probes
from receiver.context import ReceiverContext
from receiver.metrics import ReceiverMetrics, RecentDeliveries
from receiver.openapi import render
from receiver.publisher import Publisher, WebhookPublisher
from receiver.request_log import RequestLog
from receiver.verification import TokenVerifier
from receiver.webhook import redox_webhook
from router.routes import RouteTable

__all__ = ["create_app"]


class _State(TypedDict):
    context: ReceiverContext


async def _openapi(request: Request) -> Response:
    context: ReceiverContext = request.state.context
    return Response(render(context.routes), media_type="application/json")


def create_app(settings: Settings, *, publisher: Publisher | None = None) -> Starlette:
    """The receiver app; raises ``MissingSecretError`` at once when the token is not set."""
    verifier = TokenVerifier(settings.require_secret("receiver", "verification_token"))
    routes = RouteTable.load(settings.router.route_table, settings.kafka.topic_prefix)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[_State]:
        used = publisher or WebhookPublisher(settings.kafka)
        await used.start()
        try:
            yield {
                "context": ReceiverContext(
                    settings=settings.receiver,
                    routes=routes,
                    publisher=used,
                    verifier=verifier,
                    metrics=ReceiverMetrics.create(),
                    recent=RecentDeliveries(),
                    request_log=RequestLog(settings.logging),
                )
            }
        finally:
            await used.stop()

    return Starlette(
        routes=[
            # One route for both methods: a 405 there allows GET (and HEAD) and POST.
            Route("/webhooks/redox", redox_webhook, methods=["GET", "POST"]),
            Route("/healthz", probes.healthz, methods=["GET"]),
            Route("/readyz", probes.readyz, methods=["GET"]),
            Route("/metrics", probes.metrics, methods=["GET"]),
            Route("/openapi.json", _openapi, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
