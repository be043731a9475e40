"""One message's way through a handler: attempts, backoff, retry topic, dead-letter topic.

``Delivery.process`` returns ``True`` once the message's fate is durable (handled, parked on
the retry topic or dead-lettered) and its offset may be committed, and ``False`` when the
runner is stopping and the message was abandoned between attempts: it is then delivered
again, to this process or to the partition's next owner.

``Delivery.process_batch`` does the same for a partition's queued records when the handler
is a ``BatchHandler``: one ``handle_batch`` call is every message's first attempt, and each
message that failed there continues alone through the same policy (in-process retries with
``handle``, then the retry topic or the dead-letter topic), in offset order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import structlog

from claimflow.tracing import consumer_span, extract_trace_context, inject_trace_headers, links_to
from handlers.runtime.errors import HandlerError, error_text
from handlers.runtime.handler import BatchHandler, Handler
from handlers.runtime.message import InboundMessage, headers_from_kafka
from handlers.runtime.metrics import RunnerMetrics
from handlers.runtime.publisher import KafkaPublisher, PublishFailedError
from handlers.runtime.retry import Origin, RetryPolicy, Verdict, copy_headers
from router.topics import HEADERS

__all__ = ["Delivery"]

_log = structlog.get_logger()


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds``; ``False`` if ``stop`` was set first."""
    if seconds <= 0:
        return True
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return True
    return False


@dataclass(frozen=True, slots=True)
class _Received:
    """A consumed record, decoded; ``origin`` is ``None`` for a malformed retry copy."""

    record: Any
    headers: dict[str, bytes]
    origin: Origin | None
    previous_attempts: int
    message_id: str | None


