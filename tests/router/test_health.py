"""The health server every long-running process embeds."""

from __future__ import annotations

import socket

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from claimflow.errors import PortInUse
from claimflow.health import HealthServer


async def test_health_server_answers_probes_and_metrics_on_a_free_port() -> None:
    registry = CollectorRegistry()
    Counter("claimflow_probe_things", "Things.", registry=registry).inc(3)
    ready = False
    server = HealthServer(host="127.0.0.1", port=0, ready=lambda: ready, registry=registry)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/readyz")).status_code == 503
            ready = True
            assert (await client.get("/readyz")).status_code == 200
            metrics = await client.get("/metrics")
            assert "claimflow_probe_things_total 3.0" in metrics.text
    finally:
        await server.stop()
    await server.stop()  # twice is fine


async def test_port_in_use_fails_at_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = HealthServer(
            host="127.0.0.1",
            port=taken.getsockname()[1],
            ready=lambda: True,
            registry=CollectorRegistry(),
        )
        with pytest.raises(PortInUse, match="CLAIMFLOW_HANDLERS__HEALTH_PORT"):
            await server.start()
