"""The ledger handler in-process, with a recording publisher instead of Kafka."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from claimflow.settings import Settings
from handlers.ledger.followup_rules import load_rules
from handlers.ledger.handler import LedgerHandler
from handlers.ledger.outbox import OutboxRelay
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import (
    AppliedPayment,
    Claim,
    FollowUp,
    OutboxMessage,
    TimelineEvent,
    TransactionResult,
)
from handlers.runtime import InboundMessage, PoisonMessageError, TransientError
from router.followups import (
    AttachmentRequest,
    AttachmentResult,
    StatusCheckRequest,
    StatusCheckResult,
)
from router.messages import (
    ClaimSubmissionMessage,
    Position,
    RedoxDelivery,
    split_payment_batch,
)
from router.redox import PaymentBatch, SubmissionTransactionHeader, SubmittedClaim
from router.topics import HEADERS, TopicSet
from tests.ledger.corpus import batch, claim
from tests.ledger.support import RecordingPublisher

TOPICS = TopicSet(lane="test")


@pytest.fixture
async def running(
    ledger_url: str, ledger_engine: Any
) -> AsyncIterator[tuple[LedgerHandler, RecordingPublisher]]:
    """A started handler on a ledger migrated first, as ``claimflow db upgrade`` would."""
    settings = Settings.model_validate(
        {"database": {"url": ledger_url}, "handlers": {"lane": "test"}}
    )
    publisher = RecordingPublisher()
    handler = LedgerHandler(settings=settings, topics=TOPICS, publisher=publisher)
    await handler.start()
    try:
        yield handler, publisher
    finally:
        await handler.stop()


def inbound(topic: str, message_id: str, value: bytes) -> InboundMessage:
    return InboundMessage(
        topic=topic, partition=0, offset=0, key=None, value=value, message_id=message_id
    )


def submission(number: str | None, charged: str | None = "100.00") -> ClaimSubmissionMessage:
    return ClaimSubmissionMessage(
        message_id=str(uuid.uuid5(uuid.NAMESPACE_OID, f"submission {number}")),
        delivery=RedoxDelivery(
            log_id="sub-log", data_model="Claim", event_type="Submit", test=True
        ),
        position=Position(transaction=0, claim=0, claims_in_batch=1),
        transaction=SubmissionTransactionHeader(),
        claim=SubmittedClaim.model_validate(
            {
                "SubmissionNumber": number,
                "ChargedAmount": charged,
                "Patient": {"Demographics": {"FirstName": "Timothy", "LastName": "Bixby"}},
            }
        ),
    )


def sample_messages(sample_bytes: bytes) -> list[InboundMessage]:
    batch = PaymentBatch.model_validate_json(sample_bytes)
    return [
        inbound(TOPICS.claim_payments, m.message_id, m.value)
        for m in split_payment_batch(batch, log_id="handler-test")
    ]


async def test_submitted_claims_are_matched_and_nothing_is_logged_about_the_patient(
    running: tuple[LedgerHandler, RecordingPublisher], sample_bytes: bytes, ledger_engine: Any
) -> None:
    handler, publisher = running
    structlog.reset_defaults()
    with capture_logs() as logs:
        for number in ("66729659983", "774466586"):
            sub = submission(number)
            await handler.handle(
                inbound(
                    TOPICS.claim_submissions,
                    sub.message_id,
                    sub.model_dump_json(by_alias=True).encode(),
                )
            )
        for message in sample_messages(sample_bytes):
            await handler.handle(message)
    ledger = ClaimLedger(ledger_engine)
    assert await ledger.count(Claim, Claim.status == "paid_in_full") == 2
    topics = sorted({topic for topic, _, _ in publisher.sent})
    assert topics == [TOPICS.reconciliations, TOPICS.status_check_requests]
    logged = json.dumps(logs, default=str)
    for phi in ("Timothy", "Bixby", "101-01-0001", "2008-01-06", "66729659983"):
        assert phi not in logged
    handled = [e for e in logs if e["event"] == "ledger message handled"]
    assert [e["outcome"] for e in handled if e["kind"] == "claim_payment"] == [
        "paid_in_full",
        "paid_in_full",
    ]


async def test_a_redelivered_submission_adds_no_second_claim_or_event(
    running: tuple[LedgerHandler, RecordingPublisher], ledger_engine: Any
) -> None:
    handler, _ = running
    sub = submission("S-1")
    message = inbound(
        TOPICS.claim_submissions, sub.message_id, sub.model_dump_json(by_alias=True).encode()
    )
    await handler.handle(message)
    await handler.handle(message)
    ledger = ClaimLedger(ledger_engine)
    assert await ledger.count(Claim) == 1
    assert await ledger.count(TimelineEvent) == 1


@pytest.mark.parametrize(
    ("topic", "value", "complaint"),
    [
        (TOPICS.claim_payments, b"not json", "invalid claimflow.claim-payment.v1"),
        (TOPICS.claim_payments, b'{"schema": "claimflow.claim-payment.v1"}', "message_id"),
        (
            TOPICS.claim_submissions,
            submission("S-2", charged=None).model_dump_json(by_alias=True).encode(),
            "charged_amount",
        ),
        ("elsewhere", b"{}", "not a claim payment or claim submission"),
    ],
)
async def test_unreadable_messages_are_poison_and_the_error_quotes_no_values(
    running: tuple[LedgerHandler, RecordingPublisher], topic: str, value: bytes, complaint: str
) -> None:
    handler, _ = running
    with pytest.raises(PoisonMessageError, match=complaint) as error:
        await handler.handle(inbound(topic, "bad", value))
    assert "Bixby" not in str(error.value)


async def test_a_failed_publish_is_retried_with_the_same_message_ids(
    running: tuple[LedgerHandler, RecordingPublisher], sample_bytes: bytes, ledger_engine: Any
) -> None:
    handler, publisher = running
    first = sample_messages(sample_bytes)[0]
    publisher.fail_next = 1
    with pytest.raises(TransientError):
        await handler.handle(first)
    ledger = ClaimLedger(ledger_engine)
    assert await ledger.count(OutboxMessage, OutboxMessage.sent_at.is_(None)) == 1
    await handler.handle(first)  # the runtime's retry: the effects are there, the outbox goes out
    assert await ledger.count(OutboxMessage, OutboxMessage.sent_at.is_(None)) == 0
    ids = [headers[HEADERS.MESSAGE_ID] for _, headers, _ in publisher.sent]
    assert len(ids) == 1
    relay = OutboxRelay(ledger, publisher)
    assert await relay.flush() == 0


async def test_partner_answers_go_on_the_claim_timeline_once(
    running: tuple[LedgerHandler, RecordingPublisher], sample_bytes: bytes, ledger_engine: Any
) -> None:
    handler, publisher = running
    sub = submission("66729659983")
    await handler.handle(
        inbound(
            TOPICS.claim_submissions, sub.message_id, sub.model_dump_json(by_alias=True).encode()
        )
    )
    for message in sample_messages(sample_bytes):
        await handler.handle(message)
    command = next(
        json.loads(value)
        for topic, _, value in publisher.sent
        if topic == TOPICS.status_check_requests
    )
    now = datetime.now(UTC)
    answer = StatusCheckResult(
        command_id=command["command_id"],
        claim_id=command["claim"]["claim_id"],
        submission_number="66729659983",
        outcome="answered",
        category_code="R4",
        category_meaning="request for additional information: documentation",
        needs_documents=True,
        answered_at=now,
    )
    filed = AttachmentResult(
        command_id="from-the-status-check-handler",
        claim_id=command["claim"]["claim_id"],
        submission_number="66729659983",
        outcome="accepted",
        attachment_control_number="ACN-1",
        status="ACCEPTED",
        finished_at=now,
    )
    stranger = filed.model_copy(update={"claim_id": "999", "submission_number": "NOT-OURS"})
    for topic, mid, model in (
        (TOPICS.status_check_results, "answer-1", answer),
        (TOPICS.status_check_results, "answer-1", answer),
        (TOPICS.attachment_results, "filed-1", filed),
        (TOPICS.attachment_results, "stranger-1", stranger),
    ):
        await handler.handle(inbound(topic, mid, model.model_dump_json(by_alias=True).encode()))
    ledger = ClaimLedger(ledger_engine)
    claim = await ledger.find_claim("66729659983")
    assert claim is not None
    events, _, _, _ = await ledger.history(claim.id)
    summaries = [e.summary for e in events if e.kind in ("status-check", "attachment")]
    assert summaries == [
        "claim status check answered: R4 request for additional information: documentation; "
        "the payer asks for documents",
        "attachment accepted: control number ACN-1, status ACCEPTED",
    ]


async def test_a_status_answer_asking_for_documents_gets_the_attachment_the_rules_decide(
    running: tuple[LedgerHandler, RecordingPublisher], sample_bytes: bytes, ledger_engine: Any
) -> None:
    """R4 -> one attachment, with the rules file's LOINC codes, one row, one origin, one event."""
    handler, publisher = running
    sub = submission("66729659983")
    await handler.handle(
        inbound(
            TOPICS.claim_submissions, sub.message_id, sub.model_dump_json(by_alias=True).encode()
        )
    )
    for message in sample_messages(sample_bytes):
        await handler.handle(message)
    [asked] = [
        StatusCheckRequest.model_validate_json(value)
        for topic, _, value in publisher.sent
        if topic == TOPICS.status_check_requests
    ]
    answer = StatusCheckResult(
        command_id=asked.command_id,
        claim_id=asked.claim.claim_id,
        submission_number="66729659983",
        outcome="answered",
        category_code="R4",
        status_code="21",
        needs_documents=True,
        answered_at=datetime.now(UTC),
    )
    value = answer.model_dump_json(by_alias=True).encode()
    # A redelivery (same message id) and a re-publication under another id decide nothing new.
    for mid in ("answer-1", "answer-1", "answer-1-again"):
        message = InboundMessage(
            topic=TOPICS.status_check_results,
            partition=0,
            offset=0,
            key=None,
            value=value,
            headers={HEADERS.TEST: b"true"},
            message_id=mid,
        )
        await handler.handle(message)

    [rule] = [r for r in load_rules().rules if r.name == "status-answer-requests-documentation"]
    attachments = [
        AttachmentRequest.model_validate_json(value)
        for topic, _, value in publisher.sent
        if topic == TOPICS.attachment_requests
    ]
    assert [(a.rule, a.loinc_codes) for a in attachments] == [(rule.name, rule.loinc)]
    [attachment] = attachments
    assert attachment.trigger_message_id == asked.command_id  # its origin: the status check
    assert (attachment.test, attachment.solicited) == (True, False)
    assert attachment.claim.payer_control_number == asked.claim.payer_control_number
    ledger = ClaimLedger(ledger_engine)
    claim = await ledger.find_claim("66729659983")
    assert claim is not None
    events, _, follow_ups, _ = await ledger.history(claim.id)
    rows = [f for f in follow_ups if f.action == "attachment"]
    assert [(r.command_id, r.rule, r.trigger_message_id) for r in rows] == [
        (attachment.command_id, rule.name, asked.command_id)
    ]
    decided = [e.summary for e in events if e.kind == "follow-up" and "attachment" in e.summary]
    assert decided == [
        f"attachment requested (LOINC {', '.join(rule.loinc)}): {rule.reason} [rule {rule.name}]"
    ]


