"""The partner handlers' tables and the status-check rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from followup_support import status_check
from pydantic import SecretStr
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.settings import DatabaseSettings
from handlers.followups.partners.metrics import PartnerMetrics
from handlers.followups.state import upgrade as upgrade_follow_ups
from handlers.followups.state.budgets import RequestBudgetStore
from handlers.followups.state.tables import Base as FollowUpBase
from handlers.followups.state.timers import Lease
from handlers.followups.status_check.store import StatusCheckStore, needs_person
from handlers.ledger.database import create_engine
from handlers.ledger.database import upgrade as upgrade_ledger
from router.followups import StatusCheckResult


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSettings(url=SecretStr(database_url)))
    await upgrade_follow_ups(engine)
    yield engine
    await engine.dispose()


async def test_the_ledger_and_the_partner_chains_share_one_database(engine: AsyncEngine) -> None:
    await upgrade_ledger(engine)
    await upgrade_follow_ups(engine)  # idempotent, and independent of the ledger's chain

    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        follow_ups = (
            await connection.execute(text("SELECT version_num FROM alembic_version_followups"))
        ).scalar()
    assert {
        "status_checks",
        "attachment_submissions",
        "partner_request_budgets",
        "claims",
    } <= tables
    assert {"alembic_version", "alembic_version_followups"} <= tables
    assert follow_ups == "f0004"


@pytest.fixture
def lane() -> str:
    """A lane of this test's own: PostgreSQL's database is shared by the session's tests."""
    return f"t{uuid.uuid4().hex[:10]}"


async def _lease(store: StatusCheckStore, lane: str) -> Lease:
    [lease] = await store.claim_due(lane=lane, limit=10, lease_seconds=60)
    return lease


async def test_a_status_check_row_records_the_integrex_id_before_its_result(
    engine: AsyncEngine,
    lane: str,
) -> None:
    store = StatusCheckStore(engine)
    command = status_check()

    first = await store.begin(command, lane=lane)
    assert (first.state, first.attempts) == ("requested", 1)
    assert first.command == command, "the timer keeps what it must send"
    lease = await _lease(store, lane)
    assert await store.submitting(lease)
    assert await store.submitted(lease, "9326db0d-eeee-4c28-908a-b133033d3ed2", poll_after=0)
    resumed = await store.begin(command, lane=lane)
    assert (resumed.state, resumed.integrex_request_id, resumed.attempts) == (
        "submitted",
        "9326db0d-eeee-4c28-908a-b133033d3ed2",
        2,
    )

    result = StatusCheckResult(
        command_id=command.command_id,
        claim_id=command.claim.claim_id,
        submission_number=command.claim.submission_number,
        outcome="answered",
        integrex_request_id="9326db0d-eeee-4c28-908a-b133033d3ed2",
        category_code="F1",
        answered_at=datetime.now(UTC),
    )
    assert not await store.submitting(lease), "submitted gave the lease back"
    lease = await _lease(store, lane)
    assert await store.finish(lease, result)
    await store.published(command.command_id)
    done = await store.begin(command, lane=lane)
    assert done.state == "answered"
    assert done.result == result
    assert done.attempts == 2, "a finished command's re-delivery is not an attempt"
    assert (done.command, done.due_at) == (None, None), "published: no timer, no PHI kept"


async def test_an_expired_integrex_id_is_forgotten_so_the_next_attempt_asks_again(
    engine: AsyncEngine,
    lane: str,
) -> None:
    store = StatusCheckStore(engine)
    command = status_check()
    await store.begin(command, lane=lane)
    lease = await _lease(store, lane)
    await store.submitted(lease, "old-id", poll_after=0)
    lease = await _lease(store, lane)
    await store.forget_request(lease)

    state = await store.get(command.command_id)
    assert state is not None
    assert (state.state, state.integrex_request_id) == ("requested", None)