class Delivery:
    """Runs a handler on one record at a time, with the retry policy around it."""

    def __init__(
        self,
        *,
        handler: Handler,
        publisher: KafkaPublisher,
        policy: RetryPolicy,
        metrics: RunnerMetrics,
        retry_topic: str,
        dead_letter_topic: str,
    ) -> None:
        self._handler = handler
        self._publisher = publisher
        self._policy = policy
        self._metrics = metrics
        self._retry_topic = retry_topic
        self._dead_letter_topic = dead_letter_topic

    async def process(self, record: Any, stop: asyncio.Event) -> bool:
        """Handle one record in a CONSUMER span that continues the trace of its message."""
        with consumer_span(
            record.topic,
            record.headers,
            partition=record.partition,
            offset=record.offset,
            attributes={"claimflow.handler": self._handler.name},
        ):
            return await self._process(record, stop)

    async def _process(self, record: Any, stop: asyncio.Event) -> bool:
        received = self._receive(record)
        if received.origin is None:
            error = "MalformedRetryCopy: retry copy lacks the runtime's headers"
            origin = Origin(record.topic, record.partition, record.offset)
            return await self._move(
                received, origin, Verdict.DEAD_LETTER, 0, error, stop, reason="malformed"
            )
        if record.topic == self._retry_topic:
            due = record.timestamp / 1000 + self._policy.retry_delay
            if not await _sleep_unless(stop, due - time.time()):
                return False
        return await self._attempt(received, received.origin, stop)

    def _receive(self, record: Any) -> _Received:
        headers = headers_from_kafka(record.headers)
        raw_id = headers.get(HEADERS.MESSAGE_ID)
        message_id = raw_id.decode("utf-8", "replace") if raw_id is not None else None
        if record.topic != self._retry_topic:
            origin = Origin(record.topic, record.partition, record.offset)
            return _Received(record, headers, origin, 0, message_id)
        try:
            origin = Origin(
                headers[HEADERS.ORIGINAL_TOPIC].decode(),
                int(headers[HEADERS.ORIGINAL_PARTITION]),
                int(headers[HEADERS.ORIGINAL_OFFSET]),
            )
            attempts = int(headers[HEADERS.ATTEMPTS])
        except (KeyError, ValueError, UnicodeDecodeError):
            return _Received(record, headers, None, 0, message_id)
        return _Received(record, headers, origin, attempts, message_id)

    async def process_batch(self, records: list[Any], stop: asyncio.Event) -> list[bool]:
        """``process`` for records of one source partition, in one ``handle_batch`` call.

        Traced as one CONSUMER ``receive`` span linked to each message's context; the handler
        gives each message a span of its own in the message's trace.
        """
        if not records:
            return []
        first = records[0]
        with consumer_span(
            first.topic,
            None,
            operation="receive",
            partition=first.partition,
            links=links_to(extract_trace_context(record.headers) for record in records),
            attributes={
                "claimflow.handler": self._handler.name,
                "messaging.batch.message_count": len(records),
            },
        ):
            return await self._process_batch(records, stop)

    async def _process_batch(self, records: list[Any], stop: asyncio.Event) -> list[bool]:
        handler = self._handler
        assert isinstance(handler, BatchHandler)
        received = [self._receive(record) for record in records]
        messages = [self._message(r, r.origin) for r in received if r.origin is not None]
        if len(messages) != len(received):  # a retry copy: never batched, but be safe
            return [await self._process(record, stop) for record in records]
        outcomes: Sequence[BaseException | None]
        try:
            outcomes = await handler.handle_batch(messages)
            if len(outcomes) != len(messages):
                raise RuntimeError("handle_batch returned the wrong number of outcomes")
        except Exception as exc:  # noqa: BLE001 - the whole batch failed: each one alone now
            outcomes = [exc] * len(messages)
        done: list[bool] = []
        for item, message, outcome in zip(received, messages, outcomes, strict=True):
            assert item.origin is not None
            if outcome is None:
                self._metrics.processed("ok")
                self._log(item, "ok", item.previous_attempts + 1)
                done.append(True)
                continue
            ok = await self._attempt(item, item.origin, stop, message=message, failed=outcome)
            done.append(ok)
            if not ok:
                break
        return done + [False] * (len(records) - len(done))

    @staticmethod
    def _message(received: _Received, origin: Origin | None) -> InboundMessage:
        assert origin is not None
        return InboundMessage(
            topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
            key=received.record.key,
            value=received.record.value or b"",
            headers=MappingProxyType(received.headers),
            message_id=received.message_id,
        )

    async def _attempt(
        self,
        received: _Received,
        origin: Origin,
        stop: asyncio.Event,
        *,
        message: InboundMessage | None = None,
        failed: BaseException | None = None,
    ) -> bool:
        """Attempts until handled, parked or dead-lettered; ``failed`` is a first attempt's."""
        message = message or self._message(received, origin)
        attempts = received.previous_attempts
        attempt_in_pass = 0
        while True:
            attempt_in_pass += 1
            attempts += 1
            try:
                if failed is not None:
                    error, failed = failed, None
                    raise error
                await self._handler.handle(message)
            except Exception as exc:  # noqa: BLE001 - any failure is judged by the retry policy
                retriable = exc.retriable if isinstance(exc, HandlerError) else True
                verdict = self._policy.verdict(
                    retriable=retriable, attempt_in_pass=attempt_in_pass, attempts=attempts
                )
                if verdict is not Verdict.RETRY_NOW:
                    reason = "exhausted" if retriable else "permanent"
                    return await self._move(
                        received, origin, verdict, attempts, error_text(exc), stop, reason=reason
                    )
                self._metrics.retried("in_process")
                self._log(received, "retrying", attempts, error=error_text(exc))
                if not await _sleep_unless(stop, self._policy.backoff(attempt_in_pass)):
                    self._log(received, "abandoned", attempts)
                    return False
            else:
                self._metrics.processed("ok")
                self._log(received, "ok", attempts)
                return True

    async def _move(
        self,
        received: _Received,
        origin: Origin,
        verdict: Verdict,
        attempts: int,
        error: str,
        stop: asyncio.Event,
        *,
        reason: str,
    ) -> bool:
        """Publish the retry or dead-letter copy durably, trying until it lands or we stop."""
        parked = verdict is Verdict.PARK
        topic = self._retry_topic if parked else self._dead_letter_topic
        headers = inject_trace_headers(  # the copy continues this span's trace
            copy_headers(
                received.headers,
                handler=self._handler.name,
                origin=origin,
                attempts=attempts,
                error=error,
            )
        )
        tries = 0
        while True:
            tries += 1
            try:
                await self._publisher.publish(
                    topic, key=received.record.key, value=received.record.value, headers=headers
                )
                break
            except PublishFailedError as exc:
                _log.warning("retry or dead-letter publish failed", topic=topic, error=str(exc))
                if not await _sleep_unless(stop, self._policy.backoff(tries)):
                    self._log(received, "abandoned", attempts, error=error)
                    return False
        if parked:
            self._metrics.retried("retry_topic")
        else:
            self._metrics.dead_lettered(reason)
        self._metrics.processed(verdict.value)
        self._log(received, verdict.value, attempts, error=error)
        return True

    def _log(self, received: _Received, outcome: str, attempts: int, **extra: str) -> None:
        record = received.record
        log = _log.warning if outcome in ("dead_lettered", "parked") else _log.info
        log(
            "handler.message",
            handler=self._handler.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            message_id=received.message_id,
            outcome=outcome,
            attempts=attempts,
            **extra,
        )
