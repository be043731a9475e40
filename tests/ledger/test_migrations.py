"""The ledger's schema comes from its Alembic migrations, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.cli import main
from handlers.ledger.database import downgrade, upgrade
from handlers.ledger.tables import Base


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_the_migrations_make_exactly_the_models_tables_and_undo_them(
    ledger_engine: AsyncEngine,
) -> None:
    expected = set(Base.metadata.tables)
    assert await _tables(ledger_engine) == expected | {"alembic_version"}
    await upgrade(ledger_engine)  # again: nothing to do
    await downgrade(ledger_engine)
    assert await _tables(ledger_engine) == {"alembic_version"}
    await upgrade(ledger_engine)
    assert await _tables(ledger_engine) == expected | {"alembic_version"}


def test_db_upgrade_from_the_command_line(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAIMFLOW_DATABASE__URL", ledger_url)
    assert main(["db", "upgrade"]) == 0
    assert "up to date" in capsys.readouterr().out
