"""The in-order worker of one assigned partition, and its offset bookkeeping."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from handlers.runtime.offsets import OffsetTracker

__all__ = ["PartitionWorker"]

Process = Callable[[Any, asyncio.Event], Awaitable[bool]]


class PartitionWorker:
    """Handles the records of one partition one after another, in offset order.

    ``stop`` lets the record in flight finish (its handler call is never cancelled), abandons
    it if it is only waiting (backoff, retry delay), and leaves queued records undone: the
    tracker's position then points at the first of them.
    """

    def __init__(self, topic: str, partition: int, process: Process) -> None:
        self.topic = topic
        self.partition = partition
        self.tracker = OffsetTracker()
        self._process = process
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
            record = self._queue.popleft()
            if not await self._process(record, self._stopping):
                return
            self.tracker.done(record.offset)
