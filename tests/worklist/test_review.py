"""Reviewing a payment: a person's decision goes through the ledger's posting rules, is
refused when the payment changed meanwhile, and is recorded, published and audited."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.cli import main
from claimflow.settings import DatabaseSettings
from handlers.ledger.database import create_engine, upgrade
from handlers.ledger.followup_rules import load_rules
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import Claim, OutboxMessage, ParkedPayment, PaymentReceipt
from tests.ledger.corpus import batch, claim, ledger_claim
from tests.ledger.support import payment_messages
from worklist.audit import Access, AccessLog
from worklist.errors import InvalidDecisionError
from worklist.messages import WorklistTopics
from worklist.people import Person
from worklist.review import ReviewChangedError, ReviewDecision, decide, item_version

TOPICS = WorklistTopics()
PAT = Person(subject="sub-pat", name="Pat", roles=frozenset({"poster"}))
SAM = Person(subject="sub-sam", name="Sam", roles=frozenset({"poster"}))


def _access(person: Person, message_id: str) -> Access:
    return Access(person.subject, "review_decision", f"payment:{message_id}", "127.0.0.1", "r-1")


async def parked_payment(ledger: ClaimLedger, poster: Poster) -> tuple[int, ParkedPayment]:
    """Claim ACME-1 (charged 100.00) on file; a payment of 80.00 for claim WRONG-9 parked."""
    async with ledger.unit() as unit:
        acme, _ = await poster.add_claim(unit, ledger_claim("ACME-1"), source="test")
    [message] = payment_messages(batch("log-review-1", claim("WRONG-9", control="PCN-77")))
    async with ledger.unit() as unit:
        result = await poster.post_payment(unit, message)
    assert result.state in ("parked", "review")
    async with ledger.unit() as unit:
        parked = await unit.parked(message.message_id)
    assert parked is not None
    return acme.id, parked


async def test_posting_to_the_chosen_claim_goes_through_the_posting_rules_and_is_recorded(
    worklist_engine: AsyncEngine,
) -> None:
    ledger, poster = ClaimLedger(worklist_engine), Poster(rules=load_rules())
    claim_id, parked = await parked_payment(ledger, poster)
    decided = await decide(
        ledger,
        poster,
        AccessLog(ledger, TOPICS),
        TOPICS,
        message_id=parked.message_id,
        decision=ReviewDecision("post", item_version(parked), claim_id=claim_id),
        person=PAT,
        access=_access(PAT, parked.message_id),
    )
    async with ledger.unit() as unit:
        acme = await unit.session.scalar(select(Claim).where(Claim.id == claim_id))
        again = await unit.parked(parked.message_id)
        receipt = await unit.receipt(parked.message_id)
        outbox = list(await unit.session.scalars(select(OutboxMessage)))
    assert acme is not None
    assert again is not None
    assert receipt is not None
    assert (acme.paid_amount, acme.patient_responsibility) == (Decimal("80.00"), Decimal("20.00"))
    assert acme.status == "paid_in_full"
    assert again.resolved_at is not None
    assert (receipt.state, receipt.claim_id) == ("applied", claim_id)
    events, _, _, _ = await ledger.history(claim_id)
    [decision] = [e for e in events if e.kind == "review_decision"]
    assert "by Pat" in decision.summary
    assert "before: paid 0.00" in decision.summary
    assert "after: paid 80.00, patient share 20.00, adjusted 0.00, open 0.00" in decision.summary
    [published] = [m for m in outbox if m.message_id == decided]
    assert published.topic == "claimflow.worklist.decisions.v1"
    body = json.loads(published.value)
    assert (body["action"], body["decided_by"]) == ("post", "sub-pat")
    assert (body["before"]["paid"], body["after"]["paid"]) == ("0.00", "80.00")
    assert any(m.topic == "claimflow.worklist.access.v1" for m in outbox)


async def test_two_people_deciding_one_payment_one_wins_the_other_is_told(
    worklist_engine: AsyncEngine,
) -> None:
    ledger, poster = ClaimLedger(worklist_engine), Poster(rules=load_rules())
    claim_id, parked = await parked_payment(ledger, poster)
    seen = item_version(parked)
    log = AccessLog(ledger, TOPICS)
    await decide(
        ledger,
        poster,
        log,
        TOPICS,
        message_id=parked.message_id,
        decision=ReviewDecision("not_ours", seen, note="another practice's patient"),
        person=SAM,
        access=_access(SAM, parked.message_id),
    )
    with pytest.raises(ReviewChangedError) as refused:
        await decide(
            ledger,
            poster,
            log,
            TOPICS,
            message_id=parked.message_id,
            decision=ReviewDecision("post", seen, claim_id=claim_id),
            person=PAT,
            access=_access(PAT, parked.message_id),
        )
    assert refused.value.current_version != seen
    async with ledger.unit() as unit:
        acme = await unit.session.scalar(select(Claim).where(Claim.id == claim_id))
        receipt = await unit.session.scalar(
            select(PaymentReceipt).where(PaymentReceipt.message_id == parked.message_id)
        )
    assert acme is not None
    assert acme.paid_amount == Decimal("0.00")
    assert receipt is not None
    assert receipt.state == "not_ours"


async def test_a_write_off_needs_its_reason_code_and_parking_keeps_the_payment_waiting(
    worklist_engine: AsyncEngine,
) -> None:
    ledger, poster = ClaimLedger(worklist_engine), Poster(rules=load_rules())
    _, parked = await parked_payment(ledger, poster)
    log = AccessLog(ledger, TOPICS)
    with pytest.raises(InvalidDecisionError, match="reason_code"):
        await decide(
            ledger,
            poster,
            log,
            TOPICS,
            message_id=parked.message_id,
            decision=ReviewDecision("write_off", item_version(parked)),
            person=PAT,
            access=_access(PAT, parked.message_id),
        )
    await decide(
        ledger,
        poster,
        log,
        TOPICS,
        message_id=parked.message_id,
        decision=ReviewDecision("park", item_version(parked), note="asked the payer"),
        person=PAT,
        access=_access(PAT, parked.message_id),
    )
    async with ledger.unit() as unit:
        again = await unit.parked(parked.message_id)
    assert again is not None
    assert (again.resolved_at, again.note) == (None, "asked the payer")


async def _seed_parked(url: str) -> tuple[int, str]:
    engine = create_engine(DatabaseSettings(url=SecretStr(url)))
    try:
        await upgrade(engine)
        claim_id, parked = await parked_payment(ClaimLedger(engine), Poster(rules=load_rules()))
        return claim_id, parked.message_id
    finally:
        await engine.dispose()


def test_review_from_the_command_line_lists_shows_posts_and_refuses_in_one_line(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAIMFLOW_DATABASE__URL", sqlite_url)
    claim_id, message_id = asyncio.run(_seed_parked(sqlite_url))
    assert main(["review", "list"]) == 0
    listed = capsys.readouterr().out
    assert message_id in listed
    assert "Bixby" not in listed
    assert main(["review", "show", message_id]) == 0
    shown = capsys.readouterr().out
    version = next(line for line in shown.splitlines() if line.startswith("version: "))[9:]
    assert main(["review", "dismiss", message_id, "--as", "write-off", "--by", "ops"]) == 1
    assert capsys.readouterr().err.strip() == (
        "claimflow: reason_code: give the write-off's reason code"
    )
    assert main(["review", "post", message_id, "--claim", str(claim_id), "--version", version]) == 0
    assert "post recorded" in capsys.readouterr().out
    assert main(["review", "post", message_id, "--claim", str(claim_id), "--version", version]) == 1
    refused = capsys.readouterr().err
    assert refused.startswith("claimflow: This payment changed after you opened it")
    assert len(refused.strip().splitlines()) == 1
    assert main(["review", "show", "no-such-payment"]) == 1
    assert "no payment 'no-such-payment' waits for review" in capsys.readouterr().err
