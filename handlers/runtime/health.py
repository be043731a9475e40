"""A small HTTP server for probes and Prometheus: ``/healthz``, ``/readyz``, ``/metrics``.

Self-contained (Starlette + uvicorn + prometheus-client only) so that any claimflow process
can serve it: it takes a readiness callable and a metrics registry. Port 0 picks a free port;
``port`` tells which one after ``start``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["HealthServer", "build_health_app"]


def build_health_app(ready: Callable[[], bool], registry: CollectorRegistry) -> Starlette:
    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        if ready():
            return PlainTextResponse("ready\n")
        return PlainTextResponse("not ready\n", status_code=503)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ]
    )


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the process that embeds it owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HealthServer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        ready: Callable[[], bool],
        registry: CollectorRegistry,
    ) -> None:
        config = uvicorn.Config(
            build_health_app(ready, registry),
            host=host,
            port=port,
            lifespan="off",
            log_config=None,
            access_log=False,
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(), name="health-server")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # re-raises why it could not start (port in use)
                raise RuntimeError("health server stopped before it started")
            await asyncio.sleep(0.01)

    @property
    def port(self) -> int:
        """The port the server listens on (the real one when configured with port 0)."""
        sockets = self._server.servers[0].sockets
        return int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None
