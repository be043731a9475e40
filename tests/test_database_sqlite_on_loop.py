"""SQLite on the event loop (``claimflow.database.create_engine(..., sqlite_on_loop=True)``).

The ledger's handler runs its SQLite calls in the loop's thread. These cases check what that
must not change: every statement still runs (in that thread), a write that meets another
connection's write lock waits for it without stopping the loop, and a lock held too long
still ends in SQLite's own "database is locked" error.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from claimflow import database
from claimflow.settings import DatabaseSettings


def _engine(path: Path, *, on_loop: bool) -> Any:
    settings = DatabaseSettings(url=SecretStr(f"sqlite+aiosqlite:///{path}"))
    return database.create_engine(settings, sqlite_on_loop=on_loop)


async def _make_table(engine: Any) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE IF NOT EXISTS notes (body TEXT)"))


async def _locked_by_another_writer(path: Path, seconds: float) -> threading.Thread:
    """Another process's writer holding SQLite's write lock for ``seconds``, from now on."""
    held = threading.Event()
    other = threading.Thread(target=_hold_write_lock, args=(path, seconds, held))
    other.start()
    assert await asyncio.to_thread(held.wait, 5)
    return other


def _hold_write_lock(path: Path, seconds: float, held: threading.Event) -> None:
    """Another process's writer: holds SQLite's write lock for ``seconds``."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO notes VALUES ('the other writer')")
        held.set()
        time.sleep(seconds)
        other.execute("COMMIT")
    finally:
        other.close()


async def _write_ours(engine: Any) -> float:
    """Our write, in a transaction of its own; the seconds it took."""
    started = time.monotonic()
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO notes VALUES ('ours')"))
    return time.monotonic() - started


async def _bodies(engine: Any) -> list[str]:
    async with engine.connect() as connection:
        return list((await connection.execute(text("SELECT body FROM notes"))).scalars())


async def _ticks_while(awaitable: Any) -> tuple[Any, int]:
    """Run ``awaitable`` while a task ticks every 10 ms: the loop's ticks during it."""
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        return await awaitable, ticks
    finally:
        ticker.cancel()


@pytest.mark.parametrize("on_loop", [True, False])
async def test_statements_run_in_the_loops_thread_only_when_asked(
    tmp_path: Path, on_loop: bool
) -> None:
    engine = _engine(tmp_path / "ledger.db", on_loop=on_loop)
    # A SQL function runs in the thread that runs its statement: it tells which one that is.
    event.listen(
        engine.sync_engine,
        "connect",
        lambda dbapi, _record: dbapi.create_function("thread_id", 0, threading.get_ident),
    )
    try:
        await _make_table(engine)
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO notes VALUES (thread_id())"))
            # The driver's own calls (bulk writes go to it directly) too.
            driver = (await connection.get_raw_connection()).driver_connection
            await driver.executemany("INSERT INTO notes VALUES (thread_id() + ?)", [(0,), (0,)])
        async with engine.connect() as connection:
            read = (await connection.execute(text("SELECT thread_id()"))).scalar()
            rows = (await connection.execute(text("SELECT body FROM notes"))).scalars().all()
            mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
    finally:
        await engine.dispose()
    assert len(rows) == 3
    assert mode == "wal"
    threads = {int(r) for r in rows} | {read}
    assert len(threads) == 1
    assert (threads == {threading.get_ident()}) is on_loop


async def test_a_write_waits_for_another_writers_lock_without_stopping_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.db"
    engine = _engine(path, on_loop=True)
    try:
        await _make_table(engine)
        other = await _locked_by_another_writer(path, 0.4)
        waited, ticks = await _ticks_while(_write_ours(engine))
        await asyncio.to_thread(other.join)
        rows = await _bodies(engine)
    finally:
        await engine.dispose()
    assert sorted(rows) == ["ours", "the other writer"]  # both writes, none lost
    assert waited >= 0.2  # it did wait for the lock ...
    assert ticks >= 10  # ... while the loop went on (a blocked loop ticks once at most)


async def test_a_lock_held_past_the_wait_fails_as_sqlites_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "BUSY_WAIT_SECONDS", 0.2)
    path = tmp_path / "ledger.db"
    engine = _engine(path, on_loop=True)
    try:
        await _make_table(engine)
        other = await _locked_by_another_writer(path, 1.0)
        with pytest.raises(OperationalError, match="database is locked"):
            await _ticks_while(_write_ours(engine))
        await asyncio.to_thread(other.join)
        rows = await _bodies(engine)
    finally:
        await engine.dispose()
    assert rows == ["the other writer"]


async def test_a_large_write_ahead_log_is_checkpointed_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's automatic checkpoint is off on the loop's connections; a worker thread does it
    once a commit leaves a large log, so the log is reused instead of growing without end."""
    monkeypatch.setattr(database, "CHECKPOINT_BYTES", 64 * 1024)
    path = tmp_path / "ledger.db"
    engine = _engine(path, on_loop=True)
    rounds, body = 12, "x" * 2000
    sizes = []
    try:
        await _make_table(engine)
        async with engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0
        for _ in range(rounds):
            async with engine.begin() as connection:  # about 200 KB of log per commit
                await connection.execute(
                    text("INSERT INTO notes VALUES (:body)"), [{"body": body}] * 100
                )
            for _ in range(200):  # the checkpoint started by the commit, done
                if str(path) not in database._CHECKPOINTING:
                    break
                await asyncio.sleep(0.01)
            sizes.append((tmp_path / "ledger.db-wal").stat().st_size)
        async with engine.connect() as connection:
            count = (await connection.execute(text("SELECT count(*) FROM notes"))).scalar()
    finally:
        await engine.dispose()
    assert count == rounds * 100
    one_round = 100 * len(body)
    # Never checkpointed, the log would hold every round (12 x 200 KB); reused, about one.
    assert max(sizes) < 4 * one_round, sizes
