"""Helpers of the router tests: private topics, Redox webhooks as the receiver publishes them,
an in-process router stage, and reading topics back read_committed."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry
from support.kafka import PARTITIONS, Isolation, end_offsets, group_offsets, read_records

from claimflow.settings import KafkaSettings, RouterSettings
from router._metrics import RouterMetrics
from router.messages import webhook_headers, webhook_message_id
from router.redox import WebhookEnvelope
from router.routes import RouteTable
from router.stage import RouterStage
from router.topic_admin import ensure_topics
from router.topics import TopicSet


def unique_prefix() -> str:
    return f"r{uuid.uuid4().hex[:10]}."


def webhook(
    sample: dict[str, Any],
    *,
    log_id: str,
    claims: int = 2,
    test: bool = False,
    attempt_id: str | None = None,
    claim_numbers: list[str] | None = None,
) -> dict[str, Any]:
    """The Redox sample as delivery ``log_id``, with ``claims`` claims in one payment."""
    payload = copy.deepcopy(sample)
    payload["Meta"]["Test"] = test
    payload["Meta"]["Logs"] = [{"ID": log_id, "AttemptID": attempt_id or str(uuid.uuid4())}]
    transaction = payload["Transactions"][0]
    template = transaction["Payments"][0]["Claims"][0]
    numbers = claim_numbers or [f"{log_id[:8]}-{index}" for index in range(claims)]
    claim_list = []
    for number in numbers:
        claim = copy.deepcopy(template)
        claim["SubmissionNumber"] = number
        claim_list.append(claim)
    transaction["Payments"] = [{**transaction["Payments"][0], "Claims": claim_list}]
    return payload


@dataclass
class RouterKafka:
    """A private topic prefix on the session broker; every client is closed before return."""

    bootstrap: str
    prefix: str

    def topics(self, *, test: bool = False) -> TopicSet:
        return TopicSet(prefix=self.prefix, lane="test" if test else "production")

    async def create_topics(self) -> None:
        await ensure_topics(self.bootstrap, prefix=self.prefix, partitions=PARTITIONS)

    def kafka_settings(self) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=self.bootstrap, topic_prefix=self.prefix)

    async def publish(
        self, payloads: list[dict[str, Any]], *, partition: int | None = None
    ) -> None:
        """Publish webhooks as the receiver does: raw body, key = log id, its headers."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            for payload in payloads:
                meta = WebhookEnvelope.model_validate(payload).meta
                log_id = meta.log_id
                topic = RouteTable.default(self.prefix).webhook_topic(
                    meta.data_model, meta.event_type, bool(meta.test)
                )
                assert log_id is not None
                assert topic is not None
                headers = webhook_headers(
                    meta, log_id=log_id, message_id=webhook_message_id(log_id)
                )
                await producer.send_and_wait(
                    topic,
                    json.dumps(payload).encode(),
                    key=log_id.encode(),
                    headers=headers,
                    partition=partition,
                )
        finally:
            await producer.stop()

    async def end_offsets(self, topic: str, *, committed: bool = True) -> dict[int, int]:
        """Per partition: the last stable offset (committed) or the high watermark."""
        return await end_offsets(self.bootstrap, topic, isolation_level=_isolation(committed))

    async def group_offsets(self, group: str, topic: str) -> dict[int, int | None]:
        """The offsets ``group`` committed on ``topic`` (without joining the group)."""
        return await group_offsets(self.bootstrap, group, topic)

    async def read_all(self, topic: str, *, committed: bool = True) -> list[Any]:
        """Every record now on ``topic`` (committed ones only by default), without a group."""
        return await read_records(
            self.bootstrap,
            topic,
            isolation_level=_isolation(committed),
            stop_at_end=True,
            poll_ms=200,
        )


def _isolation(committed: bool) -> Isolation:
    return "read_committed" if committed else "read_uncommitted"


def header(record: Any, name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return bytes(value).decode()
    return None


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` until it holds; fail the test after 20 s."""
    async with asyncio.timeout(20):
        while not condition():  # noqa: ASYNC110 - polls metrics, which have no event
            await asyncio.sleep(0.05)


@dataclass
class RunningRouter:
    stage: RouterStage
    registry: CollectorRegistry

    def count(self, metric: str, topic: str) -> float:
        value = self.registry.get_sample_value(f"claimflow_router_{metric}_total", {"topic": topic})
        return value or 0.0


@contextlib.asynccontextmanager
async def running_router(kafka: RouterKafka, group: str) -> AsyncIterator[RunningRouter]:
    """The stage in this event loop until the block ends; then stopped as SIGTERM does."""
    registry = CollectorRegistry()
    stage = RouterStage(
        kafka=kafka.kafka_settings(),
        settings=RouterSettings(group_id=group, transactional_id_prefix=group),
        routes=RouteTable.default(kafka.prefix),
        metrics=RouterMetrics.create(registry),
    )
    task = asyncio.create_task(stage.run())
    try:
        await wait_until(lambda: stage.ready() or task.done())
        if task.done():
            task.result()
        yield RunningRouter(stage, registry)
    finally:
        stage.stop()
        await task
