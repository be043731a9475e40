"""The ledger's database: the async engine from ``DatabaseSettings`` and its migrations.

SQLite (the embedded default) and PostgreSQL (production) are both supported; the schema is
made only by the Alembic migrations in ``handlers/ledger/migrations``, run with
``claimflow db upgrade`` or :func:`upgrade`.

:func:`ensure_schema` is what a command calls before it uses the ledger: the embedded SQLite
ledger is migrated on first use; PostgreSQL never is implicitly, so a database that is not at
this claimflow's head revision stops the command with ``SchemaNotMigrated`` or
``SchemaTooNew`` (one line, exit 3 or 2), and an unreachable one with ``DatabaseUnavailable``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from claimflow.errors import (
    DatabaseUnavailable,
    FileProblem,
    SchemaNotMigrated,
    SchemaTooNew,
    database_location,
)
from claimflow.settings import DatabaseSettings
from claimflow.tracing import instrument_engine

__all__ = ["MIGRATIONS", "create_engine", "ensure_schema", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the CLI read while a handler writes; foreign keys are off by default in SQLite.
    # synchronous stays FULL: a commit must survive a power cut, because the runtime commits
    # the Kafka offset once the handler returns.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    """The async engine of the ledger; the caller disposes of it."""
    url = settings.url.get_secret_value()
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if not url.startswith("sqlite"):
        kwargs["pool_size"] = settings.pool_size
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    instrument_engine(engine)  # SQL spans when tracing is on (statements, never parameters)
    return engine


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent)."""
    async with _begin(engine) as connection:
        await connection.run_sync(lambda sync: command.upgrade(_config(sync), revision))


@asynccontextmanager
async def _begin(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """``engine.begin()``, with a failure to connect told as ``DatabaseUnavailable``."""
    where = database_location(str(engine.url))
    if engine.dialect.name == "sqlite":
        _open_sqlite_file(engine.url.database, where)
    try:
        connection = await engine.connect()
    except (OSError, DBAPIError) as exc:
        raise DatabaseUnavailable(
            f"cannot open the ledger database {where} ({type(exc).__name__}); "
            "start it or fix CLAIMFLOW_DATABASE__URL"
        ) from exc
    try:
        async with connection.begin():
            yield connection
    finally:
        await connection.close()


def _open_sqlite_file(database: str | None, where: str) -> None:
    """Open (or create) the SQLite file once, synchronously: a directory that is not writable
    is told as ``FileProblem`` (aiosqlite's worker thread would outlive the event loop)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        sqlite3.connect(database).close()
    except sqlite3.Error as exc:
        raise FileProblem(
            f"cannot open the SQLite ledger {where}: is its directory writable? "
            "Or set CLAIMFLOW_DATABASE__URL"
        ) from exc


def _revisions(connection: Connection) -> tuple[set[str], set[str], set[str]]:
    """(this database's revisions, the head revisions, every revision this claimflow knows)."""
    script = ScriptDirectory.from_config(_config(connection))
    current = set(MigrationContext.configure(connection).get_current_heads())
    known = {revision.revision for revision in script.walk_revisions()}
    return current, set(script.get_heads()), known


async def ensure_schema(engine: AsyncEngine) -> None:
    """Make sure the ledger's schema is this claimflow's; migrate only the SQLite default."""
    if engine.dialect.name == "sqlite":
        await upgrade(engine)
        return
    async with _begin(engine) as connection:
        current, heads, known = await connection.run_sync(_revisions)
    where = database_location(str(engine.url))
    if current - known:
        raise SchemaTooNew(
            f"the ledger database {where} has schema {', '.join(sorted(current - known))}, "
            "newer than this claimflow knows; run the claimflow release that migrated it"
        )
    if current != heads:
        raise SchemaNotMigrated(
            f"the ledger database {where} is not migrated to this release; "
            "run `claimflow db upgrade` (the claimflow-db-migrate Job on Kubernetes)"
        )


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(_config(sync), revision))
