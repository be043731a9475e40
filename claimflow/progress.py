"""Progress of long command-line work: a live bar on a terminal, plain lines otherwise.

::

    from claimflow.progress import progress

    with progress("importing claims", total=len(rows), unit="claims") as bar:
        for row in rows:
            ...
            bar.advance()        # or bar.advance(n) after a batch of n

``total=None`` when the amount is unknown (a spinner and the count so far); ``unit=""`` for a
wait that counts nothing (``advance(0)`` on each poll: a spinner and the time). Progress goes to
stderr, so stdout stays what the command answers. On a terminal it is a rich progress bar
(colourless when ``NO_COLOR`` is set, https://no-color.org); otherwise (a pipe, a log file,
Kubernetes) one plain line every ``interval`` seconds, ``importing claims: 1200/5000 claims,
10s``, and a last one when the work took that long; work that ends sooner prints nothing.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

__all__ = ["Progress", "progress"]


class Progress(Protocol):
    """What a command reports to while it works."""

    def advance(self, n: int = 1) -> None:
        """``n`` more units are done (``advance(0)`` while waiting keeps the lines coming)."""
        ...


class _PlainProgress:
    """A line every ``interval`` seconds, for streams that are not a terminal."""

    def __init__(
        self, label: str, total: int | None, unit: str, stream: TextIO, interval: float
    ) -> None:
        self._label, self._total, self._unit, self._stream = label, total, unit, stream
        self._interval = interval
        self._started = self._last = time.monotonic()
        self._done = 0
        self._printed = False

    def advance(self, n: int = 1) -> None:
        self._done += n
        if time.monotonic() - self._last >= self._interval:
            self._print()

    def _print(self) -> None:
        self._last = time.monotonic()
        count = f"{self._done}/{self._total}" if self._total is not None else f"{self._done}"
        done = f"{count} {self._unit}, " if self._unit else ""  # unit "": a wait, time only
        elapsed = self._last - self._started
        print(f"{self._label}: {done}{elapsed:.0f}s", file=self._stream)
        self._stream.flush()
        self._printed = True

    def close(self) -> None:
        if self._printed or time.monotonic() - self._started >= self._interval:
            self._print()


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


@contextmanager
def progress(
    label: str,
    total: int | None = None,
    *,
    unit: str = "items",
    stream: TextIO | None = None,
    interval: float = 5.0,
) -> Iterator[Progress]:
    """Report progress of the work done inside the ``with`` block (see the module's doc)."""
    out = stream if stream is not None else sys.stderr
    if not _is_terminal(out):
        plain = _PlainProgress(label, total, unit, out, interval)
        try:
            yield plain
        finally:
            plain.close()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import (
        Progress as RichProgress,
    )

    console = Console(file=out, no_color="NO_COLOR" in os.environ or None)
    count = MofNCompleteColumn() if total is not None else TextColumn("{task.completed}")
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        *((BarColumn(), count, TextColumn(unit)) if unit else ()),
        TimeElapsedColumn(),
    )
    with RichProgress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)

        class _Bar:
            def advance(self, n: int = 1) -> None:
                bar.advance(task, n)

        yield _Bar()
