"""A small HTTP server for probes and Prometheus: ``/healthz``, ``/readyz``, ``/metrics``.

Any long-running claimflow process (router, handlers) serves it next to its work, as an asyncio
task in the same loop: it takes a readiness callable and the process's metrics registry. The
socket is bound in :meth:`HealthServer.start`, so a port already in use fails start-up at once
and port 0 (tests) tells the real port through :attr:`HealthServer.port`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator

import uvicorn
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from claimflow.listening import bind_listener

__all__ = ["HealthServer", "build_health_app", "process_registry"]


def process_registry() -> CollectorRegistry:
    """A new registry for one role's metrics, with the process's own already on it.

    ``process_*`` (CPU seconds, resident memory, open file descriptors, start time),
    ``python_info`` and ``python_gc_*``: what every role's ``/metrics`` shows next to its own.
    """
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def build_health_app(ready: Callable[[], bool], registry: CollectorRegistry) -> Starlette:
    """``/healthz`` (the loop answers), ``/readyz`` (``ready()``), ``/metrics`` (``registry``)."""

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        if ready():
            return PlainTextResponse("ready\n")
        return PlainTextResponse("not ready\n", status_code=503)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
    )


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process that embeds it owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HealthServer:
    """The health app on ``host:port``, run as a task of the current event loop."""

    def __init__(
        self, *, host: str, port: int, ready: Callable[[], bool], registry: CollectorRegistry
    ) -> None:
        self._host = host
        self._port = port
        config = uvicorn.Config(
            build_health_app(ready, registry),
            lifespan="off",
            log_config=None,
            access_log=False,
        )
        self._server = _EmbeddedServer(config)
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port listened on: the real one when configured with port 0."""
        if self._socket is None:
            raise RuntimeError("the health server is not started")
        return int(self._socket.getsockname()[1])

    async def start(self) -> None:
        """Bind the socket (errors raise here) and serve until :meth:`stop`."""
        sock = bind_listener(
            self._host,
            self._port,
            what="the health server",
            setting="CLAIMFLOW_HANDLERS__HEALTH_PORT",
        )
        self._socket = sock
        self._task = asyncio.create_task(self._server.serve([sock]), name="health-server")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # re-raises why it could not start
                raise RuntimeError("the health server stopped before it started")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        if self._task is not None:
            self._server.should_exit = True
            await self._task
            self._task = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
