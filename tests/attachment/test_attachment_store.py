"""The attachment rows that decide whether a POST may be made, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from followup_support import attachment
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.settings import DatabaseSettings
from handlers.attachment.store import AttachmentStore
from handlers.attachment.submission import attachment_control_number
from handlers.followup_state import upgrade
from handlers.ledger.database import create_engine
from router.followups import AttachmentResult


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[AttachmentStore]:
    engine: AsyncEngine = create_engine(DatabaseSettings(url=SecretStr(database_url)))
    await upgrade(engine)
    yield AttachmentStore(engine)
    await engine.dispose()


async def test_the_intent_is_recorded_once_and_read_back_on_every_redelivery(
    store: AttachmentStore,
) -> None:
    command = attachment()
    acn = attachment_control_number(command)

    first = await store.record_intent(command, control_number=acn, request_number=acn)
    again = await store.record_intent(command, control_number=acn, request_number=acn)

    assert (first.state, first.attempts) == ("intent_recorded", 1)
    assert (again.state, again.attempts) == ("intent_recorded", 2)


async def test_only_one_of_two_concurrent_attempts_may_send(store: AttachmentStore) -> None:
    command = attachment()
    acn = attachment_control_number(command)
    await store.record_intent(command, control_number=acn, request_number=acn)

    claims = await asyncio.gather(store.claim_send(acn), store.claim_send(acn))

    assert sorted(claims) == [False, True]
    state = await store.get(acn)
    assert state is not None
    assert state.state == "sending"


async def test_a_send_that_surely_failed_is_released_and_a_sent_one_keeps_its_id(
    store: AttachmentStore,
) -> None:
    command = attachment()
    acn = attachment_control_number(command)
    await store.record_intent(command, control_number=acn, request_number=acn)
    assert await store.claim_send(acn)
    await store.release(acn)
    assert await store.claim_send(acn), "a released row may be sent again"
    await store.sent(acn, 3325491)

    state = await store.get(acn)
    assert state is not None
    assert (state.state, state.availity_request_id) == ("sent", 3325491)
    assert not await store.claim_send(acn)


async def test_a_final_row_keeps_its_result_and_stops_counting_attempts(
    store: AttachmentStore,
) -> None:
    command = attachment()
    acn = attachment_control_number(command)
    await store.record_intent(command, control_number=acn, request_number=acn)
    result = AttachmentResult(
        command_id=command.command_id,
        claim_id=command.claim.claim_id,
        submission_number=command.claim.submission_number,
        outcome="pending",
        attachment_control_number=acn,
        status="needs_review",
        finished_at=datetime.now(UTC),
    )
    await store.finish(acn, "needs_review", result)

    state = await store.record_intent(command, control_number=acn, request_number=acn)
    assert (state.state, state.result, state.attempts) == ("needs_review", result, 1)
