"""Durable publishing through the process's one producer (idempotent, ``acks=all``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka.errors import KafkaError

from claimflow.tracing import inject_trace_headers, producer_span
from handlers.runtime.errors import TransientError

__all__ = ["KafkaPublisher", "PublishFailedError"]


class PublishFailedError(TransientError):
    """The broker did not acknowledge a record: retried like any transient failure."""


class KafkaPublisher:
    """The ``Publisher`` the runtime hands handlers; it also writes retry and dead-letter copies.

    ``publish`` returns only when every in-sync replica has the record, so a caller that
    returns after it may let the runtime commit the input's offset.
    """

    def __init__(self, producer: Any) -> None:
        self._producer = producer

    async def publish(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes,
        headers: Mapping[str, bytes],
    ) -> None:
        try:
            # An outbox message keeps the trace of the message that caused it.
            with producer_span(topic, headers, parent_from_headers=True):
                await self._producer.send_and_wait(
                    topic, value=value, key=key, headers=list(inject_trace_headers(headers).items())
                )
        except KafkaError as exc:
            raise PublishFailedError(f"broker did not acknowledge a record for {topic}") from exc
