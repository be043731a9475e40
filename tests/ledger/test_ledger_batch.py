"""A poll's worth of claim messages in one transaction: a bad message never poisons its batch."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any

import pytest
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from claimflow.settings import DatabaseSettings, Settings
from handlers.ledger.handler import LedgerHandler
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import (
    AppliedPayment,
    Claim,
    FollowUp,
    OutboxMessage,
    PaymentReceipt,
    TimelineEvent,
    TransactionResult,
)
from handlers.runtime import InboundMessage, PoisonMessageError, TransientError
from router.messages import ClaimPaymentMessage, SplitMessage, split_payment_batch
from router.redox import PaymentBatch
from router.topics import HEADERS, TopicSet
from tests.ledger.corpus import PR, adj, batch, claim, ledger_claim, service
from tests.ledger.support import allow_rows, refuse_rows


class RecordingPublisher:
    """Stands in for Kafka: keeps what the outbox relay publishes."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    async def publish(
        self, topic: str, *, key: bytes | None, value: bytes, headers: Mapping[str, bytes]
    ) -> None:
        self.published.append((topic, headers[HEADERS.MESSAGE_ID]))


@pytest.fixture
async def handler(ledger_url: str, ledger_engine: AsyncEngine) -> AsyncIterator[LedgerHandler]:
    """A started handler on a ledger migrated first, as ``claimflow db upgrade`` would."""
    topics = TopicSet(prefix="batch.", lane="test")
    settings = Settings(database=DatabaseSettings.model_validate({"url": ledger_url}))
    ledger_handler = LedgerHandler(settings=settings, topics=topics, publisher=RecordingPublisher())
    await ledger_handler.start()
    try:
        yield ledger_handler
    finally:
        await ledger_handler.stop()


def _inbound(topics: TopicSet, messages: list[SplitMessage], first: int = 0) -> list[Any]:
    return [
        InboundMessage(
            topic=topics.claim_payments,
            partition=0,
            offset=first + i,
            key=m.key.encode() if m.key else None,
            value=m.value,
            headers={HEADERS.MESSAGE_ID: m.message_id.encode()},
            message_id=m.message_id,
        )
        for i, m in enumerate(messages)
    ]


def _split(log_id: str, numbers: list[str]) -> list[SplitMessage]:
    payload = batch(log_id, *(claim(n) for n in numbers))
    return split_payment_batch(PaymentBatch.model_validate(payload), log_id=log_id)


async def _add_claims(ledger: ClaimLedger, handler: LedgerHandler, numbers: list[str]) -> None:
    async with ledger.unit() as unit:
        for number in numbers:
            await handler._poster.add_claim(unit, ledger_claim(number), source="test")


async def test_a_batch_posts_every_claim_payment_once_in_one_go(
    handler: LedgerHandler, ledger_engine: AsyncEngine
) -> None:
    ledger = ClaimLedger(ledger_engine)
    numbers = [f"BATCH-{i:03d}" for i in range(40)]
    await _add_claims(ledger, handler, numbers)
    inbound = _inbound(handler._topics, _split("batch-all", numbers))

    assert await handler.handle_batch(inbound) == [None] * 40
    assert await handler.handle_batch(inbound) == [None] * 40  # redelivered: nothing changes

    assert await ledger.count(PaymentReceipt) == 40
    assert await ledger.count(AppliedPayment) == 40
    assert await ledger.count(TransactionResult) == 1
    assert await ledger.count(Claim, Claim.status == "paid_in_full") == 40
    assert await ledger.count(OutboxMessage) == 41  # a result per payment, one per transaction
    assert await ledger.count(OutboxMessage, OutboxMessage.sent_at.is_(None)) == 0
    # Published from memory once each, when the batch committed (the redelivery: nothing).
    publisher = handler._publisher
    assert isinstance(publisher, RecordingPublisher)
    assert len(publisher.published) == 41
    assert len({message_id for _, message_id in publisher.published}) == 41


