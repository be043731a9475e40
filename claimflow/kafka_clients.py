"""How every claimflow process connects to Kafka: one place for connection settings.

Each role adds its own semantics on top (the receiver's idempotent acks=all producer, the
router's transactional producer, the handlers' read_committed consumers).

``IdempotentProducer`` is the non-transactional producer the receiver and the handlers use: an
``AIOKafkaProducer`` that starts a new producer session when the broker has lost its sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)
from aiokafka.structs import RecordMetadata

from claimflow.settings import KafkaSettings

__all__ = [
    "PRODUCER_SESSION_ERRORS",
    "IdempotentProducer",
    "connection_kwargs",
    "consumer_kwargs",
    "producer_kwargs",
]

_log = structlog.get_logger("claimflow.kafka")

PRODUCER_SESSION_ERRORS: tuple[type[Exception], ...] = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
)
"""The broker no longer accepts this producer id's sequence: only a new session writes again."""

_RETIRED_STOP_SECONDS = 30.0


def connection_kwargs(settings: KafkaSettings, *, role: str) -> dict[str, Any]:
    """bootstrap servers, client id, TLS and SASL, as aiokafka clients take them."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": f"{settings.client_id}-{role}",
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = ssl.create_default_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
    if settings.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = settings.sasl_mechanism or "PLAIN"
        kwargs["sasl_plain_username"] = settings.sasl_username
        if settings.sasl_password is not None:
            kwargs["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return kwargs


def producer_kwargs(settings: KafkaSettings, *, role: str) -> dict[str, Any]:
    """A durable producer: idempotent, acks from every in-sync replica."""
    return {
        **connection_kwargs(settings, role=role),
        "acks": "all",
        "enable_idempotence": True,
        # Whole webhooks (up to ReceiverSettings.max_body_bytes, 5 MiB) travel as one record;
        # the topics that carry them accept 6 MiB (router.topic_admin.topic_config).
        "max_request_size": 6 * 1024 * 1024,
    }


def consumer_kwargs(settings: KafkaSettings, *, role: str, group_id: str) -> dict[str, Any]:
    """A consumer that sees only committed records and commits offsets itself."""
    return {
        **connection_kwargs(settings, role=role),
        "group_id": group_id,
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
        "auto_offset_reset": "earliest",
    }


class IdempotentProducer:
    """An idempotent ``acks=all`` producer that renews its session when the broker refuses it.

    An idempotent producer numbers its batches per partition. When a numbered batch never
    reaches the log (the broker restarted while it was in flight, and the batch then expired in
    the producer's buffer), the broker refuses every later batch of that partition with
    ``OutOfOrderSequenceNumber``, for ever: aiokafka, unlike the Java client, keeps the producer
    id. Every record keyed to that partition would fail until the process restarts.

    A record refused that way was not written, so this class replaces the producer with a new
    one (a new producer id, sequences from zero) and sends the record once more. The old one is
    stopped in the background: whatever it still buffers either lands or fails to its caller,
    who may retry on the new session. Concurrent failures renew once.
    """

    def __init__(self, **producer_options: Any) -> None:
        self._options = producer_options
        self._producer = AIOKafkaProducer(**producer_options)
        self._renewing = asyncio.Lock()
        self._retired: set[asyncio.Task[None]] = set()
        self.renewals = 0
        """Sessions started again since start-up (each one is logged as a warning)."""

    @property
    def client(self) -> Any:
        """The current session's cluster client (metadata for readiness checks)."""
        return self._producer.client

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and close the current session, and wait for retired ones to close."""
        await self._producer.stop()
        if self._retired:
            await asyncio.wait(set(self._retired), timeout=_RETIRED_STOP_SECONDS)

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> RecordMetadata:
        """Send one record and wait for every in-sync replica (``acks=all``)."""
        producer = self._producer
        try:
            return await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        except PRODUCER_SESSION_ERRORS as exc:
            await self._renew(producer, reason=type(exc).__name__, topic=topic)
        return await self._producer.send_and_wait(topic, value=value, key=key, headers=headers)

    async def _renew(self, broken: AIOKafkaProducer, *, reason: str, topic: str) -> None:
        async with self._renewing:
            if self._producer is not broken:
                return  # another send renewed it already
            fresh = AIOKafkaProducer(**self._options)
            try:
                await fresh.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await fresh.stop()
                raise
            self._producer = fresh
            self.renewals += 1
        _log.warning(
            "kafka producer session renewed",
            reason=reason,
            topic=topic,
            client_id=self._options.get("client_id"),
            renewals=self.renewals,
        )
        retiring = asyncio.create_task(self._retire(broken))
        self._retired.add(retiring)
        retiring.add_done_callback(self._retired.discard)

    @staticmethod
    async def _retire(producer: AIOKafkaProducer) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), _RETIRED_STOP_SECONDS)