async def test_a_due_row_is_leased_to_one_poller_and_a_lost_lease_writes_nothing(
    engine: AsyncEngine,
    lane: str,
) -> None:
    store = StatusCheckStore(engine)
    other = StatusCheckStore(engine)
    command = status_check()
    await store.begin(command, lane=lane)

    lease = await _lease(store, lane)
    assert await other.claim_due(lane=lane, limit=10, lease_seconds=60) == []
    assert await store.claim_due(lane=lane + "x", limit=10, lease_seconds=60) == []
    await store.reschedule(lease, after=0)
    taken = await _lease(other, lane)
    assert taken.token != lease.token
    assert not await store.submitting(lease), "the first poller's lease is gone"
    assert (await store.get(command.command_id)).state == "requested"  # type: ignore[union-attr]


async def test_a_lease_that_runs_out_makes_the_row_due_again(
    engine: AsyncEngine, lane: str
) -> None:
    store = StatusCheckStore(engine)
    await store.begin(status_check(), lane=lane)
    [lease] = await store.claim_due(lane=lane, limit=10, lease_seconds=0)
    [again] = await store.claim_due(lane=lane, limit=10, lease_seconds=60)
    assert again.key == lease.key
    assert again.token != lease.token


async def test_concurrent_pollers_never_lease_the_same_row(engine: AsyncEngine, lane: str) -> None:
    stores = [StatusCheckStore(engine) for _ in range(4)]
    for _ in range(40):
        await stores[0].begin(status_check(), lane=lane)

    keys: list[str] = []
    for _ in range(10):  # SQLite serialises the claims: the losers find nothing that round
        batches = await asyncio.gather(
            *(s.claim_due(lane=lane, limit=15, lease_seconds=60) for s in stores)
        )
        keys += [lease.key for batch in batches for lease in batch]
        if len(keys) >= 40:
            break
    assert len(keys) == len(set(keys)) == 40


async def test_the_daily_request_budget_is_shared_and_never_overrun(engine: AsyncEngine) -> None:
    budgets = [RequestBudgetStore(engine) for _ in range(3)]
    day = datetime.now(UTC).date()
    partner = uuid.uuid4().hex[:12]
    taken = await asyncio.gather(*(b.take(partner, day, 10) for b in budgets * 5))
    assert sorted(t for t in taken if t is not None) == list(range(1, 11))
    assert taken.count(None) == 5
    assert await budgets[0].used(partner, day) == 10


def _table_of(difference: Any) -> str | None:
    """The table an Alembic autogenerate difference is about (a list wraps column changes)."""
    if isinstance(difference, list):
        difference = difference[0]
    kind, item = difference[0], difference[1]
    if kind.endswith("_table"):
        return str(item.name)
    if kind.endswith(("_index", "_constraint", "_fk")):
        return str(item.table.name)
    # ("add_column", schema, table, column), ("modify_type", schema, table, column, ...)
    return str(difference[2]) if len(difference) > 2 else None


async def test_the_followup_migrations_match_the_tables_the_stores_use(engine: AsyncEngine) -> None:
    def differences(sync: Connection) -> list[Any]:
        context = MigrationContext.configure(sync)
        ours = set(FollowUpBase.metadata.tables)
        found = compare_metadata(context, FollowUpBase.metadata)
        # Only our tables: the ledger's (tables and their indexes) may share the database.
        return [d for d in found if _table_of(d) in ours]

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_follow_ups_are_counted_by_state_for_the_gauge(
    engine: AsyncEngine, lane: str
) -> None:
    store = StatusCheckStore(engine)
    for _ in range(3):
        await store.begin(status_check(), lane=lane)
    lease = await _lease_one(store, lane)
    assert await store.submitting(lease)
    assert await store.count_by_state(lane) == {"requested": 2, "submitting": 1}
    metrics = PartnerMetrics()
    metrics.followup_states("status-check", await store.count_by_state(lane))
    metrics.followup_states("status-check", {"requested": 3})  # nothing submitting any more

    def sample(state: str) -> float | None:
        labels = {"handler": "status-check", "state": state}
        return metrics.registry.get_sample_value("claimflow_followup_requests", labels)

    assert (sample("requested"), sample("submitting")) == (3, 0)


async def _lease_one(store: StatusCheckStore, lane: str) -> Lease:
    [lease, *_] = await store.claim_due(lane=lane, limit=1, lease_seconds=60)
    return lease


def _answer(**fields: Any) -> dict[str, Any]:
    return {"outcome": "answered", "category_code": "A1", "needs_documents": False, **fields}


