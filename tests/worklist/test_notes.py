"""Adding a note: on the timeline, on the decisions topic, audited; a stale one is refused."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import AccessRecord, OutboxMessage, TimelineEvent
from worklist.audit import Access, AccessLog
from worklist.demo import seed_demo_ledger
from worklist.errors import ClaimNotFoundError, InvalidDecisionError, StaleDecisionError
from worklist.messages import WorklistTopics
from worklist.notes import add_note
from worklist.people import Person
from worklist.read_model import ReadModel

POSTER = Person("sub-poster-1", "Pat Poster", frozenset({"poster"}))
TOPICS = WorklistTopics()


def _access(claim_id: int) -> Access:
    return Access(
        actor=POSTER.subject,
        action="add_note",
        target=f"claim:{claim_id}",
        client_address="10.0.0.7",
        request_id="r-1",
        claim_ids=(claim_id,),
    )


async def _note(engine: AsyncEngine, claim_id: int, version: str, text: str) -> str:
    ledger = ClaimLedger(engine)
    return await add_note(
        ledger,
        AccessLog(ledger, TOPICS),
        TOPICS,
        claim_id=claim_id,
        seen_version=version,
        note=text,
        person=POSTER,
        access=_access(claim_id),
    )


async def test_a_note_goes_on_the_timeline_the_decisions_topic_and_the_access_log(
    worklist_engine: AsyncEngine,
) -> None:
    ids = await seed_demo_ledger(worklist_engine)
    claim_id = ids["denied"]
    before = await ReadModel(worklist_engine).claim(claim_id)
    assert before is not None
    decision_id = await _note(worklist_engine, claim_id, before.version, "Appeal: records sent")
    after = await ReadModel(worklist_engine).claim(claim_id)
    assert after is not None
    assert after.version != before.version
    assert after.timeline[-1].kind == "note"
    assert after.timeline[-1].summary == "Note by Pat Poster: Appeal: records sent"
    async with ClaimLedger(worklist_engine).unit() as unit:
        outbox = list(await unit.session.scalars(select(OutboxMessage)))
        records = list(await unit.session.scalars(select(AccessRecord)))
    decision = next(m for m in outbox if m.message_id == decision_id)
    assert decision.topic == "claimflow.worklist.decisions.v1"
    body = json.loads(decision.value)
    assert body["schema"] == "claimflow.worklist-note.v1"
    assert body["decided_by"] == "sub-poster-1"
    assert body["version_seen"] == before.version
    assert [(r.action, r.claim_id, r.actor, r.outcome) for r in records] == [
        ("add_note", claim_id, "sub-poster-1", "allowed")
    ]
    assert {m.topic for m in outbox} == {
        "claimflow.worklist.decisions.v1",
        "claimflow.worklist.access.v1",
    }


async def test_a_note_on_a_version_that_moved_is_refused_and_names_the_new_one(
    worklist_engine: AsyncEngine,
) -> None:
    ids = await seed_demo_ledger(worklist_engine)
    claim_id = ids["denied"]
    seen = await ReadModel(worklist_engine).claim(claim_id)
    assert seen is not None
    async with ClaimLedger(worklist_engine).unit() as unit:  # the ledger posts meanwhile
        unit.event(claim_id, "posted", "Corrected payment posted")
    with pytest.raises(StaleDecisionError) as refused:
        await _note(worklist_engine, claim_id, seen.version, "Write off")
    now = await ReadModel(worklist_engine).claim(claim_id)
    assert now is not None
    assert refused.value.current_version == now.version
    assert "changed after you opened it" in refused.value.message
    async with ClaimLedger(worklist_engine).unit() as unit:
        notes = await unit.session.scalars(
            select(TimelineEvent).where(TimelineEvent.kind == "note")
        )
        assert list(notes) == []


async def test_two_people_noting_the_same_version_one_wins_the_other_is_told(
    worklist_engine: AsyncEngine,
) -> None:
    ids = await seed_demo_ledger(worklist_engine)
    claim_id = ids["overpaid"]
    seen = await ReadModel(worklist_engine).claim(claim_id)
    assert seen is not None
    results = await asyncio.gather(
        _note(worklist_engine, claim_id, seen.version, "Refund the credit"),
        _note(worklist_engine, claim_id, seen.version, "Apply the credit to the next claim"),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, str)]
    told = [r for r in results if isinstance(r, StaleDecisionError)]
    assert len(won) == 1, results
    assert len(told) == 1, results
    view = await ReadModel(worklist_engine).claim(claim_id)
    assert view is not None
    assert sum(e.kind == "note" for e in view.timeline) == 1


async def test_an_empty_or_overlong_note_is_refused_naming_the_field(
    worklist_engine: AsyncEngine,
) -> None:
    ids = await seed_demo_ledger(worklist_engine)
    with pytest.raises(InvalidDecisionError) as empty:
        await _note(worklist_engine, ids["denied"], "x", "   ")
    assert empty.value.field == "note"
    with pytest.raises(InvalidDecisionError, match="at most 1000"):
        await _note(worklist_engine, ids["denied"], "x", "a" * 1001)
    with pytest.raises(ClaimNotFoundError):
        await _note(worklist_engine, 999_999, "x", "Anything")
