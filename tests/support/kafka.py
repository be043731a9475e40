"""Reading a topic's records and offsets on the real broker, without joining a consumer group."""

from __future__ import annotations

from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition

__all__ = ["PARTITIONS", "Isolation", "end_offsets", "group_offsets", "read_records"]

#: Partitions of every topic the tests create.
PARTITIONS = 3

Isolation = Literal["read_committed", "read_uncommitted"]


async def read_records(
    bootstrap: str,
    topic: str,
    *,
    isolation_level: Isolation = "read_uncommitted",
    stop_at_end: bool = False,
    poll_ms: int = 500,
) -> list[Any]:
    """Every record on ``topic`` up to the end offsets read at the start.

    ``stop_at_end`` also drops records a fetch returns beyond those offsets (written meanwhile).
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation_level)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records: list[Any] = []
        while any([await consumer.position(tp) < end[tp] for tp in partitions]):
            batch = await consumer.getmany(timeout_ms=poll_ms)
            for tp_records in batch.values():
                if stop_at_end:
                    records.extend(
                        r for r in tp_records if r.offset < end[TopicPartition(topic, r.partition)]
                    )
                else:
                    records.extend(tp_records)
        return records
    finally:
        await consumer.stop()


async def group_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    """The offsets ``group`` committed on ``topic`` (without joining the group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        return {p: await consumer.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)}
    finally:
        await consumer.stop()


async def end_offsets(
    bootstrap: str, topic: str, *, isolation_level: Isolation = "read_uncommitted"
) -> dict[int, int]:
    """Per partition: the high watermark, or the last stable offset when ``read_committed``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation_level)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(partitions)
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()
