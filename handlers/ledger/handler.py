"""The ledger handler: claim payments and claim submissions into the claims ledger.

Consumes ``claim_payments`` and ``claim_submissions``, and the partners' answers
(``status_check_results``, ``attachment_results``), which go on the claim's timeline. Each
message is handled in one database transaction that holds its idempotency record, its effects
and the messages it causes (the outbox); the outbox is then published (reconciliation results,
status-check and attachment commands), and marked sent by the next transaction
(``OutboxRelay.publish_written``). A crash anywhere re-delivers the message: its effects are
already there or not at all, and unsent outbox messages go out with their original ids. A
background flush also publishes what ``claimflow claims import`` queued (parked payments it
matched).

The runtime hands the ledger a partition's queued messages at once (``handle_batch``): they
are posted in ONE transaction, in offset order, after their keys were loaded in a few
set-based queries (``LedgerUnit.prefetch``); their deliveries' claims are counted when the
batch has been posted (``count_deferred``). A message that fails is taken out and the rest
posted again without it (its later messages of the same claim are held back with it, so
per-claim order holds); its outcome goes back to the runtime, which retries it alone. When a
failure cannot be pinned on one message (the commit itself), each message gets a unit of its
own. Offsets are committed by the runtime only after this returns, so after the commit.

Errors: an unreadable message is a ``PoisonMessageError`` (dead-lettered at once); a database
that is down or a concurrent writer is a ``TransientError`` (retried).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.settings import Settings
from claimflow.tracing import consumer_span, current_span_link, within_span
from handlers.ledger.database import create_engine, ensure_schema
from handlers.ledger.followup_rules import load_rules
from handlers.ledger.intake import NewClaim
from handlers.ledger.metrics import REFRESH_SECONDS, LedgerMetrics
from handlers.ledger.outbox import OutboxRelay
from handlers.ledger.partner_results import record_partner_result
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger, LedgerUnit, UnsentMessage
from handlers.ledger.transactions import check_transactions, count_deferred
from handlers.runtime import (
    HandlerContext,
    InboundMessage,
    PoisonMessageError,
    Publisher,
    TransientError,
    derive_message_id,
)
from router.followups import AttachmentResult, StatusCheckResult
from router.headers import is_test
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
MAX_ISOLATED = 3
"""Messages taken out of one batch before the rest fall back to a unit per message."""
STATUS_CHECK_RESULT_SCHEMA = "claimflow.status-check-result.v1"
ATTACHMENT_RESULT_SCHEMA = "claimflow.attachment-result.v1"


class LedgerHandler:
    """The runtime's ``Handler`` (and ``Lifecycle``) for the claims ledger."""

    name = "ledger"

    def __init__(
        self,
        *,
        settings: Settings,
        topics: TopicSet,
        publisher: Publisher,
        metrics: LedgerMetrics | None = None,
    ) -> None:
        self._settings = settings
        self._metrics = metrics if metrics is not None else LedgerMetrics()
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
        self._engine = create_engine(self._settings.database, sqlite_on_loop=True)
        await ensure_schema(self._engine)  # migrates the SQLite default only, never PostgreSQL
        self._ledger = ClaimLedger(self._engine)
        self._relay = OutboxRelay(self._ledger, self._publisher)
        self._flusher = asyncio.create_task(self._flush_forever(), name="ledger-outbox")

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._ledger is not None:
            try:  # what was published and not yet marked; else re-sent once its claim passes
                await self._ledger.mark_unmarked()
            except Exception as exc:  # noqa: BLE001 - stopping anyway; consumers drop repeats
                _log.warning("outbox marks not written", error=type(exc).__name__)
        if self._engine is not None:
            await self._engine.dispose()

    async def _flush_forever(self) -> None:
        assert self._relay is not None
        assert self._engine is not None
        refreshed = 0.0
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_SECONDS)
            try:
                await self._relay.flush()
            except Exception as exc:  # noqa: BLE001 - the next round retries; the loop must live
                _log.warning("outbox flush failed", error=type(exc).__name__)
            refreshed += FLUSH_INTERVAL_SECONDS
            if refreshed >= REFRESH_SECONDS:
                refreshed = 0.0
                try:
                    await self._metrics.refresh_parked(self._engine)
                except Exception as exc:  # noqa: BLE001 - a gauge may lag; the loop must live
                    _log.warning("review queue count failed", error=type(exc).__name__)

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

    def _parse(self, message: InboundMessage) -> _Work:
        kind = self._kind(message)
        try:
            if kind == CLAIM_PAYMENT_SCHEMA:
                return _Work(message, ClaimPaymentMessage.model_validate_json(message.value))
            if kind == CLAIM_SUBMISSION_SCHEMA:
                submission = ClaimSubmissionMessage.model_validate_json(message.value)
                return _Work(message, submission, NewClaim.from_submission(submission))
            if kind == STATUS_CHECK_RESULT_SCHEMA:
                return _Work(message, StatusCheckResult.model_validate_json(message.value))
            if kind == ATTACHMENT_RESULT_SCHEMA:
                return _Work(message, AttachmentResult.model_validate_json(message.value))
        except ValidationError as exc:
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})[:5]
            raise PoisonMessageError(f"invalid {kind or 'message'}: {', '.join(fields)}") from exc
        raise PoisonMessageError("not a claim payment or claim submission message")

    async def handle(self, message: InboundMessage) -> None:
        if self._ledger is None or self._relay is None:
            raise TransientError("the ledger handler has not started")
        work = self._parse(message)
        async with self._writing():
            try:
                async with self._ledger.unit(publish_outbox=True) as unit:
                    fields = await self._apply(unit, work)
            except Exception as exc:
                translated = _translate(exc)
                if translated is exc:
                    raise
                raise translated from exc
        await self._relay.publish_written(unit.outbox_written)
        self._metrics.posted(fields)
        _log.info("ledger message handled", message_id=message.message_id, **fields)

    async def handle_batch(
        self, messages: Sequence[InboundMessage]
    ) -> Sequence[BaseException | None]:
        """Post the messages in one transaction; a failed one is taken out (module docs)."""
        if self._ledger is None or self._relay is None:
            raise TransientError("the ledger handler has not started")
        batch = _Batch(messages, [None] * len(messages))
        for index, message in enumerate(messages):
            try:
                batch.works[index] = self._parse(message)
            except PoisonMessageError as exc:
                batch.outcomes[index] = exc
        try:
            async with self._writing():
                handled = await self._post_all(batch)
        except BaseException:
            # Committed, not published: a relay publishes them once their claim has passed.
            self._ledger.claimed_outbox.difference_update(m.message_id for m in batch.written)
            raise
        await self._relay.publish_written(batch.written)
        kinds: Counter[str] = Counter()
        states: Counter[str] = Counter()
        follow_ups = 0
        for index, fields in handled.items():
            self._metrics.posted(fields)
            kinds[fields["kind"]] += 1
            if "state" in fields:
                states[fields["state"]] += 1
                follow_ups += len(fields["follow_ups"])
            _log.debug("ledger message handled", message_id=messages[index].message_id, **fields)
        # One canonical line per batch (the per-message line above is at debug): counts only.
        _log.info(
            "ledger batch handled",
            messages=len(messages),
            handled=len(handled),
            failed=sum(o is not None for o in batch.outcomes),
            kinds=dict(kinds),
            states=dict(states),
            follow_ups=follow_ups,
            first_offset=messages[0].offset if messages else None,
            last_offset=messages[-1].offset if messages else None,
            partition=messages[0].partition if messages else None,
        )
        return batch.outcomes

    async def _post_all(self, batch: _Batch) -> dict[int, dict[str, Any]]:
        """Post the batch's messages in one unit; a failed one is taken out (module docs)."""
        works, written = batch.works, batch.written
        handled: dict[int, dict[str, Any]] = {}
        isolated = 0
        while works:
            try:
                handled.update(await self._post_together(works, written))
                break
            except _MessageFailedError as failed:
                # Commit what came before it: if that fails too, the failure was an
                # earlier message's (a row written late); else this message is the one.
                before = {i: w for i, w in works.items() if i < failed.index}
                try:
                    handled.update(await self._post_together(before, written) if before else {})
                except Exception:  # noqa: BLE001 - pinned on nobody: one unit each
                    handled.update(await self._post_one_by_one(batch))
                    break
                for index in before:
                    del works[index]
                batch.take_out(failed)
                isolated += 1
                if isolated < MAX_ISOLATED:
                    continue
            except Exception:  # noqa: BLE001 - not one message's fault: one unit each
                _log.warning("ledger batch failed; posting its messages one by one")
            handled.update(await self._post_one_by_one(batch))
            break
        return handled

    async def _post_together(
        self, works: dict[int, _Work], written: list[UnsentMessage]
    ) -> dict[int, dict[str, Any]]:
        assert self._ledger is not None
        handled: dict[int, dict[str, Any]] = {}
        async with self._ledger.unit(publish_outbox=True) as unit:
            unit.defer_delivery_counts()  # the deliveries' rows locked at the end only
            await unit.prefetch(
                w.model
                for w in works.values()
                if isinstance(w.model, ClaimPaymentMessage | ClaimSubmissionMessage)
            )
            spans: dict[int, Any] = {}
            for index, work in works.items():
                try:
                    handled[index] = await self._apply_traced(unit, work, spans, index)
                except Exception as exc:
                    raise _MessageFailedError(index, exc) from exc
            at = {
                w.model.message_id: i
                for i, w in works.items()
                if isinstance(w.model, ClaimPaymentMessage)
            }
            counts = unit.deferred_counts()
            if counts:
                await unit.flush()  # the batch's rows first: the delivery rows' locks are last
            for counted in counts:
                last = at[counted.last.message_id]
                try:
                    # Counted in the trace of the delivery's first claim of the batch and
                    # checked in its last one's, as when each claim counted itself.
                    with within_span(spans.get(at[counted.first.message_id])):
                        was_last = await count_deferred(unit, counted)
                    if was_last:
                        with within_span(spans.get(last)):
                            await check_transactions(unit, self._poster, counted.last)
                except Exception as exc:
                    # Pinned on the delivery's last claim here, which would have counted last
                    # and checked it; if an earlier one is to blame, committing the messages
                    # before it fails too and each message gets a unit of its own.
                    raise _MessageFailedError(last, exc) from exc
        written += unit.outbox_written
        return handled

    async def _post_one_by_one(self, batch: _Batch) -> dict[int, dict[str, Any]]:
        assert self._ledger is not None
        handled: dict[int, dict[str, Any]] = {}
        while batch.works:
            index, work = next(iter(batch.works.items()))
            try:
                async with self._ledger.unit(publish_outbox=True) as unit:
                    handled[index] = await self._apply_traced(unit, work)
                batch.written += unit.outbox_written
                del batch.works[index]
            except Exception as exc:  # noqa: BLE001 - reported to the runtime per message
                batch.take_out(_MessageFailedError(index, exc))
        return handled

    @contextlib.asynccontextmanager
    async def _writing(self) -> Any:
        # SQLite has one writer: one unit at a time instead of failing on locks.
        if self._engine is not None and self._engine.dialect.name == "sqlite":
            async with self._serial:
                yield
        else:
            yield

    async def _apply_traced(
        self,
        unit: LedgerUnit,
        work: _Work,
        spans: dict[int, Any] | None = None,
        index: int = 0,
    ) -> dict[str, Any]:
        """``_apply`` for one message of a batch, in a span of the message's own trace (linked
        to the batch's ``receive`` span): its queries and outbox messages belong to it. The
        span is kept in ``spans`` (under ``index``) when tracing is on."""
        message = work.message
        with consumer_span(
            message.topic,
            message.headers,
            partition=message.partition,
            offset=message.offset,
            links=current_span_link(),
            attributes={"claimflow.handler": self.name},
        ) as span:
            if spans is not None and span is not None:
                spans[index] = span
            return await self._apply(unit, work)

    async def _apply(self, unit: LedgerUnit, work: _Work) -> dict[str, Any]:
        model = work.model
        if isinstance(model, ClaimPaymentMessage):
            unit.keep_payload(model.message_id, work.message.value)
            return await self._payment(unit, model)
        if isinstance(model, ClaimSubmissionMessage):
            assert work.new is not None
            return await self._submission(unit, model, work.new)
        return await self._partner_result(unit, model, work.message)

    async def _payment(self, unit: LedgerUnit, message: ClaimPaymentMessage) -> dict[str, Any]:
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

    async def _submission(
        self, unit: LedgerUnit, message: ClaimSubmissionMessage, new: NewClaim
    ) -> dict[str, Any]:
        claim, posted = await self._poster.add_claim(
            unit,
            new,
            source=f"Claim.Submit message {message.message_id}",
            message_id=message.message_id,
        )
        return {"kind": "claim_submission", "claim_id": claim.id, "parked_posted": len(posted)}

    async def _partner_result(
        self,
        unit: LedgerUnit,
        result: StatusCheckResult | AttachmentResult,
        message: InboundMessage,
    ) -> dict[str, Any]:
        message_id = message.message_id or derive_message_id(result.command_id, result.outcome)
        claim_id = await record_partner_result(
            unit,
            result,
            message_id,
            follow_ups=self._poster.follow_ups,
            test=is_test(message.headers),
            now=unit.now,
        )
        return {"kind": result.schema_name, "claim_id": claim_id, "outcome": result.outcome}