async def test_a_batch_logs_one_line_of_counts_and_each_message_only_at_debug(
    handler: LedgerHandler, ledger_engine: AsyncEngine
) -> None:
    ledger = ClaimLedger(ledger_engine)
    numbers = [f"LOGS-{i:03d}" for i in range(6)]
    await _add_claims(ledger, handler, numbers[:5])
    inbound = _inbound(handler._topics, _split("batch-logs", numbers))
    structlog.reset_defaults()

    with capture_logs() as logs:
        assert await handler.handle_batch(inbound) == [None] * 6

    [line] = [e for e in logs if e["event"] == "ledger batch handled"]
    assert line["log_level"] == "info"
    assert (line["messages"], line["handled"], line["failed"]) == (6, 6, 0)
    assert line["kinds"] == {"claim_payment": 6}
    assert line["states"]["applied"] == 5  # the sixth has no claim on file
    assert sum(line["states"].values()) == 6
    each = [e for e in logs if e["event"] == "ledger message handled"]
    assert len(each) == 6
    assert {e["log_level"] for e in each} == {"debug"}


async def test_a_delivery_split_over_batches_is_checked_once_by_the_batch_that_counts_last(
    handler: LedgerHandler, ledger_engine: AsyncEngine
) -> None:
    ledger = ClaimLedger(ledger_engine)
    numbers = [f"SPLIT-{i:03d}" for i in range(9)]
    await _add_claims(ledger, handler, numbers)
    payload = batch("split-delivery", *(claim(n) for n in numbers), total="1.00")
    split = split_payment_batch(PaymentBatch.model_validate(payload), log_id="split-delivery")
    # Two partitions' polls (as two replicas would get them), each counted when it ends.
    first, second = _inbound(handler._topics, split[:4]), _inbound(handler._topics, split[4:])

    assert await handler.handle_batch(first) == [None] * 4
    assert await ledger.count(TransactionResult) == 0  # five claims still to come
    assert await handler.handle_batch(second) == [None] * 5
    assert await handler.handle_batch(first) == [None] * 4  # redelivered: nothing counted

    assert await ledger.count(TransactionResult) == 1
    assert await ledger.count(TransactionResult, TransactionResult.balanced.is_(False)) == 1
    # The unbalanced transaction is on every matched claim's timeline and goes to the rules.
    line = (
        "transaction tx-split-delivery: total 1.00 differs from the sum of its 9 claim payments "
        "720.00"
    )
    assert await ledger.count(TimelineEvent, TimelineEvent.summary == line) == 9
    assert await ledger.count(FollowUp, FollowUp.rule == "transaction-total-differs") == 9


async def test_a_message_that_fails_is_taken_out_and_the_rest_of_its_batch_is_posted(
    handler: LedgerHandler, ledger_engine: AsyncEngine
) -> None:
    ledger = ClaimLedger(ledger_engine)
    good = [f"GOOD-{i:03d}" for i in range(10)]
    await _add_claims(ledger, handler, [*good, "BAD-000"])
    bad = _split("bad-delivery", ["BAD-000"])
    messages = _split("good-delivery", good[:5]) + bad + _split("good-delivery-2", good[5:])
    inbound = _inbound(handler._topics, messages)
    # The database refuses the bad delivery's row, which is written while posting it.
    await refuse_rows(ledger_engine, "deliveries", "delivery_id", "bad-delivery")

    outcomes = await handler.handle_batch(inbound)

    assert [o is None for o in outcomes] == [True] * 5 + [False] + [True] * 5
    assert isinstance(outcomes[5], TransientError)
    assert await ledger.count(PaymentReceipt) == 10
    assert await ledger.count(PaymentReceipt, PaymentReceipt.delivery_id == "bad-delivery") == 0
    assert await ledger.count(TransactionResult) == 2

    await allow_rows(ledger_engine, "deliveries")
    await handler.handle(inbound[5])  # the runtime's retry of the bad one alone
    assert await ledger.count(PaymentReceipt) == 11
    assert await ledger.count(AppliedPayment) == 11
    assert await ledger.count(TransactionResult) == 3


