"""The ledger handler: claim payments and claim submissions into the claims ledger.

Consumes ``claim_payments`` and ``claim_submissions``, and the partners' answers
(``status_check_results``, ``attachment_results``), which go on the claim's timeline. Each
message is handled in one database transaction that holds its idempotency record, its effects
and the messages it causes (the outbox); the outbox is then published (reconciliation results,
status-check and attachment commands) and marked sent. A crash anywhere re-delivers the
message: its effects are already there or not at all, and unsent outbox messages go out with
their original ids. A background flush also publishes what ``claimflow claims import`` queued
(parked payments it matched).

Errors: an unreadable message is a ``PoisonMessageError`` (dead-lettered at once); a database
that is down or a concurrent writer is a ``TransientError`` (retried).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.settings import Settings
from handlers.followup.rules import load_rules
from handlers.ledger.database import create_engine, ensure_schema
from handlers.ledger.intake import NewClaim
from handlers.ledger.outbox import OutboxRelay
from handlers.ledger.partner_results import record_partner_result
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger
from handlers.runtime import (
    HandlerContext,
    InboundMessage,
    PoisonMessageError,
    Publisher,
    TransientError,
    derive_message_id,
)
from router.followups import AttachmentResult, StatusCheckResult
from router.messages import (
    CLAIM_PAYMENT_SCHEMA,
    CLAIM_SUBMISSION_SCHEMA,
    ClaimPaymentMessage,
    ClaimSubmissionMessage,
)
from router.topics import HEADERS, TopicSet

__all__ = ["LedgerHandler", "build_ledger_handler"]

_log = structlog.get_logger("claimflow.ledger")

FLUSH_INTERVAL_SECONDS = 1.0
STATUS_CHECK_RESULT_SCHEMA = "claimflow.status-check-result.v1"
ATTACHMENT_RESULT_SCHEMA = "claimflow.attachment-result.v1"


class LedgerHandler:
    """The runtime's ``Handler`` (and ``Lifecycle``) for the claims ledger."""

    name = "ledger"

    def __init__(self, *, settings: Settings, topics: TopicSet, publisher: Publisher) -> None:
        self._settings = settings
        self._topics = topics
        self._publisher = publisher
        self._poster = Poster(
            rules=load_rules(settings.handlers.rules_file),
            tolerance=settings.money_tolerance,
            topic_prefix=settings.kafka.topic_prefix,
        )
        self._engine: AsyncEngine | None = None
        self._ledger: ClaimLedger | None = None
        self._relay: OutboxRelay | None = None
        self._flusher: asyncio.Task[None] | None = None
        # SQLite has one writer: handle one message at a time instead of failing on locks.
        self._serial = asyncio.Lock()

    def topics(self, topic_set: TopicSet) -> list[str]:
        return [
            topic_set.claim_payments,
            topic_set.claim_submissions,
            topic_set.status_check_results,
            topic_set.attachment_results,
        ]

    async def start(self) -> None:
        self._engine = create_engine(self._settings.database)
        await ensure_schema(self._engine)  # migrates the SQLite default only, never PostgreSQL
        self._ledger = ClaimLedger(self._engine)
        self._relay = OutboxRelay(self._ledger, self._publisher)
        self._flusher = asyncio.create_task(self._flush_forever(), name="ledger-outbox")

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._engine is not None:
            await self._engine.dispose()

    async def _flush_forever(self) -> None:
        assert self._relay is not None
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_SECONDS)
            try:
                await self._relay.flush()
            except Exception as exc:  # noqa: BLE001 - the next round retries; the loop must live
                _log.warning("outbox flush failed", error=type(exc).__name__)

    def _kind(self, message: InboundMessage) -> str:
        if message.topic == self._topics.claim_payments:
            return CLAIM_PAYMENT_SCHEMA
        if message.topic == self._topics.claim_submissions:
            return CLAIM_SUBMISSION_SCHEMA
        if message.topic == self._topics.status_check_results:
            return STATUS_CHECK_RESULT_SCHEMA
        if message.topic == self._topics.attachment_results:
            return ATTACHMENT_RESULT_SCHEMA
        return message.headers.get(HEADERS.SCHEMA, b"").decode(errors="replace")

    async def handle(self, message: InboundMessage) -> None:
        if self._ledger is None or self._relay is None:
            raise TransientError("the ledger handler has not started")
        kind = self._kind(message)
        try:
            if kind == CLAIM_PAYMENT_SCHEMA:
                payment = ClaimPaymentMessage.model_validate_json(message.value)
                work = self._payment(payment)
            elif kind == CLAIM_SUBMISSION_SCHEMA:
                submission = ClaimSubmissionMessage.model_validate_json(message.value)
                work = self._submission(submission, NewClaim.from_submission(submission))
            elif kind == STATUS_CHECK_RESULT_SCHEMA:
                status = StatusCheckResult.model_validate_json(message.value)
                work = self._partner_result(status, message)
            elif kind == ATTACHMENT_RESULT_SCHEMA:
                attachment = AttachmentResult.model_validate_json(message.value)
                work = self._partner_result(attachment, message)
            else:
                raise PoisonMessageError("not a claim payment or claim submission message")
        except ValidationError as exc:
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})[:5]
            raise PoisonMessageError(f"invalid {kind or 'message'}: {', '.join(fields)}") from exc
        try:
            if self._engine is not None and self._engine.dialect.name == "sqlite":
                async with self._serial:
                    fields_ = await work
            else:
                fields_ = await work
        except IntegrityError as exc:
            raise TransientError("a concurrent writer changed the same ledger rows") from exc
        except (OperationalError, DBAPIError, OSError) as exc:
            raise TransientError("the ledger database is unavailable") from exc
        await self._relay.flush()
        _log.info("ledger message handled", message_id=message.message_id, **fields_)

    async def _payment(self, message: ClaimPaymentMessage) -> dict[str, Any]:
        assert self._ledger is not None
        async with self._ledger.unit() as unit:
            result = await self._poster.post_payment(unit, message)
        return {
            "kind": "claim_payment",
            "state": result.state,
            "outcome": result.outcome.value if result.outcome else None,
            "claim_id": result.claim_id,
            "match_method": result.match.method.value if result.match else None,
            "match_confidence": str(result.match.confidence) if result.match else None,
            "follow_ups": [d.rule for d in result.follow_ups],
            "balanced": result.reconciliation.balanced if result.reconciliation else None,
        }

    async def _submission(self, message: ClaimSubmissionMessage, new: NewClaim) -> dict[str, Any]:
        assert self._ledger is not None
        async with self._ledger.unit() as unit:
            claim, posted = await self._poster.add_claim(
                unit,
                new,
                source=f"Claim.Submit message {message.message_id}",
                message_id=message.message_id,
            )
        return {"kind": "claim_submission", "claim_id": claim.id, "parked_posted": len(posted)}

    async def _partner_result(
        self, result: StatusCheckResult | AttachmentResult, message: InboundMessage
    ) -> dict[str, Any]:
        assert self._ledger is not None
        message_id = message.message_id or derive_message_id(result.command_id, result.outcome)
        async with self._ledger.unit() as unit:
            claim_id = await record_partner_result(unit, result, message_id)
        return {"kind": result.schema_name, "claim_id": claim_id, "outcome": result.outcome}


def build_ledger_handler(context: HandlerContext) -> LedgerHandler:
    """The ``HANDLER_FACTORIES["ledger"]`` factory; connects to nothing until ``start``."""
    return LedgerHandler(
        settings=context.settings, topics=context.topics, publisher=context.publisher
    )
