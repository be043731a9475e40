"""A second process joining the group: revoked partitions are finished and committed first."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from runtime_support import Behaviour, KafkaTools, ScriptedHandler, eventually, make_settings

from handlers.runtime import InboundMessage, running_handler
from router.topics import TopicSet

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

MESSAGES = 300


async def test_partitions_moved_by_a_rebalance_are_handed_over_without_redelivery(
    kafka_tools: KafkaTools, topic_set: TopicSet
) -> None:
    deliveries: Counter[str] = Counter()

    async def slow(message: InboundMessage, attempt: int) -> None:
        await asyncio.sleep(0.05)
        deliveries[message.message_id or ""] += 1

    behaviours: dict[bytes, Behaviour] = {f"v{i}".encode(): slow for i in range(MESSAGES)}
    first = ScriptedHandler(topic_set, behaviours)
    second = ScriptedHandler(topic_set, behaviours)
    await kafka_tools.create_handler_topics(topic_set, first.name)
    messages = [(f"m-{i}", f"v{i}".encode()) for i in range(MESSAGES)]
    await kafka_tools.produce(topic_set.claim_payments, messages)

    settings = make_settings(kafka_tools.bootstrap, topic_set.prefix)
    async with running_handler(settings, lambda context: first):
        await eventually(lambda: len(first.handled) >= 10)
        async with running_handler(settings, lambda context: second):
            await eventually(lambda: len(deliveries) == MESSAGES, within=120)

    assert second.handled, "the second process should have been given partitions"
    assert set(deliveries) == {message_id for message_id, _ in messages}
    # The first process finished and committed what it had before giving partitions up.
    assert max(deliveries.values()) == 1
