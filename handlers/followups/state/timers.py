"""Durable follow-up timers: the database says when to look at an outbound request next.

A partner handler never waits for a partner while it holds a Kafka partition. Its ``handle``
records the request (what to send, its deadline, ``due_at`` = now) and returns; the offset is
committed at once. A :class:`DuePoller` in the same process then works the due rows:

* :meth:`TimerStore.claim_due` takes up to ``n`` rows of its lane whose ``due_at`` has come,
  and leases them for ``lease_seconds``: ``due_at`` moves to the end of the lease and the
  claim's fresh ``lease_token`` is written. On PostgreSQL the candidates are read
  ``FOR UPDATE SKIP LOCKED``, so replicas never wait on, or take, each other's rows; on SQLite
  (one process; its stores take turns to write) the same conditional update serialises
  claims. Either way a row is leased by one poller at a time.
* A step (one partner call) ends by writing the row's next ``due_at`` (or none, when the row is
  final and its result published), conditional on the lease token: a poller whose lease ran out
  cannot overwrite the next owner's work.
* A crash, a ``kill -9`` or a stop that gives up a call leaves the row leased; once the lease
  has run out the row is due again and any replica resumes it from the recorded state.

Nothing is slept on in memory: restarts lose no timer. See docs/operations.md, "Follow-up timers".
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from claimflow.settings import FollowUpSettings
from claimflow.tracing import internal_span
from handlers.followups.state.tables import AttachmentRow, StatusCheckRow

__all__ = ["DuePoller", "Lease", "TimerStore", "aware", "sqlite_writer", "utcnow"]

_log = structlog.get_logger(__name__)

RowT = TypeVar("RowT", StatusCheckRow, AttachmentRow)


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without their zone; every stored one is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


_SQLITE_WRITERS: dict[int, asyncio.Lock] = {}


def sqlite_writer(engine: AsyncEngine) -> AbstractAsyncContextManager[Any]:
    """What a write transaction holds: one writer at a time per SQLite database in a process.

    SQLite has one write lock per file, and a transaction that reads and then writes fails at
    once ("database is locked") when another connection holds it, whatever the busy timeout:
    the stores of one process take turns instead. PostgreSQL needs nothing (row locks).
    """
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return _SQLITE_WRITERS.setdefault(id(engine.sync_engine), asyncio.Lock())


@dataclass(frozen=True, slots=True)
class Lease:
    """One claimed row: its key and the token every write of this step must present."""

    key: str
    token: str
    traceparent: str | None = None
    """The trace of the message that created the request (its step's span continues it)."""


class TimerStore(Generic[RowT]):
    """The timer columns of one table (``due_at``, ``lease_token``, ``polls``, ...)."""

    table: type[RowT]
    key_name: str

    @property
    def key(self) -> Any:
        """The table's key column (``Any``: SQLAlchemy's typing of a generic column is weak)."""
        return getattr(self.table, self.key_name)

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._skip_locked = engine.dialect.name == "postgresql"
        self._writer = sqlite_writer(engine)

    async def claim_due(self, *, lane: str, limit: int, lease_seconds: float) -> list[Lease]:
        """Lease up to ``limit`` due rows of ``lane``, oldest due first."""
        now = utcnow()
        until = now + timedelta(seconds=lease_seconds)
        table = self.table
        due = (table.lane == lane) & (table.due_at.is_not(None)) & (table.due_at <= now)
        query = select(self.key).where(due).order_by(table.due_at).limit(limit)
        if self._skip_locked:
            query = query.with_for_update(skip_locked=True)
        token = str(uuid.uuid4())
        async with self._writer, self._sessions() as session, session.begin():
            keys = list((await session.scalars(query)).all())
            if not keys:
                return []
            await session.execute(
                update(table).where(self.key.in_(keys), due).values(due_at=until, lease_token=token)
            )
            # The rows this claim got (another process on the same SQLite file may have won some).
            taken = await session.execute(
                select(self.key, table.traceparent).where(
                    self.key.in_(keys), table.lease_token == token
                )
            )
            return [Lease(key, token, traceparent) for key, traceparent in taken.all()]

    async def load(self, lease: Lease) -> RowT | None:
        """The leased row, or ``None`` when the lease was lost (another poller has it)."""
        async with self._sessions() as session:
            row = await session.get(self.table, lease.key)
            if row is None or row.lease_token != lease.token:
                return None
            return row

    async def write(self, lease: Lease, **values: Any) -> bool:
        """Update the leased row; ``False`` if the lease was lost meanwhile (nothing written)."""
        async with self._writer, self._sessions() as session, session.begin():
            moved = await session.execute(
                update(self.table)
                .where(self.key == lease.key, self.table.lease_token == lease.token)
                .values(updated_at=utcnow(), **values)
            )
            return bool(moved.rowcount == 1)  # type: ignore[attr-defined] # CursorResult

    async def reschedule(
        self,
        lease: Lease,
        *,
        after: float,
        failed: bool = False,
        error: str | None = None,
        polled: bool = False,
        **values: Any,
    ) -> bool:
        """Give the row back, due ``after`` seconds from now (counting a failure or a poll)."""
        table = self.table
        changes: dict[str, Any] = {
            "due_at": utcnow() + timedelta(seconds=max(after, 0.0)),
            "lease_token": None,
            **values,
        }
        if failed:
            changes["failed_calls"] = table.failed_calls + 1
            changes["last_error"] = (error or "")[:200] or None
        if polled:
            changes["polls"] = table.polls + 1
        return await self.write(lease, **changes)

    async def wake(self, key: str) -> None:
        """Make an idle row due now (a re-delivered command re-arms its timer)."""
        async with self._writer, self._sessions() as session, session.begin():
            await session.execute(
                update(self.table)
                .where(self.key == key, self.table.due_at.is_(None))
                .values(due_at=utcnow(), updated_at=utcnow())
            )

    async def published(self, key: str) -> None:
        """The final result is on its topic: the timer stops, and the command (PHI) goes."""
        async with self._writer, self._sessions() as session, session.begin():
            await session.execute(
                update(self.table)
                .where(self.key == key)
                .values(due_at=None, lease_token=None, command=None, updated_at=utcnow())
            )

    async def count_by_state(self, lane: str) -> dict[str, int]:
        """Rows of ``lane`` by state (the follow-ups-by-state gauge)."""
        table = self.table
        query = select(table.state, func.count()).where(table.lane == lane).group_by(table.state)
        async with self._sessions() as session:
            return {str(state): int(n) for state, n in (await session.execute(query)).all()}

    async def outstanding(self, lane: str) -> int:
        """Rows of ``lane`` with a timer set (waiting or leased)."""
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(self.table)
                .where(self.table.lane == lane, self.table.due_at.is_not(None))
            )
            return int(count or 0)


