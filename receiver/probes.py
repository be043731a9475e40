"""Health, readiness and metrics endpoints for Kubernetes and Prometheus."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from receiver.context import ReceiverContext

__all__ = ["healthz", "metrics", "readyz"]


async def healthz(request: Request) -> Response:
    """Liveness: the process serves requests (Kafka's state does not matter here)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: the producer is connected and the cluster knows every webhook topic."""
    context: ReceiverContext = request.state.context
    if await context.publisher.is_ready(context.routes.webhook_topics()):
        return JSONResponse({"status": "ready"})
    return JSONResponse(
        {"status": "unavailable", "detail": "Kafka is not reachable or a webhook topic is missing"},
        status_code=503,
        headers={"Retry-After": context.retry_after},
    )


async def metrics(request: Request) -> Response:
    context: ReceiverContext = request.state.context
    return Response(generate_latest(context.metrics.registry), media_type=CONTENT_TYPE_LATEST)