@pytest.mark.parametrize(
    ("state", "result", "expected"),
    [
        ("requested", None, False),
        ("submitted", None, False),
        ("failed", None, True),
        ("timed_out", {"outcome": "timed_out"}, True),
        ("unknown", None, True),
        ("answered", _answer(), False),
        ("answered", _answer(category_code="F1"), False),
        ("answered", _answer(category_code="P1"), False),
        ("answered", _answer(category_code="F2"), True),
        ("answered", _answer(category_code="A3"), True),
        ("answered", _answer(category_code=None), True),
        ("answered", _answer(needs_documents=True), True),
        ("answered", {"outcome": "not_found"}, True),
    ],
)
def test_a_status_check_needs_a_person_when_it_ended_unanswered_or_its_answer_asks_for_action(
    state: str, result: dict[str, Any] | None, expected: bool
) -> None:
    assert needs_person(state, result) is expected


async def _needs_person_column(engine: AsyncEngine, command_id: str) -> bool:
    async with engine.connect() as connection:
        found = await connection.scalar(
            text("SELECT needs_person FROM status_checks WHERE command_id = :id"),
            {"id": command_id},
        )
    return bool(found)


@pytest.mark.parametrize(
    ("outcome", "category", "needs_documents", "expected"),
    [
        ("answered", "F1", False, False),
        ("answered", "F2", False, True),
        ("answered", "P1", True, True),
        ("not_found", None, False, True),
    ],
)
async def test_the_store_keeps_whether_a_status_check_needs_a_person_with_its_state(
    engine: AsyncEngine,
    lane: str,
    outcome: str,
    category: str | None,
    needs_documents: bool,
    expected: bool,
) -> None:
    store = StatusCheckStore(engine)
    command = status_check()
    await store.begin(command, lane=lane)
    assert not await _needs_person_column(engine, command.command_id)
    lease = await _lease(store, lane)
    assert await store.submitted(lease, "req-1", poll_after=0)
    assert not await _needs_person_column(engine, command.command_id)
    lease = await _lease(store, lane)
    result = StatusCheckResult.model_validate(
        {
            "command_id": command.command_id,
            "claim_id": command.claim.claim_id,
            "submission_number": command.claim.submission_number,
            "outcome": outcome,
            "category_code": category,
            "needs_documents": needs_documents,
            "answered_at": datetime.now(UTC),
        }
    )
    assert await store.finish(lease, result)
    assert await _needs_person_column(engine, command.command_id) is expected


async def test_upgrading_to_f0004_decides_needs_person_for_the_rows_already_there(
    tmp_path: Path,
) -> None:
    engine = create_engine(
        DatabaseSettings(url=SecretStr(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"))
    )
    try:
        await upgrade_follow_ups(engine, "f0003")
        rows = {
            "c-requested": ("requested", None),
            "c-timed-out": ("timed_out", {"outcome": "timed_out"}),
            "c-paid": ("answered", _answer(category_code="F1")),
            "c-denied": ("answered", _answer(category_code="F2")),
            "c-documents": ("answered", _answer(category_code="P1", needs_documents=True)),
        }
        async with engine.begin() as connection:
            for key, (state, result) in rows.items():
                await connection.execute(
                    text(
                        "INSERT INTO status_checks (command_id, claim_id, submission_number,"
                        " state, result, attempts, lane, polls, failed_calls, created_at,"
                        " updated_at) VALUES (:key, 'c', 'INV-1', :state, :result, 1, 'production',"
                        " 0, 0, :now, :now)"
                    ),
                    {
                        "key": key,
                        "state": state,
                        "result": None if result is None else json.dumps(result),
                        "now": datetime.now(UTC),
                    },
                )
        await upgrade_follow_ups(engine)
        async with engine.connect() as connection:
            query = text("SELECT command_id, needs_person FROM status_checks")
            found = {row[0]: row[1] for row in await connection.execute(query)}
    finally:
        await engine.dispose()
    assert {key: bool(value) for key, value in found.items()} == {
        "c-requested": False,
        "c-timed-out": True,
        "c-paid": False,
        "c-denied": True,
        "c-documents": True,
    }
