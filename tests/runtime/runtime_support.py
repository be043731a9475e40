"""Helpers of the runtime tests: private topics, producing, reading back, scripted handlers."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from support import polling
from support.kafka import PARTITIONS, end_offsets, group_offsets, read_records

from claimflow.settings import HandlerSettings, KafkaSettings, Settings
from handlers.runtime import InboundMessage
from router.topics import HEADERS, TopicSet


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


def handler_settings(**overrides: Any) -> HandlerSettings:
    """Short backoffs so that tests do not wait; port 0 for the health server."""
    values: dict[str, Any] = {
        "health_port": 0,
        "max_attempts": 3,
        "retry_topic_attempts": 1,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.2,
    }
    values.update(overrides)
    return HandlerSettings(**values)


def make_settings(bootstrap: str, prefix: str, **handler_overrides: Any) -> Settings:
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix),
        handlers=handler_settings(**handler_overrides),
    )


@dataclass
class KafkaTools:
    """Test-side Kafka access; every client it opens is closed before it returns."""

    bootstrap: str

    async def create_topics(self, names: list[str]) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1) for name in names]
            )
        finally:
            await admin.close()

    async def create_handler_topics(self, topic_set: TopicSet, handler: str) -> None:
        await self.create_topics(
            [
                topic_set.claim_payments,
                topic_set.handler_retry(handler),
                topic_set.handler_dead_letter(handler),
            ]
        )

    async def produce(
        self, topic: str, messages: list[tuple[str, bytes]], *, partition: int | None = None
    ) -> None:
        """Produce ``(message_id, value)`` pairs, keyed by message id."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            for message_id, value in messages:
                await producer.send_and_wait(
                    topic,
                    value=value,
                    key=message_id.encode(),
                    partition=partition,
                    headers=[(HEADERS.MESSAGE_ID, message_id.encode())],
                )
        finally:
            await producer.stop()

    async def read_all(self, topic: str) -> list[Any]:
        """Every committed record now on ``topic``, without a consumer group."""
        return await read_records(
            self.bootstrap, topic, isolation_level="read_committed", stop_at_end=True
        )

    async def committed(self, group: str, topic: str) -> dict[int, int | None]:
        return await group_offsets(self.bootstrap, group, topic)

    async def end_offsets(self, topic: str) -> dict[int, int]:
        return await end_offsets(self.bootstrap, topic)


async def eventually(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool], *, within: float = 60.0
) -> None:
    """Wait until ``condition`` holds; fail (not by timing, by never holding) after ``within``."""
    await polling.eventually(condition, within=within, interval=0.05)


Behaviour = Callable[[InboundMessage, int], Awaitable[None]]


async def succeed(message: InboundMessage, attempt: int) -> None:
    return None


@dataclass
class ScriptedHandler:
    """A handler whose reaction to each message is a function of its value and attempt."""

    topic_set: TopicSet
    behaviours: dict[bytes, Behaviour] = field(default_factory=dict)
    name: str = "scripted"
    attempts: dict[str, int] = field(default_factory=dict)
    handled: list[InboundMessage] = field(default_factory=list)

    def topics(self, topic_set: TopicSet) -> list[str]:
        return [topic_set.claim_payments]

    async def handle(self, message: InboundMessage) -> None:
        key = message.message_id or ""
        self.attempts[key] = self.attempts.get(key, 0) + 1
        await self.behaviours.get(message.value, succeed)(message, self.attempts[key])
        self.handled.append(message)