@dataclass(frozen=True, slots=True)
class _Work:
    message: InboundMessage
    model: ClaimPaymentMessage | ClaimSubmissionMessage | StatusCheckResult | AttachmentResult
    new: NewClaim | None = None


@dataclass(slots=True)
class _Batch:
    """One ``handle_batch`` call: its messages, the parsed work still to post, each message's
    outcome, and the outbox messages of the units committed so far (published at its end)."""

    messages: Sequence[InboundMessage]
    outcomes: list[BaseException | None]
    works: dict[int, _Work] = field(default_factory=dict)
    written: list[UnsentMessage] = field(default_factory=list)

    def take_out(self, failed: _MessageFailedError) -> None:
        """Fail one message, and hold back the later messages of its claim (its Kafka key)."""
        works, messages = self.works, self.messages
        works.pop(failed.index, None)
        self.outcomes[failed.index] = _translate(failed.error)
        key = messages[failed.index].key
        for index in [i for i in works if i > failed.index and messages[i].key == key]:
            del works[index]
            self.outcomes[index] = TransientError("held back behind a failed message of its claim")


class _MessageFailedError(Exception):
    """One message of a batch failed; the batch's transaction is rolled back."""

    def __init__(self, index: int, error: BaseException) -> None:
        super().__init__(index)
        self.index = index
        self.error = error


def _translate(exc: BaseException) -> BaseException:
    """A database error as the runtime's retriable ``TransientError``; others as they are."""
    if isinstance(exc, IntegrityError):
        return TransientError("a concurrent writer changed the same ledger rows")
    if isinstance(exc, OperationalError | DBAPIError | OSError):
        return TransientError("the ledger database is unavailable")
    return exc


def build_ledger_handler(context: HandlerContext) -> LedgerHandler:
    """The ``HANDLER_FACTORIES["ledger"]`` factory; connects to nothing until ``start``."""
    return LedgerHandler(
        settings=context.settings,
        topics=context.topics,
        publisher=context.publisher,
        metrics=LedgerMetrics(registry=context.registry),
    )
