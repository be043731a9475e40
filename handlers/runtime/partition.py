"""The in-order worker of one assigned partition, and its offset bookkeeping."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from handlers.runtime.offsets import OffsetTracker

__all__ = ["PartitionWorker"]

Process = Callable[[Any, asyncio.Event], Awaitable[bool]]
ProcessBatch = Callable[[list[Any], asyncio.Event], Awaitable[list[bool]]]

MAX_BATCH = 500


class PartitionWorker:
    """Handles the records of one partition one after another, in offset order.

    ``stop`` lets the record in flight finish (its handler call is never cancelled), abandons
    it if it is only waiting (backoff, retry delay), and leaves queued records undone: the
    tracker's position then points at the first of them.

    With ``process_batch``, the worker takes every queued record (up to ``MAX_BATCH``) at
    once, still in order; each record whose outcome is ``True`` is done.
    """

    def __init__(
        self,
        topic: str,
        partition: int,
        process: Process,
        *,
        process_batch: ProcessBatch | None = None,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.tracker = OffsetTracker()
        self._process = process
        self._process_batch = process_batch
        self._queue: deque[Any] = deque()
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"partition-{topic}-{partition}")

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def failed(self) -> BaseException | None:
        """The error that ended the worker, if it ended by a bug rather than by ``stop``."""
        if self._task.done() and not self._task.cancelled():
            return self._task.exception()
        return None

    def enqueue(self, records: Iterable[Any]) -> None:
        for record in records:
            self.tracker.track(record.offset)
            self._queue.append(record)
        self._wakeup.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    async def wait(self) -> None:
        """Wait for the worker to end after ``stop``; re-raises the error that ended it."""
        await self._task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._process_batch is not None:
                if not await self._run_batch(self._process_batch):
                    return
                continue
            record = self._queue.popleft()
            if not await self._process(record, self._stopping):
                return
            self.tracker.done(record.offset)

    async def _run_batch(self, process_batch: ProcessBatch) -> bool:
        """Process the queued records together; ``False`` if one was abandoned (stopping)."""
        records = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
        outcomes = await process_batch(records, self._stopping)
        for record, done in zip(records, outcomes, strict=True):
            if not done:
                return False
            self.tracker.done(record.offset)
        return True