Step = Callable[[Lease], Awaitable[None]]
Claim = Callable[[int], Awaitable[list[Lease]]]
Report = Callable[[], Awaitable[None]]

#: How often a poller runs its ``report`` (the follow-ups-by-state gauge).
REPORT_SECONDS = 15.0


class DuePoller:
    """Works due rows in the background of a handler process, a bounded number at a time.

    ``start`` launches the loop; ``wake`` makes it look at once (a new command arrived);
    ``stop`` lets calls in flight finish for ``stop_grace_seconds``, then cancels the rest:
    their rows keep their lease and are resumed (by this process after a restart, or by another
    replica) once it runs out.
    """

    def __init__(
        self,
        *,
        name: str,
        claim: Claim,
        step: Step,
        settings: FollowUpSettings,
        report: Report | None = None,
    ) -> None:
        self.name = name
        self._report = report
        self._reported_at = float("-inf")
        self._claim = claim
        self._step = step
        self._settings = settings
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"due-poller-{self.name}")

    def wake(self) -> None:
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._in_flight:
            _, pending = await asyncio.wait(
                set(self._in_flight), timeout=self._settings.stop_grace_seconds
            )
            for task in pending:
                task.cancel()
            if pending:
                _log.info("followups.calls_given_up", poller=self.name, calls=len(pending))
                await asyncio.gather(*pending, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            await self._report_now_and_then()
            wanted = min(
                self._settings.concurrency - len(self._in_flight), self._settings.batch_size
            )
            leases: list[Lease] = []
            if wanted > 0:
                try:
                    leases = await self._claim(wanted)
                except Exception as exc:  # noqa: BLE001 - the database is down: look again later
                    _log.warning(
                        "followups.claim_failed", poller=self.name, error=type(exc).__name__
                    )
            for lease in leases:
                task = asyncio.create_task(self._run_step(lease))
                self._in_flight.add(task)
                task.add_done_callback(self._step_done)
            if leases and len(leases) == wanted:
                continue  # maybe more are due: look again while there is room
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.tick_seconds)

    async def _report_now_and_then(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._report is None or now - self._reported_at < REPORT_SECONDS:
            return
        self._reported_at = now
        try:
            await self._report()
        except Exception as exc:  # noqa: BLE001 - a gauge may lag; the poller must live
            _log.warning("followups.report_failed", poller=self.name, error=type(exc).__name__)

    def _step_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()  # a slot is free

    async def _run_step(self, lease: Lease) -> None:
        try:
            # A step (a partner call, a poll) continues the trace of the message that created
            # the request, however long after it runs.
            with internal_span(f"{self.name} step", traceparent=lease.traceparent):
                await self._step(lease)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the lease runs out and the row is retried
            _log.warning(
                "followups.step_failed", poller=self.name, key=lease.key, error=type(exc).__name__
            )
