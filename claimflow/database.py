"""The database helper both of claimflow's schemas share: the engine and Alembic migrations.

The ledger (``handlers/ledger/migrations``) and the follow-up state
(``handlers/followups/state/migrations``) are two Alembic chains, each with its own version
table, usually in one database (``DatabaseSettings``). Both open it with :func:`create_engine`
and migrate it through a :class:`Migrations`; SQLite (the embedded default) and PostgreSQL
(production) are both supported.

:meth:`Migrations.ensure_schema` is what a command calls before it uses a schema: the embedded
SQLite database is migrated on first use; PostgreSQL never is implicitly, so a database that is
not at this claimflow's head revision stops the command with ``SchemaNotMigrated`` or
``SchemaTooNew`` (one line, exit 3 or 2), and an unreachable one with ``DatabaseUnavailable``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
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

__all__ = ["Migrations", "create_engine"]


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
    """The async engine of claimflow's database; the caller disposes of it."""
    url = settings.url.get_secret_value()
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if not url.startswith("sqlite"):
        kwargs["pool_size"] = settings.pool_size
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    instrument_engine(engine)  # SQL spans when tracing is on (statements, never parameters)
    return engine


@dataclass(frozen=True, slots=True)
class Migrations:
    """One Alembic chain: its scripts, its version table, and the word that names its schema."""

    directory: Path
    version_table: str = "alembic_version"
    subject: str = "ledger"  # in messages: "the ledger database ..."

    def _config(self, connection: Connection) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.directory))
        config.attributes["connection"] = connection
        config.attributes["version_table"] = self.version_table  # read by the chain's env.py
        return config

    async def upgrade(self, engine: AsyncEngine, revision: str = "head") -> None:
        """Bring the chain to ``revision`` (idempotent)."""
        async with self._begin(engine) as connection:
            await connection.run_sync(lambda sync: command.upgrade(self._config(sync), revision))

    async def downgrade(self, engine: AsyncEngine, revision: str = "base") -> None:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.downgrade(self._config(sync), revision))

    async def ensure_schema(self, engine: AsyncEngine) -> None:
        """Make sure the schema is this claimflow's; migrate only the SQLite default."""
        if engine.dialect.name == "sqlite":
            await self.upgrade(engine)
            return
        async with self._begin(engine) as connection:
            current, heads, known = await connection.run_sync(self._revisions)
        where = database_location(str(engine.url))
        if current - known:
            newer = ", ".join(sorted(current - known))
            raise SchemaTooNew(
                f"the {self.subject} database {where} has schema {newer}, "
                "newer than this claimflow knows; run the claimflow release that migrated it"
            )
        if current != heads:
            raise SchemaNotMigrated(
                f"the {self.subject} database {where} is not migrated to this release; "
                "run `claimflow db upgrade` (the claimflow-db-migrate Job on Kubernetes)"
            )

    def _revisions(self, connection: Connection) -> tuple[set[str], set[str], set[str]]:
        """(this database's revisions, the head revisions, every revision this chain knows)."""
        script = ScriptDirectory.from_config(self._config(connection))
        context = MigrationContext.configure(connection, opts={"version_table": self.version_table})
        current = set(context.get_current_heads())
        known = {revision.revision for revision in script.walk_revisions()}
        return current, set(script.get_heads()), known

    @asynccontextmanager
    async def _begin(self, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        """``engine.begin()``, with a failure to connect told as ``DatabaseUnavailable``."""
        where = database_location(str(engine.url))
        if engine.dialect.name == "sqlite":
            self._open_sqlite_file(engine.url.database, where)
        try:
            connection = await engine.connect()
        except (OSError, DBAPIError) as exc:
            raise DatabaseUnavailable(
                f"cannot open the {self.subject} database {where} ({type(exc).__name__}); "
                "start it or fix CLAIMFLOW_DATABASE__URL"
            ) from exc
        try:
            async with connection.begin():
                yield connection
        finally:
            await connection.close()

    def _open_sqlite_file(self, database: str | None, where: str) -> None:
        """Open (or create) the SQLite file once, synchronously: a directory that is not
        writable is told as ``FileProblem`` (aiosqlite's worker thread would outlive the loop)."""
        if not database or database == ":memory:" or database.startswith("file:"):
            return
        try:
            sqlite3.connect(database).close()
        except sqlite3.Error as exc:
            raise FileProblem(
                f"cannot open the SQLite {self.subject} {where}: is its directory writable? "
                "Or set CLAIMFLOW_DATABASE__URL"
            ) from exc
