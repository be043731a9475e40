"""Putting a validated webhook into Kafka, durably, within a bounded time.

``WebhookPublisher`` wraps one ``AIOKafkaProducer`` (idempotent, ``acks=all``) and translates
aiokafka's errors into :mod:`receiver.errors`' ``PublishError`` tree at this edge.

A publish waits at most ``KafkaSettings.publish_timeout_seconds`` for the broker's
acknowledgement (``asyncio.timeout``). A send that timed out may still land later: its batch
stays in the producer until it is written or expires (``request_timeout_ms``). That is safe:
we answered 503, so Redox retries the delivery with the same log id (the message key, so the
same partition) and the same message id, and the router de-duplicates by log id.

If the broker lost the producer's sequence (a batch in flight when it restarted), the
``IdempotentProducer`` starts a new session and sends the record again within the same deadline:
without it, every delivery keyed to that partition would be answered 503 until a restart.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aiokafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
)

from claimflow.kafka_clients import IdempotentProducer, producer_kwargs
from claimflow.settings import KafkaSettings
from claimflow.tracing import inject_trace_headers, producer_span
from receiver.errors import BrokerUnavailable, MessageTooLarge, PublishTimeout
from router.messages import Headers

__all__ = [
    "Published",
    "Publisher",
    "WebhookPublisher",
]

_READINESS_TIMEOUT_SECONDS = 2.0
_READINESS_CACHE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Published:
    """Where the broker acknowledged the message, and how long that took."""

    topic: str
    partition: int
    offset: int
    seconds: float


class Publisher(Protocol):
    """What the receiver needs from a publisher (tests may pass their own)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(
        self, topic: str, *, key: str, value: bytes, headers: Headers
    ) -> Published: ...

    async def is_ready(self, topics: Sequence[str]) -> bool: ...


class WebhookPublisher:
    """The receiver's one idempotent ``acks=all`` producer, renewed if the broker refuses it."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._timeout = settings.publish_timeout_seconds
        self._producer = IdempotentProducer(
            **{
                # Idempotent, acks=all, and the record size the webhook topics accept.
                **producer_kwargs(settings, role="receiver"),
                # The producer's own deadline for a produce request and for a batch waiting in
                # its buffer: 1 s past ours, so a send we gave up on lands soon after or never.
                "request_timeout_ms": math.ceil(self._timeout * 1000) + 1000,
                # Latency first: send at once. Batching still happens under load: aiokafka
                # keeps one produce request in flight per broker, and whatever arrives
                # meanwhile goes out together in the next one.
                "linger_ms": 0,
                # Room for ~15 sample-sized (13 KB) webhooks per partition in one request.
                "max_batch_size": 256 * 1024,
                # No compression: on a 2-core pod CPU is scarcer than bandwidth.
                "compression_type": None,
            }
        )
        self._started = False
        self._ready: tuple[float, bool] | None = None
        self._ready_lock = asyncio.Lock()

    async def start(self) -> None:
        """Connect; a cluster that cannot be reached stops start-up (BrokerUnavailable)."""
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise BrokerUnavailable(f"cannot reach Kafka: {type(exc).__name__}") from exc
        self._started = True

    async def stop(self) -> None:
        """Flush what is buffered and close."""
        self._started = False
        await self._producer.stop()

    async def publish(self, topic: str, *, key: str, value: bytes, headers: Headers) -> Published:
        """Return once every in-sync replica has the message, or raise a ``PublishError``."""
        started = time.perf_counter()
        try:
            # asyncio.timeout, not wait_for: no extra task per request.
            async with asyncio.timeout(self._timeout):
                with producer_span(topic, headers):
                    metadata = await self._producer.send_and_wait(
                        topic, value=value, key=key.encode(), headers=inject_trace_headers(headers)
                    )
        except (TimeoutError, KafkaTimeoutError) as exc:
            raise PublishTimeout(f"no acknowledgement within {self._timeout}s") from exc
        except (MessageSizeTooLargeError, RecordTooLargeError) as exc:
            raise MessageTooLarge("the cluster refuses a message this large") from exc
        except KafkaError as exc:
            raise BrokerUnavailable(f"Kafka refused the write: {type(exc).__name__}") from exc
        return Published(
            topic=metadata.topic,
            partition=metadata.partition,
            offset=metadata.offset,
            seconds=time.perf_counter() - started,
        )

    async def is_ready(self, topics: Sequence[str]) -> bool:
        """Connected, and the cluster knows every topic (checked at most every 2 s)."""
        async with self._ready_lock:
            now = time.monotonic()
            if self._ready is not None and now - self._ready[0] < _READINESS_CACHE_SECONDS:
                return self._ready[1]
            ready = self._started and await self._cluster_has(topics)
            self._ready = (time.monotonic(), ready)
            return ready

    async def _cluster_has(self, topics: Sequence[str]) -> bool:
        try:
            cluster = await asyncio.wait_for(
                self._producer.client.fetch_all_metadata(), _READINESS_TIMEOUT_SECONDS
            )
        except (TimeoutError, KafkaError):
            return False
        return all(cluster.partitions_for_topic(topic) for topic in topics)
