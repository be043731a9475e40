"""The partner handlers' tables and the status-check rows, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from followup_support import status_check
from pydantic import SecretStr
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.settings import DatabaseSettings
from handlers.followup_state import upgrade as upgrade_followups
from handlers.ledger.database import create_engine
from handlers.ledger.database import upgrade as upgrade_ledger
from handlers.status_check.store import StatusCheckStore
from router.followups import StatusCheckResult


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSettings(url=SecretStr(database_url)))
    await upgrade_followups(engine)
    yield engine
    await engine.dispose()


async def test_the_ledger_and_the_partner_chains_share_one_database(engine: AsyncEngine) -> None:
    await upgrade_ledger(engine)
    await upgrade_followups(engine)  # idempotent, and independent of the ledger's chain

    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        followups = (
            await connection.execute(text("SELECT version_num FROM alembic_version_followups"))
        ).scalar()
    assert {"status_checks", "attachment_submissions", "claims"} <= tables
    assert {"alembic_version", "alembic_version_followups"} <= tables
    assert followups == "f0001"


async def test_a_status_check_row_records_the_integrex_id_before_its_result(
    engine: AsyncEngine,
) -> None:
    store = StatusCheckStore(engine)
    command = status_check()

    first = await store.begin(command)
    assert (first.state, first.attempts) == ("requested", 1)
    await store.submitted(command.command_id, "9326db0d-eeee-4c28-908a-b133033d3ed2")
    resumed = await store.begin(command)
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
    await store.finish(command.command_id, result)
    done = await store.begin(command)
    assert done.state == "answered"
    assert done.result == result
    assert done.attempts == 2, "a finished command's re-delivery is not an attempt"


async def test_an_expired_integrex_id_is_forgotten_so_the_next_attempt_asks_again(
    engine: AsyncEngine,
) -> None:
    store = StatusCheckStore(engine)
    command = status_check()
    await store.begin(command)
    await store.submitted(command.command_id, "old-id")
    await store.forget_request(command.command_id)

    state = await store.get(command.command_id)
    assert state is not None
    assert (state.state, state.integrex_request_id) == ("requested", None)
