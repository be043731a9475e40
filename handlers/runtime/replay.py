"""``claimflow dlq replay``: move a handler's dead letters back to their original topics.

Progress is the committed offset of the consumer group ``claimflow-dlq-replay-<handler>`` on
the dead-letter topic, and each batch is republished in one Kafka transaction together with
that offset (``send_offsets_to_transaction``), so a dead letter is republished once even if a
replay is interrupted or run twice. The transactional id is one per handler: starting a
replay fences any replay of the same handler still running, before offsets are read.

The dead letters themselves stay on the dead-letter topic. A line per dead letter names its
partition, offset, message id, error and attempts; never its value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import UnknownTopicOrPartitionError

from claimflow.kafka_clients import consumer_kwargs, producer_kwargs
from claimflow.settings import KafkaSettings
from handlers.runtime.message import headers_from_kafka
from router.headers import is_test, message_headers
from router.topics import HEADERS, TopicSet

__all__ = ["REPLAYED_FROM_HEADER", "ReplaySummary", "replay_dead_letters", "replay_group"]

# Set on a republished dead letter: "<dead-letter topic>:<partition>:<offset>".
REPLAYED_FROM_HEADER = HEADERS.REPLAYED_FROM


def replay_group(handler: str) -> str:
    return f"claimflow-dlq-replay-{handler}"


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    seen: int
    replayed: int
    skipped: int


def _header(headers: dict[str, bytes], name: str) -> str:
    return headers.get(name, b"-").decode("utf-8", "replace")


def _describe(record: Any, headers: dict[str, bytes], action: str) -> str:
    return (
        f"partition={record.partition} offset={record.offset}"
        f" message_id={_header(headers, HEADERS.MESSAGE_ID)}"
        f" attempts={_header(headers, HEADERS.ATTEMPTS)}"
        f" error={_header(headers, HEADERS.ERROR)!r} action={action}"
    )


def _replayed_headers(record: Any, headers: dict[str, bytes]) -> list[tuple[str, bytes]]:
    source = f"{record.topic}:{record.partition}:{record.offset}"
    return message_headers(test=is_test(headers), carried=headers.items(), replayed_from=source)


async def replay_dead_letters(
    kafka: KafkaSettings,
    topic_set: TopicSet,
    handler: str,
    *,
    dry_run: bool,
    limit: int | None,
    echo: Callable[[str], None],
) -> ReplaySummary:
    """Replay up to ``limit`` dead letters that were not replayed before (all when ``None``)."""
    topic = topic_set.handler_dead_letter(handler)
    group = replay_group(handler)
    async with contextlib.AsyncExitStack() as stack:
        producer = None
        if not dry_run:
            # Started first: its transactional id fences an earlier replay before we read
            # the group's offsets.
            producer = AIOKafkaProducer(
                **producer_kwargs(kafka, role="dlq-replay"), transactional_id=group
            )
            stack.push_async_callback(producer.stop)
            await producer.start()
        # Subscribed before start: start returns once the group assigned every partition,
        # positioned at the group's commits.
        consumer = AIOKafkaConsumer(
            topic, **consumer_kwargs(kafka, role="dlq-replay", group_id=group)
        )
        stack.push_async_callback(consumer.stop)
        try:
            await consumer.start()
        except UnknownTopicOrPartitionError as exc:
            raise LookupError(f"dead-letter topic {topic} does not exist") from exc
        partitions = sorted(consumer.assignment())
        if not partitions:
            raise LookupError(f"dead-letter topic {topic} has no partitions assigned")
        end = await consumer.end_offsets(partitions)
        return await _replay(consumer, producer, group, end, limit, echo)
    raise AssertionError("unreachable")  # pragma: no cover - mypy: the stack may swallow


async def _replay(
    consumer: Any,
    producer: Any,
    group: str,
    end: dict[TopicPartition, int],
    limit: int | None,
    echo: Callable[[str], None],
) -> ReplaySummary:
    seen = skipped = 0
    remaining = {tp for tp in end if await consumer.position(tp) < end[tp]}
    while remaining and (limit is None or seen < limit):
        batch = await consumer.getmany(*remaining, timeout_ms=1000)
        records = [r for tp in sorted(batch) for r in batch[tp] if r.offset < end[tp]]
        if limit is not None:
            records = records[: limit - seen]
        if producer is None:
            lines = [_describe(r, headers_from_kafka(r.headers), "would-replay") for r in records]
        elif records:
            lines = await _republish(producer, group, records)
            skipped += sum(line.endswith("action=skipped-no-original-topic") for line in lines)
        else:
            lines = []
        seen += len(records)
        for line in lines:
            echo(line)
        for tp in list(remaining):
            if await consumer.position(tp) >= end[tp]:
                remaining.discard(tp)
    replayed = 0 if producer is None else seen - skipped
    return ReplaySummary(seen=seen, replayed=replayed, skipped=skipped)


async def _republish(producer: Any, group: str, records: list[Any]) -> list[str]:
    """Republish ``records`` and commit past them in one transaction; a line for each."""
    lines = []
    offsets: dict[TopicPartition, int] = {}
    async with producer.transaction():
        for record in records:
            offsets[TopicPartition(record.topic, record.partition)] = record.offset + 1
            headers = headers_from_kafka(record.headers)
            original = headers.get(HEADERS.ORIGINAL_TOPIC)
            if original is None:
                lines.append(_describe(record, headers, "skipped-no-original-topic"))
                continue
            await producer.send(
                original.decode(),
                key=record.key,
                value=record.value,
                headers=_replayed_headers(record, headers),
            )
            lines.append(_describe(record, headers, "replayed"))
        await producer.send_offsets_to_transaction(offsets, group)
    return lines
