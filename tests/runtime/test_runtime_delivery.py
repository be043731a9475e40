"""The runner against the real broker: retries, the retry topic, dead letters, commits, stop."""

from __future__ import annotations

import asyncio

import pytest
from runtime_support import KafkaTools, ScriptedHandler, eventually, make_settings

from handlers.runtime import (
    InboundMessage,
    PoisonMessageError,
    TransientError,
    running_handler,
)
from handlers.runtime.runner import consumer_group
from router.topics import HEADERS, TopicSet

pytestmark = pytest.mark.kafka


async def _fail_transiently_twice(message: InboundMessage, attempt: int) -> None:
    if attempt <= 2:
        raise TransientError("ledger database unavailable")


async def _poison(message: InboundMessage, attempt: int) -> None:
    raise PoisonMessageError("claim has no SubmissionNumber")


async def _always_transient(message: InboundMessage, attempt: int) -> None:
    raise TransientError("partner answered 503")


async def _unexpected(message: InboundMessage, attempt: int) -> None:
    raise KeyError("PHI-MARKER Jane Doe")


async def test_transient_failure_is_retried_then_succeeds(
    kafka_tools: KafkaTools, topic_set: TopicSet
) -> None:
    handler = ScriptedHandler(topic_set, {b"flaky": _fail_transiently_twice})
    await kafka_tools.create_handler_topics(topic_set, handler.name)
    settings = make_settings(kafka_tools.bootstrap, topic_set.prefix)
    await kafka_tools.produce(topic_set.claim_payments, [("m-1", b"flaky")])

    async with running_handler(settings, lambda context: handler) as running:
        await eventually(lambda: len(handler.handled) == 1)
        metrics = running.metrics.registry

    assert handler.attempts["m-1"] == 3
    assert (
        metrics.get_sample_value(
            "claimflow_handler_processed_total", {"handler": "scripted", "outcome": "ok"}
        )
        == 1
    )
    assert (
        metrics.get_sample_value(
            "claimflow_handler_retried_total", {"handler": "scripted", "via": "in_process"}
        )
        == 2
    )
    assert await kafka_tools.read_all(topic_set.handler_retry("scripted")) == []
    assert await kafka_tools.read_all(topic_set.handler_dead_letter("scripted")) == []


async def test_poison_message_is_dead_lettered_with_headers_and_the_partition_continues(
    kafka_tools: KafkaTools, topic_set: TopicSet
) -> None:
    handler = ScriptedHandler(topic_set, {b"poison": _poison})
    await kafka_tools.create_handler_topics(topic_set, handler.name)
    settings = make_settings(kafka_tools.bootstrap, topic_set.prefix)
    messages = [("m-1", b"ok"), ("m-2", b"poison"), ("m-3", b"ok")]
    await kafka_tools.produce(topic_set.claim_payments, messages, partition=0)

    async with running_handler(settings, lambda context: handler):
        await eventually(lambda: len(handler.handled) == 2)
        await eventually(
            lambda: _committed_is(kafka_tools, handler.name, topic_set.claim_payments, 3)
        )

    assert [m.message_id for m in handler.handled] == ["m-1", "m-3"]
    assert handler.attempts["m-2"] == 1
    [dead] = await kafka_tools.read_all(topic_set.handler_dead_letter("scripted"))
    headers = dict(dead.headers)
    assert dead.value == b"poison"
    assert headers[HEADERS.ERROR] == b"PoisonMessageError: claim has no SubmissionNumber"
    assert headers[HEADERS.HANDLER] == b"scripted"
    assert headers[HEADERS.ATTEMPTS] == b"1"
    assert headers[HEADERS.ORIGINAL_TOPIC] == topic_set.claim_payments.encode()
    assert headers[HEADERS.ORIGINAL_PARTITION] == b"0"
    assert headers[HEADERS.ORIGINAL_OFFSET] == b"1"
    assert headers[HEADERS.MESSAGE_ID] == b"m-2"


async def test_exhausted_retries_pass_through_the_retry_topic_then_dead_letter(
    kafka_tools: KafkaTools, topic_set: TopicSet
) -> None:
    handler = ScriptedHandler(topic_set, {b"down": _always_transient})
    await kafka_tools.create_handler_topics(topic_set, handler.name)
    settings = make_settings(kafka_tools.bootstrap, topic_set.prefix)
    await kafka_tools.produce(topic_set.claim_payments, [("m-1", b"down"), ("m-2", b"ok")])

    async with running_handler(settings, lambda context: handler) as running:
        await eventually(
            lambda: (
                running.metrics.registry.get_sample_value(
                    "claimflow_handler_dead_lettered_total",
                    {"handler": "scripted", "reason": "exhausted"},
                )
                == 1
            )
        )

    # 3 attempts on the source topic, 3 more after one pass through the retry topic.
    assert handler.attempts["m-1"] == 6
    assert [m.message_id for m in handler.handled] == ["m-2"]
    [parked] = await kafka_tools.read_all(topic_set.handler_retry("scripted"))
    assert dict(parked.headers)[HEADERS.ATTEMPTS] == b"3"
    [dead] = await kafka_tools.read_all(topic_set.handler_dead_letter("scripted"))
    assert dict(dead.headers)[HEADERS.ATTEMPTS] == b"6"
    assert dict(dead.headers)[HEADERS.ORIGINAL_TOPIC] == topic_set.claim_payments.encode()


