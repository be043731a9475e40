"""The composition root of the router process: route table, stage, metrics, health server.

``serve_router`` is what ``claimflow route`` runs: it routes until SIGTERM (or SIGINT), then
lets the stage finish its current transactions, leave the group and close its clients.
"""

from __future__ import annotations

import asyncio
import signal

from prometheus_client import CollectorRegistry

from claimflow.health import HealthServer, process_registry
from claimflow.settings import Settings
from claimflow.tracing import configure_tracing
from router._metrics import RouterMetrics
from router.routes import RouteTable
from router.stage import RouterStage

__all__ = ["build_stage", "serve_router"]


def build_stage(settings: Settings, registry: CollectorRegistry) -> RouterStage:
    """The router stage for ``settings``, its metrics registered on ``registry``."""
    routes = RouteTable.load(settings.router.route_table, settings.kafka.topic_prefix)
    return RouterStage(
        kafka=settings.kafka,
        settings=settings.router,
        routes=routes,
        metrics=RouterMetrics.create(registry),
    )


async def serve_router(settings: Settings) -> None:
    """Run the stage and its health server until a stop signal; raise if the stage fails."""
    configure_tracing(settings.tracing, role="router")
    registry = process_registry()
    stage = build_stage(settings, registry)
    health = HealthServer(
        host=settings.handlers.health_host,
        port=settings.handlers.health_port,
        ready=stage.ready,
        registry=registry,
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stage.stop)
    await health.start()
    try:
        await stage.run()
    finally:
        await health.stop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
