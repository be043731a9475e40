"""Ledger fixtures: a fresh, migrated ledger database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from claimflow.settings import DatabaseSettings
from handlers.ledger.database import create_engine, upgrade
from handlers.ledger.followup_rules import load_rules
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger


@pytest.fixture
async def ledger_url(database_url: str) -> AsyncIterator[str]:
    """``database_url``, made private: PostgreSQL tests get a database of their own.

    PostgreSQL is migrated here, as the deploy's `claimflow db upgrade` Job does (nothing
    migrates it implicitly); SQLite, the embedded default, is migrated on first use.
    """
    if not database_url.startswith("postgresql"):
        yield database_url
        return
    name = f"ledger_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
        engine = create_engine(DatabaseSettings(url=SecretStr(url)))
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        yield url
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture
async def ledger_engine(ledger_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSettings(url=SecretStr(ledger_url)))
    try:
        await upgrade(engine)
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def ledger(ledger_engine: AsyncEngine) -> ClaimLedger:
    return ClaimLedger(ledger_engine)


@pytest.fixture
def poster() -> Poster:
    return Poster(rules=load_rules())