async def test_a_parked_message_that_later_succeeds_is_handled_from_the_retry_topic(
    kafka_tools: KafkaTools, topic_set: TopicSet
) -> None:
    async def recover_on_the_retry_topic(message: InboundMessage, attempt: int) -> None:
        if attempt <= 3:
            raise TransientError("partner answered 503")

    handler = ScriptedHandler(topic_set, {b"later": recover_on_the_retry_topic})
    await kafka_tools.create_handler_topics(topic_set, handler.name)
    settings = make_settings(kafka_tools.bootstrap, topic_set.prefix)
    await kafka_tools.produce(topic_set.claim_payments, [("m-1", b"later")], partition=2)

    async with running_handler(settings, lambda context: handler):
        await eventually(lambda: len(handler.handled) == 1)

    [message] = handler.handled
    # The handler sees the original coordinates, never its retry topic.
    assert (message.topic, message.partition, message.offset) == (
        topic_set.claim_payments,
        2,
        0,
    )
    assert await kafka_tools.read_all(topic_set.handler_dead_letter("scripted")) == []


async def test_unexpected_errors_count_as_transient_and_their_text_is_never_recorded(
    kafka_tools: KafkaTools, topic_set: TopicSet
) -> None:
    handler = ScriptedHandler(topic_set, {b"bug": _unexpected})
    await kafka_tools.create_handler_topics(topic_set, handler.name)
    settings = make_settings(kafka_tools.bootstrap, topic_set.prefix, retry_topic_attempts=0)
    await kafka_tools.produce(topic_set.claim_payments, [("m-1", b"bug")])

    async with running_handler(settings, lambda context: handler):
        await eventually(lambda: handler.attempts.get("m-1") == 3)
        dead_letter = topic_set.handler_dead_letter("scripted")
        await eventually(lambda: _has_records(kafka_tools, dead_letter, 1))

    [dead] = await kafka_tools.read_all(dead_letter)
    assert dict(dead.headers)[HEADERS.ERROR] == b"unexpected builtins.KeyError"


async def test_commit_never_passes_a_message_that_is_still_failing(
    kafka_tools: KafkaTools, topic_set: TopicSet
) -> None:
    handler = ScriptedHandler(topic_set, {b"down": _always_transient})
    await kafka_tools.create_handler_topics(topic_set, handler.name)
    # Long backoff: the failing message is between attempts when the runner stops.
    settings = make_settings(
        kafka_tools.bootstrap, topic_set.prefix, backoff_base_seconds=60, backoff_max_seconds=60
    )
    messages = [("m-1", b"ok"), ("m-2", b"down"), ("m-3", b"ok")]
    await kafka_tools.produce(topic_set.claim_payments, messages, partition=1)

    async with running_handler(settings, lambda context: handler):
        await eventually(lambda: handler.attempts.get("m-2", 0) >= 1)

    committed = await kafka_tools.committed(consumer_group("scripted"), topic_set.claim_payments)
    assert committed[1] == 1  # m-1 done; m-2 abandoned between attempts, m-3 never started
    assert [m.message_id for m in handler.handled] == ["m-1"]


async def test_stop_lets_the_message_in_flight_finish_and_commits_it(
    kafka_tools: KafkaTools, topic_set: TopicSet
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(message: InboundMessage, attempt: int) -> None:
        started.set()
        await release.wait()

    handler = ScriptedHandler(topic_set, {b"slow": slow})
    await kafka_tools.create_handler_topics(topic_set, handler.name)
    settings = make_settings(kafka_tools.bootstrap, topic_set.prefix)
    messages = [("m-1", b"slow"), ("m-2", b"ok")]
    await kafka_tools.produce(topic_set.claim_payments, messages, partition=0)

    async with running_handler(settings, lambda context: handler) as running:
        await started.wait()
        running.request_stop()
        await asyncio.sleep(0.3)  # stop is underway and must still wait for m-1
        assert not running.task.done()
        release.set()
        await running.wait()

    assert [m.message_id for m in handler.handled] == ["m-1"]
    committed = await kafka_tools.committed(consumer_group("scripted"), topic_set.claim_payments)
    assert committed[0] == 1


async def _committed_is(tools: KafkaTools, handler: str, topic: str, total: int) -> bool:
    committed = await tools.committed(consumer_group(handler), topic)
    return sum(offset or 0 for offset in committed.values()) == total


async def _has_records(tools: KafkaTools, topic: str, count: int) -> bool:
    return len(await tools.read_all(topic)) == count
