"""The ledger handler on the real broker, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from claimflow.devstack.kafka import KafkaBroker
from handlers.ledger.cli import import_claims
from handlers.ledger.database import create_engine
from handlers.ledger.handler import build_ledger_handler
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import AppliedPayment, OutboxMessage, PaymentReceipt
from handlers.ledger.timeline import render_timeline
from handlers.runtime import running_handler
from router.messages import split_payment_batch
from router.redox import PaymentBatch
from router.topics import HEADERS
from tests.ledger.kafka_support import (
    create_ledger_topics,
    eventually,
    ledger_settings,
    private_lane,
    produce,
    read_all,
)

pytestmark = pytest.mark.kafka

SAMPLE_CLAIMS = Path(__file__).parent / "fixtures" / "redox-sample-claims.csv"


def _values(records: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records]


async def test_sample_then_import_ends_matched_reconciled_with_commands_on_their_topics(
    kafka_broker: KafkaBroker, ledger_url: str, sample_bytes: bytes
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topics = private_lane()
    await create_ledger_topics(bootstrap, topics)
    settings = ledger_settings(bootstrap, topics, ledger_url)
    batch = PaymentBatch.model_validate_json(sample_bytes)
    messages = split_payment_batch(batch, log_id=batch.meta.log_id or "log")
    engine = create_engine(settings.database)
    ledger = ClaimLedger(engine)
    try:
        async with running_handler(settings, build_ledger_handler):
            await produce(bootstrap, topics.claim_payments, messages)
            await eventually(lambda: _count_is(ledger, PaymentReceipt, 2))
            assert await import_claims(settings, SAMPLE_CLAIMS, echo=lambda _: None) == 0
            await eventually(lambda: _all_sent(ledger))

        results = _values(await read_all(bootstrap, topics.reconciliations))
        by_outcome = sorted(r.get("outcome", "transaction") for r in results)
        # Both parked payments are matched again when the first claim arrives: its own is
        # posted; the other (same patient, same charge) is suggested for review until its
        # claim, the next row of the import, arrives and it is posted (rule 6).
        assert by_outcome == [
            "needs_review",
            "paid_in_full",
            "paid_in_full",
            "transaction",
            "unmatched",
            "unmatched",
        ]
        transaction = next(r for r in results if r["schema"].startswith("claimflow.transaction"))
        assert transaction["balanced"] is False
        assert transaction["differences"][0]["difference"] == "-440.00"
        commands = await read_all(bootstrap, topics.status_check_requests)
        assert sorted(json.loads(c.value)["claim"]["submission_number"] for c in commands) == [
            "66729659983",
            "774466586",
        ]
        for record in commands:
            headers = dict(record.headers)
            assert headers[HEADERS.MESSAGE_ID].decode() == json.loads(record.value)["command_id"]
        assert await read_all(bootstrap, topics.attachment_requests) == []

        claim = await ledger.find_claim("66729659983")
        assert claim is not None
        events, _, follow_ups, _ = await ledger.history(claim.id)
        shown = render_timeline(claim, events, follow_ups)
        assert "paid in full" in shown
        assert "paid 65.00 of 100.00" in shown
        assert "claim status check requested" in shown
        assert "Bixby" not in shown
    finally:
        await engine.dispose()


async def test_a_poison_message_is_dead_lettered_and_the_next_one_is_handled(
    kafka_broker: KafkaBroker, ledger_url: str, sample_bytes: bytes
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topics = private_lane()
    await create_ledger_topics(bootstrap, topics)
    settings = ledger_settings(bootstrap, topics, ledger_url)
    batch = PaymentBatch.model_validate_json(sample_bytes)
    good = split_payment_batch(batch, log_id="poison-neighbour")
    poison = good[0].__class__(
        key=good[0].key,
        message_id="poison-1",
        value=b'{"schema": "claimflow.claim-payment.v1"}',
        schema=good[0].schema,
    )
    engine = create_engine(settings.database)
    ledger = ClaimLedger(engine)
    dead_letter = topics.handler_dead_letter("ledger")
    try:
        async with running_handler(settings, build_ledger_handler):
            await produce(bootstrap, topics.claim_payments, [poison, *good])
            await eventually(lambda: _count_is(ledger, PaymentReceipt, 2))
            await eventually(lambda: _topic_has(bootstrap, dead_letter, 1))
        dead = await read_all(bootstrap, dead_letter)
        headers = dict(dead[0].headers)
        assert headers[HEADERS.MESSAGE_ID] == b"poison-1"
        assert headers[HEADERS.ERROR].startswith(b"PoisonMessageError")
    finally:
        await engine.dispose()


async def test_a_payment_dead_lettered_during_a_database_outage_is_replayed_once(
    kafka_broker: KafkaBroker, ledger_url: str, sample_bytes: bytes
) -> None:
    from handlers.runtime import replay_dead_letters

    bootstrap = kafka_broker.bootstrap_servers
    topics = private_lane()
    await create_ledger_topics(bootstrap, topics)
    settings = ledger_settings(bootstrap, topics, ledger_url)
    batch = PaymentBatch.model_validate_json(sample_bytes)
    messages = split_payment_batch(batch, log_id="outage")
    engine = create_engine(settings.database)
    ledger = ClaimLedger(engine)
    dead_letter = topics.handler_dead_letter("ledger")
    try:
        async with running_handler(settings, build_ledger_handler):
            # The outage: the receipts table refuses every write.
            await _block_receipts(engine, block=True)
            await produce(bootstrap, topics.claim_payments, messages)
            await eventually(lambda: _topic_has(bootstrap, dead_letter, 2), within=90)
            assert await ledger.count(PaymentReceipt) == 0
            await _block_receipts(engine, block=False)
            summary = await replay_dead_letters(
                settings.kafka, topics, "ledger", dry_run=False, limit=None, echo=lambda _: None
            )
            assert summary.replayed == 2
            await eventually(lambda: _count_is(ledger, PaymentReceipt, 2))
            await eventually(lambda: _all_sent(ledger))
        assert await ledger.count(PaymentReceipt) == 2
        assert await ledger.count(AppliedPayment) == 0  # the claims are not in the ledger yet
    finally:
        await engine.dispose()


async def _block_receipts(engine: Any, *, block: bool) -> None:
    async with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            if block:
                await connection.execute(
                    text(
                        "CREATE TRIGGER block_receipts BEFORE INSERT ON payment_receipts "
                        "BEGIN SELECT RAISE(ABORT, 'outage'); END"
                    )
                )
            else:
                await connection.execute(text("DROP TRIGGER block_receipts"))
            return
        if block:
            await connection.execute(
                text(
                    "CREATE FUNCTION block_receipts() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'outage'; END $$"
                )
            )
            await connection.execute(
                text(
                    "CREATE TRIGGER block_receipts BEFORE INSERT ON payment_receipts "
                    "FOR EACH ROW EXECUTE FUNCTION block_receipts()"
                )
            )
        else:
            await connection.execute(text("DROP TRIGGER block_receipts ON payment_receipts"))
            await connection.execute(text("DROP FUNCTION block_receipts()"))


async def _count_is(ledger: ClaimLedger, table: type[Any], n: int) -> bool:
    return await ledger.count(table) == n


async def _all_sent(ledger: ClaimLedger) -> bool:
    total = await ledger.count(OutboxMessage)
    return total > 0 and await ledger.count(OutboxMessage, OutboxMessage.sent_at.is_(None)) == 0


async def _topic_has(bootstrap: str, topic: str, n: int) -> bool:
    return len(await read_all(bootstrap, topic)) >= n
