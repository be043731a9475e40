"""A BatchHandler on the real broker: one call per poll, and a failed message retried alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from runtime_support import KafkaTools, ScriptedHandler, eventually, make_settings

from handlers.runtime import InboundMessage, PoisonMessageError, TransientError, running_handler
from handlers.runtime.runner import consumer_group
from router.topics import HEADERS, TopicSet

pytestmark = pytest.mark.kafka


@dataclass
class BatchScriptedHandler(ScriptedHandler):
    """Handles batches; a message whose value is ``poison`` or ``flaky`` fails in its batch."""

    batches: list[list[str]] = field(default_factory=list)

    async def handle_batch(
        self, messages: Sequence[InboundMessage]
    ) -> Sequence[BaseException | None]:
        self.batches.append([m.message_id or "" for m in messages])
        outcomes: list[BaseException | None] = []
        for message in messages:
            if message.value == b"poison":
                outcomes.append(PoisonMessageError("claim has no SubmissionNumber"))
            elif message.value == b"flaky":
                outcomes.append(TransientError("ledger database unavailable"))
            else:
                self.handled.append(message)
                outcomes.append(None)
        return outcomes


async def test_a_batch_with_a_poisoned_message_handles_the_rest_and_dead_letters_only_it(
    kafka_tools: KafkaTools, topic_set: TopicSet
) -> None:
    handler = BatchScriptedHandler(topic_set)
    await kafka_tools.create_handler_topics(topic_set, handler.name)
    settings = make_settings(kafka_tools.bootstrap, topic_set.prefix)
    messages = [(f"m-{i}", b"ok") for i in range(20)]
    messages[7] = ("m-7", b"poison")
    await kafka_tools.produce(topic_set.claim_payments, messages, partition=0)

    async with running_handler(settings, lambda context: handler):
        await eventually(lambda: len(handler.handled) == 19)
        dead_letter = topic_set.handler_dead_letter(handler.name)
        await eventually(lambda: _has(kafka_tools, dead_letter, 1))
        group = consumer_group(handler.name)
        await eventually(lambda: _committed(kafka_tools, group, topic_set.claim_payments, 20))

    dead = await kafka_tools.read_all(dead_letter)
    assert [dict(r.headers)[HEADERS.MESSAGE_ID] for r in dead] == [b"m-7"]
    assert await kafka_tools.read_all(topic_set.handler_retry(handler.name)) == []
    assert sum(len(b) for b in handler.batches) == 20  # every message went through a batch
    assert len(handler.batches) < 20
    assert "m-7" not in handler.attempts  # a poisoned message is not retried with handle


async def test_a_message_that_failed_in_its_batch_is_retried_alone_then_parked(
    kafka_tools: KafkaTools, topic_set: TopicSet
) -> None:
    handler = BatchScriptedHandler(topic_set)
    await kafka_tools.create_handler_topics(topic_set, handler.name)
    settings = make_settings(kafka_tools.bootstrap, topic_set.prefix)
    messages = [("m-0", b"ok"), ("m-1", b"flaky"), ("m-2", b"ok")]
    await kafka_tools.produce(topic_set.claim_payments, messages, partition=0)

    async def always_transient(message: InboundMessage, attempt: int) -> None:
        raise TransientError("ledger database unavailable")

    handler.behaviours[b"flaky"] = always_transient
    retry = topic_set.handler_retry(handler.name)
    async with running_handler(settings, lambda context: handler):
        await eventually(lambda: _has(kafka_tools, retry, 1))
        await eventually(lambda: len(handler.handled) >= 2)

    parked = await kafka_tools.read_all(retry)
    assert [dict(r.headers)[HEADERS.MESSAGE_ID] for r in parked] == [b"m-1"]
    assert dict(parked[0].headers)[HEADERS.ATTEMPTS] == b"3"  # 1 in its batch + 2 alone
    assert handler.attempts.get("m-1", 0) >= 2
    assert sorted(m.message_id or "" for m in handler.handled[:2]) == ["m-0", "m-2"]


async def _has(tools: KafkaTools, topic: str, n: int) -> bool:
    return len(await tools.read_all(topic)) >= n


async def _committed(tools: KafkaTools, group: str, topic: str, n: int) -> bool:
    offsets = await tools.committed(group, topic)
    return sum(o or 0 for o in offsets.values()) >= n