async def _with_retries(handler: LedgerHandler, message: InboundMessage) -> None:
    """What the runtime does with a TransientError: try again."""
    for _ in range(20):
        try:
            await handler.handle(message)
            return
        except TransientError:
            await asyncio.sleep(0.05)
    raise AssertionError("never handled")


async def test_claims_of_one_batch_handled_concurrently_check_the_transaction_once(
    running: tuple[LedgerHandler, RecordingPublisher], ledger_engine: Any
) -> None:
    handler, _ = running
    numbers = [f"CONC-{i}" for i in range(8)]
    for number in numbers:
        sub = submission(number)
        await handler.handle(
            inbound(
                TOPICS.claim_submissions,
                sub.message_id,
                sub.model_dump_json(by_alias=True).encode(),
            )
        )
    payload = batch("concurrent", *(claim(n) for n in numbers), total="999.00")
    messages = [
        inbound(TOPICS.claim_payments, m.message_id, m.value)
        for m in split_payment_batch(PaymentBatch.model_validate(payload), log_id="concurrent")
    ]
    await asyncio.gather(*(_with_retries(handler, m) for m in messages))
    ledger = ClaimLedger(ledger_engine)
    assert await ledger.count(AppliedPayment) == len(numbers)
    assert await ledger.count(TransactionResult) == 1
    assert await ledger.count(FollowUp) == len(numbers)  # transaction-total-differs, once each
