"""The attachment rows that decide whether a POST may be made, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from followup_support import attachment
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.settings import DatabaseSettings
from handlers.followups.attachment.store import AttachmentStore
from handlers.followups.attachment.submission import attachment_control_number
from handlers.followups.state import upgrade
from handlers.followups.state.timers import Lease
from handlers.ledger.database import create_engine
from router.followups import AttachmentResult


@pytest.fixture
def lane() -> str:
    """A lane of this test's own: PostgreSQL's database is shared by the session's tests."""
    return f"t{uuid.uuid4().hex[:10]}"


async def lease(store: AttachmentStore, lane: str, *, seconds: float = 60) -> Lease:
    [taken] = await store.claim_due(lane=lane, limit=5, lease_seconds=seconds)
    return taken


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[AttachmentStore]:
    engine: AsyncEngine = create_engine(DatabaseSettings(url=SecretStr(database_url)))
    await upgrade(engine)
    yield AttachmentStore(engine)
    await engine.dispose()


async def test_the_intent_is_recorded_once_and_read_back_on_every_redelivery(
    store: AttachmentStore, lane: str
) -> None:
    command = attachment()
    acn = attachment_control_number(command)

    first = await store.record_intent(command, control_number=acn, request_number=acn, lane=lane)
    again = await store.record_intent(command, control_number=acn, request_number=acn, lane=lane)

    assert (first.state, first.attempts) == ("intent_recorded", 1)
    assert (again.state, again.attempts) == ("intent_recorded", 2)
    assert first.command == command, "the timer keeps what it must send"


async def test_only_the_step_holding_the_lease_may_send(store: AttachmentStore, lane: str) -> None:
    command = attachment()
    acn = attachment_control_number(command)
    await store.record_intent(command, control_number=acn, request_number=acn, lane=lane)
    stale = await lease(store, lane, seconds=0)  # a poller whose lease ran out
    current = await lease(store, lane)

    claims = await asyncio.gather(store.claim_send(stale), store.claim_send(current))

    assert claims == [False, True]
    state = await store.get(acn)
    assert state is not None
    assert state.state == "sending"


async def test_a_send_that_surely_failed_is_released_and_a_sent_one_keeps_its_id(
    store: AttachmentStore, lane: str
) -> None:
    command = attachment()
    acn = attachment_control_number(command)
    await store.record_intent(command, control_number=acn, request_number=acn, lane=lane)
    taken = await lease(store, lane)
    assert await store.claim_send(taken)
    assert await store.release(taken, after=0, error="AvailityRateLimitedError (429)")
    taken = await lease(store, lane)
    assert await store.claim_send(taken), "a released row may be sent again"
    assert await store.sent(taken, 3325491, poll_after=60)

    state = await store.get(acn)
    assert state is not None
    assert (state.state, state.availity_request_id, state.failed_calls) == ("sent", 3325491, 1)
    assert not await store.claim_send(taken)


async def test_a_final_row_keeps_its_result_and_stops_counting_attempts(
    store: AttachmentStore, lane: str
) -> None:
    command = attachment()
    acn = attachment_control_number(command)
    await store.record_intent(command, control_number=acn, request_number=acn, lane=lane)
    result = AttachmentResult(
        command_id=command.command_id,
        claim_id=command.claim.claim_id,
        submission_number=command.claim.submission_number,
        outcome="pending",
        attachment_control_number=acn,
        status="needs_review",
        finished_at=datetime.now(UTC),
    )
    assert await store.finish(await lease(store, lane), "needs_review", result)
    await store.published(acn)

    state = await store.record_intent(command, control_number=acn, request_number=acn, lane=lane)
    assert (state.state, state.result, state.attempts) == ("needs_review", result, 1)
    assert (state.command, state.due_at) == (None, None), "published: no timer, no PHI kept"
