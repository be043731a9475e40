"""What the router makes of one webhook record: its claim messages, or a dead letter.

Pure (no Kafka): the stage decides about duplicates and transactions. The output lane is the
test lane when either the input topic is a test topic or the body says ``Meta.Test: true``, so
test traffic cannot reach a production topic even if it was published on the wrong lane.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ValidationError

from router.headers import Failure, RedoxOrigin, is_test, message_headers
from router.messages import SplitMessage, split_claim_submission, split_payment_batch
from router.redox import ClaimSubmission, Meta, PaymentBatch, WebhookEnvelope, field_path
from router.routes import RouteTable
from router.topics import Lane, TopicSet

__all__ = ["DeadLetter", "InboundRecord", "OutboundRecord", "Routed", "route_record"]

_MAX_ERRORS = 10


class InboundRecord(Protocol):
    """The fields of an aiokafka ``ConsumerRecord`` the router reads."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Routed:
    """A valid delivery: its Redox log id and one message per claim, in batch order."""

    log_id: str
    lane: Lane
    messages: list[OutboundRecord]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that cannot be split; ``reason`` names paths and rules, never values."""

    reason: str
    message: OutboundRecord


class _UnroutableError(Exception):
    def __init__(self, reason: str, meta: Meta | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.meta = meta


def _errors(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = [f"{field_path(tuple(e['loc'])) or '$'}: {e['type']}" for e in errors[:_MAX_ERRORS]]
    more = len(errors) - _MAX_ERRORS
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _split(body: BaseModel, log_id: str) -> list[SplitMessage]:
    if isinstance(body, PaymentBatch):
        return split_payment_batch(body, log_id=log_id)
    if isinstance(body, ClaimSubmission):
        return split_claim_submission(body, log_id=log_id)
    raise _UnroutableError(f"no splitter for {type(body).__name__}")  # pragma: no cover


def _validated(routes: RouteTable, value: bytes) -> PaymentBatch | ClaimSubmission:
    """The body in one pass when it is valid; else the envelope first, to say what is wrong."""
    body = routes.validate_json(value)
    if body is not None:
        return body
    try:
        meta = WebhookEnvelope.model_validate_json(value).meta
    except ValidationError as exc:
        raise _UnroutableError(f"envelope invalid: {_errors(exc)}") from exc
    model = routes.body_model(meta.data_model, meta.event_type)
    if model is None:
        raise _UnroutableError(f"no route for {meta.data_model}.{meta.event_type}", meta)
    if meta.log_id is None:
        raise _UnroutableError("Meta.Logs: no log ID", meta)
    try:
        validated = model.model_validate_json(value)
    except ValidationError as exc:
        raise _UnroutableError(f"body invalid: {_errors(exc)}", meta) from exc
    assert isinstance(validated, PaymentBatch | ClaimSubmission)  # the table's only models
    return validated


def _route(record: InboundRecord, routes: RouteTable, value: bytes) -> Routed:
    body = _validated(routes, value)
    meta = body.meta
    log_id = meta.log_id
    if log_id is None:
        raise _UnroutableError("Meta.Logs: no log ID", meta)
    lane: Lane = "test" if meta.test or routes.lane_of(record.topic) == "test" else "production"
    webhook_topic = routes.webhook_topic(meta.data_model, meta.event_type, lane == "test")
    topic = routes.claim_topic(webhook_topic) if webhook_topic else None
    if topic is None:  # pragma: no cover - every route of the table has a claim topic
        raise _UnroutableError(f"no claim topic for {meta.data_model}.{meta.event_type}", meta)
    origin = RedoxOrigin(meta.data_model, meta.event_type, log_id, meta.attempt_id)
    messages = [
        OutboundRecord(
            topic,
            split.key.encode(),
            split.value,
            # redox-test says the lane: a claim routed to the test lane from a test topic is
            # test traffic whatever its Meta.Test.
            message_headers(
                test=lane == "test",
                message_id=split.message_id,
                schema=split.schema,
                redox=origin,
            ),
        )
        for split in _split(body, log_id)
    ]
    return Routed(log_id=log_id, lane=lane, messages=messages)


def _dead_letter(
    record: InboundRecord, routes: RouteTable, reason: str, meta: Meta | None
) -> DeadLetter:
    header_test = is_test(dict(record.headers))
    test = header_test or bool(meta and meta.test) or routes.lane_of(record.topic) == "test"
    topics = TopicSet(prefix=routes.topic_prefix, lane="test" if test else "production")
    failure = Failure(
        error=reason,
        original_topic=record.topic,
        original_partition=record.partition,
        original_offset=record.offset,
    )
    headers = message_headers(test=test, carried=record.headers, failure=failure)
    message = OutboundRecord(topics.router_dead_letter, record.key, record.value or b"", headers)
    return DeadLetter(reason=reason, message=message)


def route_record(record: InboundRecord, routes: RouteTable) -> Routed | DeadLetter:
    """Split a webhook record into claim messages, or say why it goes to the dead letters."""
    if not record.value:
        return _dead_letter(record, routes, "empty record value", None)
    try:
        return _route(record, routes, record.value)
    except _UnroutableError as exc:
        return _dead_letter(record, routes, exc.reason, exc.meta)
