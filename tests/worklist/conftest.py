"""Worklist fixtures: a migrated ledger (SQLite and PostgreSQL), the real OIDC provider, the app.

The identity provider is ``oidc-provider-mock`` run as its own process (claimflow/devstack/
identity.py), once per session; a second one, issuing expired ID tokens, starts only for the
test that needs it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from claimflow.devstack.identity import LocalIdentityProvider
from claimflow.devstack.kafka import free_port
from claimflow.settings import DatabaseSettings
from handlers.ledger.database import create_engine, upgrade
from worklist.followup_state import upgrade_partner_tables


@pytest.fixture(scope="session")
def identity_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIdentityProvider]:
    """The session's provider, with the demo users (a poster and a viewer) predefined."""
    provider = LocalIdentityProvider(
        port=free_port(), log_file=tmp_path_factory.mktemp("oidc") / "provider.log"
    )
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def expiring_identity_provider(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LocalIdentityProvider]:
    """A provider whose ID tokens expired ten minutes before they were issued."""
    provider = LocalIdentityProvider(
        port=free_port(),
        token_max_age_seconds=-600,
        log_file=tmp_path_factory.mktemp("oidc-expired") / "provider.log",
    )
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture
async def worklist_url(database_url: str) -> AsyncIterator[str]:
    """``database_url``, made private: PostgreSQL tests get a database of their own."""
    if not database_url.startswith("postgresql"):
        yield database_url
        return
    name = f"worklist_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture
async def worklist_engine(worklist_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSettings(url=SecretStr(worklist_url)))
    try:
        await upgrade(engine)
        await upgrade_partner_tables(engine)
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'worklist.db'}"
