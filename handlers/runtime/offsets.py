"""Which offset of a partition is safe to commit.

Offsets in a partition are not contiguous integers for a ``read_committed`` consumer
(transaction markers and aborted records take offsets too), so the tracker remembers the
offsets it was given, in order, and which of them are done. The commit position is the first
offset not yet done, or one past the last offset when all are done: a later success never
commits past an earlier failure.
"""

from __future__ import annotations

from collections import deque

__all__ = ["OffsetTracker"]


class OffsetTracker:
    """Per-partition bookkeeping of delivered and completed offsets."""

    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        self._done: set[int] = set()
        self._next: int | None = None
        self._committed: int | None = None
        self._last_tracked = -1

    def track(self, offset: int) -> None:
        """Record that ``offset`` was delivered; offsets must be given in increasing order."""
        if offset <= self._last_tracked:
            raise ValueError(f"offset {offset} tracked out of order")
        self._last_tracked = offset
        self._pending.append(offset)

    def done(self, offset: int) -> None:
        """Record that ``offset``'s effects are durable."""
        if offset not in self._pending:
            raise ValueError(f"offset {offset} is not pending")
        self._done.add(offset)
        while self._pending and self._pending[0] in self._done:
            finished = self._pending.popleft()
            self._done.discard(finished)
            self._next = finished + 1

    @property
    def position(self) -> int | None:
        """The offset to commit: the first not done, else one past the last done."""
        if self._pending:
            return self._pending[0]
        return self._next

    @property
    def pending(self) -> int:
        """How many delivered offsets are not yet done."""
        return len(self._pending)

    def to_commit(self) -> int | None:
        """The position if it moved since the last ``committed``, else ``None``."""
        position = self.position
        if position is None or position == self._committed:
            return None
        return position

    def committed(self, position: int) -> None:
        """Record that ``position`` was committed to Kafka."""
        self._committed = position
