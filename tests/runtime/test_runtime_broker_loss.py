"""A handler whose broker is gone stops answering ready, and is ready again when it is back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from runtime_support import KafkaTools, ScriptedHandler, eventually, make_settings, unique_prefix

from claimflow.devstack.kafka import KafkaBroker
from handlers.runtime import running_handler
from router.topics import TopicSet

pytestmark = pytest.mark.kafka


async def test_readyz_answers_503_after_the_broker_dies_and_200_once_it_is_back(
    kafka_broker_factory: Callable[[], KafkaBroker],
) -> None:
    broker = await asyncio.to_thread(kafka_broker_factory)
    tools = KafkaTools(broker.bootstrap_servers)
    topic_set = TopicSet(prefix=unique_prefix())
    handler = ScriptedHandler(topic_set)
    await tools.create_handler_topics(topic_set, handler.name)
    settings = make_settings(tools.bootstrap, topic_set.prefix)

    async with running_handler(settings, lambda context: handler) as running:
        base = f"http://127.0.0.1:{running.health.port}"
        async with httpx.AsyncClient(base_url=base) as client:

            async def readyz() -> int:
                return (await client.get("/readyz")).status_code

            async def ready() -> bool:
                return await readyz() == 200

            async def not_ready() -> bool:
                return await readyz() == 503

            await eventually(ready)
            await asyncio.to_thread(broker.kill)
            await eventually(not_ready, within=120.0)
            assert (await client.get("/healthz")).status_code == 200
            # The broker comes back (so the consumer can leave its group): ready again.
            await asyncio.to_thread(broker.start)
            await eventually(ready, within=120.0)
            running.request_stop()
