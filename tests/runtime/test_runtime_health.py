"""/healthz, /readyz and /metrics of a handler process, over real HTTP."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry
from runtime_support import KafkaTools, ScriptedHandler, eventually, make_settings

from claimflow.health import HealthServer
from handlers.runtime import running_handler
from router.topics import TopicSet

pytestmark = pytest.mark.kafka


async def test_probes_and_metrics_of_a_running_handler(
    kafka_tools: KafkaTools, topic_set: TopicSet
) -> None:
    handler = ScriptedHandler(topic_set)
    await kafka_tools.create_handler_topics(topic_set, handler.name)
    settings = make_settings(kafka_tools.bootstrap, topic_set.prefix)
    await kafka_tools.produce(topic_set.claim_payments, [("m-1", b"PHI-MARKER")], partition=0)

    async with running_handler(settings, lambda context: handler) as running:
        base = f"http://127.0.0.1:{running.health.port}"
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/healthz")).status_code == 200

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready)
            await eventually(lambda: len(handler.handled) == 1)
            await eventually(lambda: _lag_reported(running.metrics.registry))
            metrics = (await client.get("/metrics")).text
            running.request_stop()
            assert (await client.get("/readyz")).status_code == 503
            assert (await client.get("/healthz")).status_code == 200

    assert 'claimflow_handler_processed_total{handler="scripted",outcome="ok"} 1.0' in metrics
    assert "claimflow_handler_consumer_lag{" in metrics
    assert f'topic="{topic_set.claim_payments}"' in metrics
    assert "PHI-MARKER" not in metrics


def _lag_reported(registry: CollectorRegistry) -> bool:
    return any(
        sample.name == "claimflow_handler_consumer_lag"
        for family in registry.collect()
        for sample in family.samples
    )


async def test_readyz_answers_503_until_the_process_is_ready() -> None:
    state = {"ready": False}
    server = HealthServer(
        host="127.0.0.1", port=0, ready=lambda: state["ready"], registry=CollectorRegistry()
    )
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            assert (await client.get("/readyz")).status_code == 503
            assert (await client.get("/healthz")).status_code == 200
            state["ready"] = True
            assert (await client.get("/readyz")).status_code == 200
    finally:
        await server.stop()
