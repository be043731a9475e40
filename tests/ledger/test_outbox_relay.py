"""The outbox relay: a unit's messages published from memory after its commit, never twice by
the relay's own rounds or another process's, never ahead of an older message still unsent,
and marked sent by the next unit's own transaction."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.ledger import store
from handlers.ledger.outbox import OutboxRelay
from handlers.ledger.store import ClaimLedger, LedgerUnit
from handlers.ledger.tables import OutboxMessage
from handlers.runtime import TransientError
from tests.ledger.support import RecordingPublisher


async def _write(unit: LedgerUnit, *message_ids: str) -> None:
    for message_id in message_ids:
        await unit.enqueue(
            message_id=message_id,
            topic="claimflow.test.claim-reconciliations",
            key="CLAIM-1",
            value="{}",
            headers={"claimflow-message-id": message_id},
        )


async def _publish_failing_once(
    ledger: ClaimLedger, relay: OutboxRelay, recorder: RecordingPublisher, message_id: str
) -> None:
    """A committed unit whose one message the broker does not acknowledge."""
    async with ledger.unit(publish_outbox=True) as unit:
        await _write(unit, message_id)
    recorder.fail_next = 1
    with pytest.raises(TransientError):
        await relay.publish_written(unit.outbox_written)
    assert ledger.claimed_outbox == set()  # the failed one is the relay's again


def _process(engine: AsyncEngine) -> tuple[ClaimLedger, RecordingPublisher, OutboxRelay]:
    """One handler process's outbox on ``engine``: its ledger, its broker client, its relay."""
    ledger, recorder = ClaimLedger(engine), RecordingPublisher()
    return ledger, recorder, OutboxRelay(ledger, recorder)


async def _unsent(ledger: ClaimLedger) -> int:
    return await ledger.count(OutboxMessage, OutboxMessage.sent_at.is_(None))


async def test_a_committed_unit_is_published_once_from_memory(
    ledger_engine: AsyncEngine,
) -> None:
    ledger, recorder, relay = _process(ledger_engine)
    async with ledger.unit(publish_outbox=True) as unit:
        await _write(unit, "m-1", "m-2")
    # Committed, not yet published: the relay's own round leaves them to the unit's owner.
    assert await relay.flush() == 0
    assert await relay.publish_written(unit.outbox_written) == 2
    assert recorder.message_ids == ["m-1", "m-2"]
    assert ledger.claimed_outbox == set()
    # Published, not marked yet: no transaction of their own; the relay's round marks them.
    assert ledger.unmarked == ["m-1", "m-2"]
    assert await _unsent(ledger) == 2
    assert await relay.flush() == 0  # nothing to send again
    assert recorder.message_ids == ["m-1", "m-2"]
    assert await _unsent(ledger) == 0
    assert ledger.unmarked == []


async def test_a_rolled_back_unit_leaves_nothing_claimed(ledger_engine: AsyncEngine) -> None:
    ledger = ClaimLedger(ledger_engine)
    units: list[LedgerUnit] = []

    async def fail_after_writing() -> None:
        async with ledger.unit(publish_outbox=True) as unit:
            units.append(unit)
            await _write(unit, "m-1")
            await unit.flush()
            assert ledger.claimed_outbox == {"m-1"}
            raise RuntimeError("a rule failed")

    with pytest.raises(RuntimeError):
        await fail_after_writing()
    assert ledger.claimed_outbox == set()
    assert units[0].outbox_written == []
    assert await ledger.count(OutboxMessage) == 0


async def test_an_older_unsent_message_goes_out_first(ledger_engine: AsyncEngine) -> None:
    ledger, recorder, relay = _process(ledger_engine)
    await _publish_failing_once(ledger, relay, recorder, "old-1")
    async with ledger.unit(publish_outbox=True) as second:
        await _write(second, "new-1", "new-2")
    assert await relay.publish_written(second.outbox_written) == 3
    assert recorder.message_ids == ["old-1", "new-1", "new-2"]  # the key's order kept
    assert await _unsent(ledger) == 0
    assert ledger.claimed_outbox == set()


async def test_a_retry_with_nothing_new_still_sends_what_a_failure_left(
    ledger_engine: AsyncEngine,
) -> None:
    ledger, recorder, relay = _process(ledger_engine)
    await _publish_failing_once(ledger, relay, recorder, "m-1")
    assert await relay.publish_written([]) == 1  # a redelivery's unit writes nothing new
    assert recorder.message_ids == ["m-1"]
    assert await _unsent(ledger) == 0


async def test_the_next_unit_marks_what_was_published_and_a_rollback_keeps_the_marks_owed(
    ledger_engine: AsyncEngine,
) -> None:
    ledger, recorder, relay = _process(ledger_engine)
    async with ledger.unit(publish_outbox=True) as first:
        await _write(first, "m-1")
    assert await relay.publish_written(first.outbox_written) == 1

    async def fail_after_writing() -> None:
        async with ledger.unit(publish_outbox=True) as failing:
            await _write(failing, "m-2")
            await failing.flush()  # the marks are written in its transaction ...
            raise RuntimeError("a rule failed")

    with pytest.raises(RuntimeError):
        await fail_after_writing()
    assert ledger.unmarked == ["m-1"]  # ... and rolled back with it: still owed
    assert await _unsent(ledger) == 1
    async with ledger.unit(publish_outbox=True) as second:
        await _write(second, "m-3")
    assert ledger.unmarked == []
    assert await _unsent(ledger) == 1  # m-3, written by this unit, not yet published
    assert await relay.publish_written(second.outbox_written) == 1
    assert recorder.message_ids == ["m-1", "m-3"]


async def test_another_processs_relay_leaves_claimed_messages_until_the_claim_passes(
    ledger_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, recorder = ClaimLedger(ledger_engine), RecordingPublisher()
    # Another replica on the same database: its own ClaimLedger, relay and broker client.
    _, other_recorder, other_relay = _process(ledger_engine)
    async with ledger.unit(publish_outbox=True) as unit:
        await _write(unit, "m-1")
    # Committed, and this process stops before it publishes (or is slow to).
    assert await other_relay.flush() == 0
    assert other_recorder.message_ids == []
    monkeypatch.setattr(store, "utcnow", lambda: unit.now + store.OUTBOX_CLAIM * 2)
    assert await other_relay.flush() == 1  # the claim has passed: nothing is left waiting
    assert other_recorder.message_ids == ["m-1"]
    assert await _unsent(ledger) == 0
    assert recorder.message_ids == []


async def test_a_failed_publish_ends_its_claim_at_once(ledger_engine: AsyncEngine) -> None:
    ledger, recorder, relay = _process(ledger_engine)
    _, other_recorder, other_relay = _process(ledger_engine)
    await _publish_failing_once(ledger, relay, recorder, "m-1")
    # Not published: any relay, this process's or another's, sends it at its next round.
    assert await other_relay.flush() == 1
    assert other_recorder.message_ids == ["m-1"]
    assert await _unsent(ledger) == 0
