"""A person's follow-up decisions: a status check now, and releasing an unknown attachment."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.cli import main
from claimflow.settings import DatabaseSettings
from handlers.followups.attachment.store import AttachmentStore
from handlers.ledger.database import create_engine, upgrade
from handlers.ledger.followup_rules import load_rules
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import AccessRecord, FollowUp, OutboxMessage
from router.followups import AttachmentRequest, StatusCheckRequest
from worklist.audit import Access, AccessLog
from worklist.demo import seed_demo_ledger
from worklist.errors import AttachmentChangedError, InvalidDecisionError, StaleDecisionError
from worklist.followup_actions import (
    PERSON_RULE,
    StatusCheckRequested,
    mark_attachment,
    request_status_check,
)
from worklist.followup_state import upgrade_partner_tables
from worklist.messages import WorklistTopics
from worklist.people import Person
from worklist.queues import QueueKind
from worklist.read_model import ReadModel

POSTER = Person("sub-poster-1", "Pat Poster", frozenset({"poster"}))
TOPICS = WorklistTopics()


def _access(action: str, target: str, claim_id: int) -> Access:
    return Access(POSTER.subject, action, target, "10.0.0.7", "r-1", (claim_id,))


async def _ask(
    engine: AsyncEngine, claim_id: int, version: str, why: str = "Denied; ask why"
) -> StatusCheckRequested:
    ledger = ClaimLedger(engine)
    return await request_status_check(
        ledger,
        Poster(rules=load_rules()),
        AccessLog(ledger, TOPICS),
        TOPICS,
        claim_id=claim_id,
        seen_version=version,
        why=why,
        person=POSTER,
        access=_access("request_status_check", f"claim:{claim_id}", claim_id),
    )


async def _mark(
    engine: AsyncEngine,
    acn: str,
    version: str,
    *,
    sent: bool,
    request_id: int | None = None,
    claim_id: int = 0,
) -> str:
    ledger = ClaimLedger(engine)
    return await mark_attachment(
        ledger,
        AccessLog(ledger, TOPICS),
        TOPICS,
        control_number=acn,
        seen_version=version,
        sent=sent,
        availity_request_id=request_id,
        why="Checked the Availity portal",
        person=POSTER,
        access=_access("mark_attachment", f"attachment:{acn}", claim_id),
        deadline_seconds=900,
    )


async def _outbox(engine: AsyncEngine) -> list[OutboxMessage]:
    async with ClaimLedger(engine).unit() as unit:
        return list(await unit.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_a_status_check_now_publishes_the_ledger_s_command_on_the_timeline_and_audited(
    worklist_engine: AsyncEngine,
) -> None:
    ids = await seed_demo_ledger(worklist_engine)
    claim_id = ids["denied"]
    seen = await ReadModel(worklist_engine).claim(claim_id)
    assert seen is not None
    asked = await _ask(worklist_engine, claim_id, seen.version)
    assert asked.new
    outbox = await _outbox(worklist_engine)
    [command] = [m for m in outbox if m.topic == "claimflow.status-check-requests.v1"]
    request = StatusCheckRequest.model_validate_json(command.value)
    assert request.command_id == asked.command_id == command.message_id
    assert request.rule == PERSON_RULE
    assert request.claim.claim_id == str(claim_id)
    assert request.claim.payer_control_number == f"PCN{7000 + claim_id}"
    [decision] = [m for m in outbox if m.topic == "claimflow.worklist.decisions.v1"]
    body = json.loads(decision.value)
    assert body["schema"] == "claimflow.worklist-status-check-request.v1"
    assert (body["command_id"], body["decided_by"], body["why"]) == (
        asked.command_id,
        "sub-poster-1",
        "Denied; ask why",
    )
    after = await ReadModel(worklist_engine).claim(claim_id)
    assert after is not None
    assert after.timeline[-1].summary == (
        f"claim status check requested now by Pat Poster: Denied; ask why [rule {PERSON_RULE}]"
    )
    assert any(f.command_id == asked.command_id for f in after.follow_ups)
    async with ClaimLedger(worklist_engine).unit() as unit:
        records = list(await unit.session.scalars(select(AccessRecord)))
    assert [(r.action, r.claim_id, r.outcome) for r in records] == [
        ("request_status_check", claim_id, "allowed")
    ]


async def test_asking_twice_from_the_same_page_publishes_one_status_check(
    worklist_engine: AsyncEngine,
) -> None:
    ids = await seed_demo_ledger(worklist_engine)
    claim_id = ids["denied"]
    seen = await ReadModel(worklist_engine).claim(claim_id)
    assert seen is not None
    both = await asyncio.gather(
        _ask(worklist_engine, claim_id, seen.version),
        _ask(worklist_engine, claim_id, seen.version),
    )
    assert sorted(asked.new for asked in both) == [False, True]
    assert both[0].command_id == both[1].command_id
    again = await _ask(worklist_engine, claim_id, seen.version)
    assert not again.new
    outbox = await _outbox(worklist_engine)
    assert sum(m.topic == "claimflow.status-check-requests.v1" for m in outbox) == 1
    async with ClaimLedger(worklist_engine).unit() as unit:
        rows = list(
            await unit.session.scalars(select(FollowUp).where(FollowUp.rule == PERSON_RULE))
        )
    assert len(rows) == 1


async def test_a_status_check_on_a_claim_that_changed_is_refused_with_its_new_version(
    worklist_engine: AsyncEngine,
) -> None:
    ids = await seed_demo_ledger(worklist_engine)
    claim_id = ids["denied"]
    seen = await ReadModel(worklist_engine).claim(claim_id)
    assert seen is not None
    async with ClaimLedger(worklist_engine).unit() as unit:
        unit.event(claim_id, "posted", "Corrected payment posted")
    with pytest.raises(StaleDecisionError) as refused:
        await _ask(worklist_engine, claim_id, seen.version)
    now = await ReadModel(worklist_engine).claim(claim_id)
    assert now is not None
    assert refused.value.current_version == now.version
    assert "status check request was not saved" in refused.value.message
    with pytest.raises(InvalidDecisionError) as empty:
        await _ask(worklist_engine, claim_id, now.version, why="  ")
    assert empty.value.field == "why"
    assert not any(
        m.topic == "claimflow.status-check-requests.v1" for m in await _outbox(worklist_engine)
    )


async def _unknown(engine: AsyncEngine, claim_id: int) -> tuple[str, str]:
    view = await ReadModel(engine).claim(claim_id)
    assert view is not None
    [answer] = [a for a in view.partners if a.outcome_unknown]
    return answer.key, answer.version


async def test_marking_an_attachment_not_sent_hands_it_back_to_its_handler_to_send_again(
    worklist_engine: AsyncEngine,
) -> None:
    ids = await seed_demo_ledger(worklist_engine)
    claim_id = ids["attachment_unknown"]
    acn, version = await _unknown(worklist_engine, claim_id)
    decision_id = await _mark(worklist_engine, acn, version, sent=False, claim_id=claim_id)
    store = AttachmentStore(worklist_engine)
    row = await store.get(acn)
    assert row is not None
    assert (row.state, row.result, row.availity_request_id) == ("intent_recorded", None, None)
    assert row.command is not None
    assert isinstance(row.command, AttachmentRequest)
    assert row.command.claim.claim_id == str(claim_id)
    assert sorted(row.command.loinc_codes) == ["11506-3", "18842-5"]
    [lease] = await store.claim_due(lane="production", limit=10, lease_seconds=30)
    assert lease.key == acn  # the handler's own poller takes it up at once
    model = ReadModel(worklist_engine)
    assert (await model.counts())[QueueKind.ATTACHMENT_UNKNOWN] == 1
    view = await model.claim(claim_id)
    assert view is not None
    assert view.timeline[-1].summary == (
        f"attachment {acn} marked not sent; it is sent again — by Pat Poster: "
        "Checked the Availity portal"
    )
    outbox = await _outbox(worklist_engine)
    decision = next(m for m in outbox if m.message_id == decision_id)
    body = json.loads(decision.value)
    assert decision.topic == "claimflow.worklist.decisions.v1"
    assert body["schema"] == "claimflow.worklist-attachment-marked.v1"
    assert (body["marked"], body["state_before"], body["state_after"]) == (
        "not_sent",
        "needs_review",
        "intent_recorded",
    )
    async with ClaimLedger(worklist_engine).unit() as unit:
        records = list(await unit.session.scalars(select(AccessRecord)))
    assert [(r.action, r.target, r.outcome) for r in records] == [
        ("mark_attachment", f"attachment:{acn}", "allowed")
    ]


async def test_marking_an_attachment_sent_needs_availity_s_id_and_then_its_status_is_polled(
    worklist_engine: AsyncEngine,
) -> None:
    ids = await seed_demo_ledger(worklist_engine)
    claim_id = ids["attachment_unknown"]
    acn, version = await _unknown(worklist_engine, claim_id)
    with pytest.raises(InvalidDecisionError) as no_id:
        await _mark(worklist_engine, acn, version, sent=True, claim_id=claim_id)
    assert no_id.value.field == "availity_request_id"
    await _mark(worklist_engine, acn, version, sent=True, request_id=880123, claim_id=claim_id)
    row = await AttachmentStore(worklist_engine).get(acn)
    assert row is not None
    assert (row.state, row.availity_request_id, row.result) == ("sent", 880123, None)
    assert row.due_at is not None
    assert row.command is not None


async def test_two_people_marking_the_same_attachment_one_wins_the_other_is_told(
    worklist_engine: AsyncEngine,
) -> None:
    ids = await seed_demo_ledger(worklist_engine)
    claim_id = ids["attachment_unknown"]
    acn, version = await _unknown(worklist_engine, claim_id)
    results = await asyncio.gather(
        _mark(worklist_engine, acn, version, sent=False, claim_id=claim_id),
        _mark(worklist_engine, acn, version, sent=True, request_id=5, claim_id=claim_id),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, str)]
    told = [r for r in results if isinstance(r, AttachmentChangedError)]
    assert (len(won), len(told)) == (1, 1), results
    assert "changed after you opened it" in told[0].message
    with pytest.raises(AttachmentChangedError):  # released already: a stale page cannot again
        await _mark(worklist_engine, acn, version, sent=False, claim_id=claim_id)
    decisions = [
        m for m in await _outbox(worklist_engine) if m.topic == "claimflow.worklist.decisions.v1"
    ]
    assert len(decisions) == 1


async def _seed_demo(url: str) -> dict[str, int]:
    engine = create_engine(DatabaseSettings(url=SecretStr(url)))
    try:
        await upgrade(engine)
        await upgrade_partner_tables(engine)
        return await seed_demo_ledger(engine)
    finally:
        await engine.dispose()


def test_the_same_actions_from_the_command_line_answer_in_one_line(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAIMFLOW_DATABASE__URL", sqlite_url)
    ids = asyncio.run(_seed_demo(sqlite_url))
    denied = str(ids["denied"])
    assert main(["review", "note", denied, "--note", "Appeal sent", "--by", "ops"]) == 0
    assert f"note added to claim {denied}" in capsys.readouterr().out
    assert main(["review", "status-check", denied, "--why", "Ask why", "--by", "ops"]) == 0
    assert "requested for claim" in capsys.readouterr().out
    assert main(["review", "status-check", denied, "--why", "x", "--version", "1.1"]) == 1
    stale = capsys.readouterr().err
    assert stale.startswith("claimflow: This claim changed after you opened it")
    assert len(stale.strip().splitlines()) == 1
    assert main(["review", "attachments"]) == 0
    listed = capsys.readouterr().out.splitlines()[1:]
    assert len(listed) == 2
    acn, _claim, _number, _since, version = listed[0].split("\t")
    mark = ["review", "mark-attachment", acn, "--why", "Checked Availity", "--by", "ops"]
    assert main([*mark, "--as", "sent"]) == 1
    assert capsys.readouterr().err.strip() == (
        "claimflow: availity_request_id: give the request id Availity shows for this attachment"
    )
    assert main([*mark, "--as", "not-sent", "--version", version]) == 0
    assert f"attachment {acn} marked not sent; it is sent again" in capsys.readouterr().out
    assert main([*mark, "--as", "not-sent", "--version", version]) == 1
    assert "changed after you opened it" in capsys.readouterr().err
    assert main(["review", "mark-attachment", "NOPE", "--as", "not-sent", "--why", "w"]) == 1
    assert capsys.readouterr().err.strip() == (
        "claimflow: attachment_control_number: no attachment 'NOPE'"
    )