async def test_a_commit_that_fails_falls_back_to_one_transaction_per_message(
    handler: LedgerHandler, ledger_engine: AsyncEngine
) -> None:
    ledger = ClaimLedger(ledger_engine)
    numbers = [f"FALL-{i:03d}" for i in range(6)]
    await _add_claims(ledger, handler, numbers)
    messages = _split("fallback", numbers)
    inbound = _inbound(handler._topics, messages)
    # Receipts are written when the batch commits: the failure cannot be pinned on a message.
    await refuse_rows(ledger_engine, "payment_receipts", "message_id", messages[2].message_id)

    outcomes = await handler.handle_batch(inbound)

    assert [o is None for o in outcomes] == [True, True, False, True, True, True]
    assert await ledger.count(PaymentReceipt) == 5
    assert await ledger.count(TransactionResult) == 0  # its last claim is still missing
    await allow_rows(ledger_engine, "payment_receipts")
    await handler.handle(inbound[2])
    assert await ledger.count(PaymentReceipt) == 6
    assert await ledger.count(TransactionResult) == 1


async def test_a_poison_message_and_the_later_messages_of_a_failed_claim_are_reported(
    handler: LedgerHandler, ledger_engine: AsyncEngine
) -> None:
    ledger = ClaimLedger(ledger_engine)
    numbers = ["KEY-001", "KEY-002"]
    await _add_claims(ledger, handler, numbers)
    first = _split("keyed-1", numbers)
    again = _split("keyed-2", ["KEY-001"])  # a later payment of the first claim
    inbound = _inbound(handler._topics, [*first, *again])
    poison = InboundMessage(
        topic=handler._topics.claim_payments,
        partition=0,
        offset=len(inbound),
        key=b"x",
        value=b'{"schema": "claimflow.claim-payment.v1"}',
        message_id="poison",
    )
    await refuse_rows(ledger_engine, "deliveries", "delivery_id", "keyed-1")

    outcomes = await handler.handle_batch([*inbound, poison])

    assert all(isinstance(o, TransientError) for o in outcomes[:2])
    assert "held back" in str(outcomes[2])  # KEY-001 again waits behind its failed payment
    assert isinstance(outcomes[3], PoisonMessageError)
    assert await ledger.count(PaymentReceipt) == 0


@pytest.mark.parametrize("flushed_between", [False, True], ids=["one-flush", "flushed-between"])
async def test_a_payment_and_its_reversal_in_one_unit_are_linked_and_read_back(
    handler: LedgerHandler, ledger_engine: AsyncEngine, flushed_between: bool
) -> None:
    """The unit writes its receipts and posted payments as plain rows at the flush; a row a
    rule changes after that (the payment a reversal undoes) is read back and changed too."""
    ledger = ClaimLedger(ledger_engine)
    await _add_claims(ledger, handler, ["REV-9"])
    reversal = claim(
        "REV-9",
        control="PCN-9",
        status="Reversal of Previous Payment",
        charged="-100.00",
        paid="-80.00",
        patient="-20.00",
        services=[service("-100.00", "-80.00", adj("-20.00", PR, "Deductible amount"))],
    )
    messages = [
        ClaimPaymentMessage.model_validate_json(m.value)
        for log_id, body in (
            ("unit-pay", batch("unit-pay", claim("REV-9", control="PCN-9"))),
            ("unit-undo", batch("unit-undo", reversal)),
        )
        for m in split_payment_batch(PaymentBatch.model_validate(body), log_id=log_id)
    ]
    poster = handler._poster
    async with ledger.unit() as unit:
        await unit.prefetch(messages)
        paid = await poster.post_payment(unit, messages[0])
        if flushed_between:
            await unit.flush()
        undone = await poster.post_payment(unit, messages[1])
        receipt = await unit.receipt(messages[0].message_id)  # an ORM row, written first
        assert isinstance(receipt, PaymentReceipt)
        assert (receipt.state, receipt.claim_id) == ("applied", paid.claim_id)
    assert (paid.state, undone.state) == ("applied", "applied")
    assert paid.claim_id is not None
    async with ledger.unit() as unit:
        first, second = await unit.posted_payments(paid.claim_id)
        found = await unit.claim(paid.claim_id)
    assert (first.reversed_by_id, second.reverses_id) == (second.id, first.id)
    assert (found.paid_amount, found.patient_responsibility) == (Decimal("0.00"), Decimal("0.00"))
