"""The database helper both of claimflow's schemas share: the engine and Alembic migrations.

The ledger (``handlers/ledger/migrations``) and the follow-up state
(``handlers/followups/state/migrations``) are two Alembic chains, each with its own version
table, usually in one database (``DatabaseSettings``). Both open it with :func:`create_engine`
and migrate it through a :class:`Migrations`; SQLite (the embedded default) and PostgreSQL
(production) are both supported.

SQLite on the event loop (``create_engine(..., sqlite_on_loop=True)``, what the ledger's
handler and its commands use): aiosqlite runs each call in a thread of its own and hands the
result back through the loop, a round trip per cursor, statement, fetch and close. For a
local file that round trip costs more than the statement (about a tenth of a poll's time), so
such an engine runs the calls in the loop's thread instead. SQLite's own busy wait would then
stop the loop while another process holds the write lock; it is turned off (``busy_timeout``
0) and the wait is made here instead, in ``asyncio.sleep`` steps, up to the same 5 seconds.
SQLite's automatic checkpoint (copying the write-ahead log into the database, about half of a
large commit's time) is turned off on such connections too, and made by a worker thread once a
commit leaves a log of 1,000 pages, as SQLite would: it no longer holds the loop.

:meth:`Migrations.ensure_schema` is what a command calls before it uses a schema: the embedded
SQLite database is migrated on first use; PostgreSQL never is implicitly, so a database that is
not at this claimflow's head revision stops the command with ``SchemaNotMigrated`` or
``SchemaTooNew`` (one line, exit 3 or 2), and an unreachable one with ``DatabaseUnavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
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


def json_text(value: Any) -> str:
    """A JSON column's text: orjson's compact JSON, several times faster than ``json.dumps``
    (the ledger writes a few JSON values per payment). Read back with ``json.loads``."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


BUSY_WAIT_SECONDS = 5.0
"""How long a SQLite statement waits for another connection's write lock before it fails."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the CLI read while a handler writes; foreign keys are off by default in SQLite.
    # synchronous stays FULL: a commit must survive a power cut, because the runtime commits
    # the Kafka offset once the handler returns.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_WAIT_SECONDS * 1000)}")
    cursor.close()


CHECKPOINT_BYTES = 1000 * 4096
"""The write-ahead log's size from which a commit on the loop has it checkpointed (in the
background): SQLite's own automatic checkpoint, 1,000 pages of 4 KiB."""


def _sqlite_on_loop(dbapi_connection: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")  # waited for in the loop (module docs)
    cursor.execute("PRAGMA wal_autocheckpoint=0")  # made in the background (module docs)
    cursor.execute("PRAGMA database_list")
    path = next((file for _, name, file in cursor.fetchall() if name == "main"), "")
    cursor.close()
    driver = dbapi_connection.driver_connection  # aiosqlite's Connection
    driver._execute = functools.partial(_execute_on_loop, driver, path)  # its one call point


async def _execute_on_loop(
    driver: Any, path: str, function: Callable[..., Any], /, *args: Any, **kwargs: Any
) -> Any:
    """aiosqlite's ``Connection._execute``, run in the calling thread: the call is made at
    once, and made again after a pause while another connection holds the write lock. A
    commit that leaves a large write-ahead log has it checkpointed in the background."""
    if not driver._running or driver._connection is None:  # as aiosqlite's own check
        raise ValueError("Connection closed")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUSY_WAIT_SECONDS
    pause = 0.001
    while True:
        try:
            result = function(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            # Busy means the statement changed nothing yet: SQLite takes the write lock
            # before a statement's first change, and keeps it until the commit (WAL).
            if not _busy(exc) or loop.time() >= deadline:
                raise
        else:
            if path and getattr(function, "__name__", "") == "commit":
                _checkpoint_soon(loop, path)
            return result
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.05)


_CHECKPOINTING: set[str] = set()
"""Databases whose checkpoint is under way in this process (a worker thread takes it out)."""


def _checkpoint_soon(loop: asyncio.AbstractEventLoop, path: str) -> None:
    """Checkpoint the database's write-ahead log in a worker thread once it is large: what
    SQLite's automatic checkpoint did inside the commit (copy the log into the database, and
    sync it), without holding the loop. SQLite releases the GIL while it works, so the copy
    runs beside the next poll's Python. One at a time per database."""
    if path in _CHECKPOINTING:
        return
    try:
        if os.path.getsize(f"{path}-wal") < CHECKPOINT_BYTES:
            return
    except OSError:
        return
    _CHECKPOINTING.add(path)
    try:
        loop.run_in_executor(None, _checkpoint, path)
    except RuntimeError:  # the loop's executor is shut down: the process is stopping
        _CHECKPOINTING.discard(path)


def _checkpoint(path: str) -> None:
    # PASSIVE: copies what no reader still needs, never waits for a lock. A checkpoint that
    # cannot run now (another process's) is left to the next large commit. mode=rw: a
    # database that is gone is not made again.
    try:
        with (
            contextlib.suppress(sqlite3.Error),
            contextlib.closing(
                sqlite3.connect(
                    f"file:{urllib.parse.quote(path)}?mode=rw",
                    uri=True,
                    timeout=0,
                    isolation_level=None,
                )
            ) as connection,
        ):
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        _CHECKPOINTING.discard(path)


def _busy(exc: sqlite3.OperationalError) -> bool:
    code: int | None = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # pragma: no cover - Python's sqlite3 sets it since 3.11
        return "database is locked" in str(exc)
    # SQLITE_BUSY and its extended codes, but BUSY_SNAPSHOT: a read snapshot too old to
    # write from, which waiting cannot cure (the unit is rolled back and retried).
    return code & 0xFF == sqlite3.SQLITE_BUSY and code != _SQLITE_BUSY_SNAPSHOT


_SQLITE_BUSY_SNAPSHOT = 517


def create_engine(settings: DatabaseSettings, *, sqlite_on_loop: bool = False) -> AsyncEngine:
    """The async engine of claimflow's database; the caller disposes of it.

    ``sqlite_on_loop``: a SQLite database's calls are made in the event loop's thread
    (module docs). For a process whose loop does little else while it writes (the ledger's
    handler and commands); PostgreSQL is not affected."""
    url = settings.url.get_secret_value()
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "json_serializer": json_text}
    if not url.startswith("sqlite"):
        kwargs["pool_size"] = settings.pool_size
    elif sqlite_on_loop:
        # Connected in aiosqlite's thread, used in the loop's.
        kwargs["connect_args"] = {"check_same_thread": False}
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        pragmas = _sqlite_on_loop if sqlite_on_loop else _sqlite_pragmas
        event.listen(engine.sync_engine, "connect", pragmas)
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
