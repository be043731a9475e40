"""Kafka helpers of the ledger tests: a private lane of topics, producing as the router does."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from claimflow.settings import DatabaseSettings, HandlerSettings, KafkaSettings, Settings
from router.messages import SplitMessage
from router.topics import HEADERS, TopicSet

PARTITIONS = 3


def private_lane() -> TopicSet:
    """The test lane under a prefix nobody else uses."""
    return TopicSet(prefix=f"l{uuid.uuid4().hex[:10]}.", lane="test")


def ledger_settings(bootstrap: str, topics: TopicSet, database_url: str) -> Settings:
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=topics.prefix),
        database=DatabaseSettings.model_validate({"url": database_url}),
        handlers=HandlerSettings(
            lane="test",
            health_port=0,
            max_attempts=2,
            retry_topic_attempts=1,
            backoff_base_seconds=0.01,
            backoff_max_seconds=0.2,
        ),
    )


def ledger_env(bootstrap: str, topics: TopicSet, database_url: str) -> dict[str, str]:
    return {
        "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "CLAIMFLOW_KAFKA__TOPIC_PREFIX": topics.prefix,
        "CLAIMFLOW_DATABASE__URL": database_url,
        "CLAIMFLOW_HANDLERS__LANE": "test",
        "CLAIMFLOW_HANDLERS__HEALTH_PORT": "0",
        "CLAIMFLOW_HANDLERS__BACKOFF_BASE_SECONDS": "0.01",
        "CLAIMFLOW_HANDLERS__BACKOFF_MAX_SECONDS": "0.2",
    }


async def create_ledger_topics(bootstrap: str, topics: TopicSet) -> None:
    names = [
        topics.claim_payments,
        topics.claim_submissions,
        topics.reconciliations,
        topics.status_check_requests,
        topics.attachment_requests,
        topics.status_check_results,
        topics.attachment_results,
        topics.handler_retry("ledger"),
        topics.handler_dead_letter("ledger"),
    ]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=PARTITIONS, replication_factor=1) for n in names]
        )
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, messages: list[SplitMessage]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for m in messages:
            await producer.send_and_wait(
                topic,
                value=m.value,
                key=m.key.encode(),
                headers=[
                    (HEADERS.MESSAGE_ID, m.message_id.encode()),
                    (HEADERS.SCHEMA, m.schema.encode()),
                ],
            )
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record now on ``topic``, without a consumer group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records: list[Any] = []
        while any([await consumer.position(tp) < end[tp] for tp in partitions]):
            batch = await consumer.getmany(timeout_ms=500)
            for tp_records in batch.values():
                records.extend(
                    r for r in tp_records if r.offset < end[TopicPartition(r.topic, r.partition)]
                )
        return records
    finally:
        await consumer.stop()


async def eventually(
    condition: Callable[[], Awaitable[bool]], *, within: float = 60.0, every: float = 0.2
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(every)
    raise AssertionError("condition never held")
