"""``claimflow ledger post FILE...``: Redox PaymentBatch files posted straight into the ledger.

For onboarding (months of old remittances) and support (replaying one delivery), without
Kafka. Each file is first validated whole, streamed (``RemittanceFile.validate``): a bad file
fails with one line naming the file, the field path and the reason, and nothing of it is
posted. Its claim messages, made exactly as the router makes them, are then posted a chunk at
a time, each chunk one transaction through the ledger handler's own code (``LedgerUnit.prefetch``
and ``Poster.post_payment``). The message ids are the router's, so posting a file twice, or a
delivery that also came through Kafka, changes nothing the second time.

What the postings cause (reconciliation results, status-check and attachment commands) waits
in the ledger's outbox; the ledger handler publishes it when it runs.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from handlers.ledger.posting import Poster, PostingResult
from handlers.ledger.remittance_file import RemittanceFile, RemittanceFileError
from handlers.ledger.store import ClaimLedger
from router.messages import ClaimPaymentMessage

__all__ = ["PostSummary", "Progress", "post_files"]

CHUNK = 500
_WIDTH = 30


@dataclass(slots=True)
class PostSummary:
    """What the claim payments of the files became."""

    counts: Counter[str] = field(default_factory=Counter)
    files: int = 0

    def add(self, result: PostingResult) -> None:
        state = {"applied": "posted", "recorded": "posted", "redelivered": "already posted"}
        self.counts[state.get(result.state, result.state)] += 1
        differences = result.reconciliation is not None and not result.reconciliation.balanced
        if differences or result.transaction_differences:
            self.counts["flagged"] += 1

    def line(self) -> str:
        c = self.counts
        return (
            f"{self.files} file(s): {c['posted']} posted, {c['review']} review, "
            f"{c['parked']} parked, {c['duplicate']} duplicates, "
            f"{c['already posted']} already posted, {c['flagged']} flagged"
        )


class Progress:
    """A bar redrawn in place on a terminal; a plain line every few seconds otherwise.

    No colour is used, so ``NO_COLOR`` is respected as it is; ``NO_COLOR`` also turns the bar
    into plain lines, for terminals that log.
    """

    def __init__(self, stream: TextIO, *, every: float = 5.0) -> None:
        self._stream = stream
        self._bar = stream.isatty() and not os.environ.get("NO_COLOR")
        self._every = every
        self._last = 0.0
        self._started = time.monotonic()

    def start(self) -> None:
        self._started = time.monotonic()
        self._last = self._started

    def update(self, name: str, done: int, total: int) -> None:
        now = time.monotonic()
        rate = done / max(now - self._started, 1e-9)
        if self._bar:
            filled = _WIDTH * done // max(total, 1)
            bar = "#" * filled + "-" * (_WIDTH - filled)
            self._stream.write(f"\r{name} [{bar}] {done:,}/{total:,} claims {rate:,.0f}/s")
            if done == total:
                self._stream.write("\n")
            self._stream.flush()
        elif done == total or now - self._last >= self._every:
            self._last = now
            self._stream.write(f"{name}: {done:,} of {total:,} claim payments ({rate:,.0f}/s)\n")
            self._stream.flush()


async def post_files(
    ledger: ClaimLedger,
    poster: Poster,
    paths: list[Path],
    *,
    echo: Callable[[str], None] = print,
    progress: Progress | None = None,
) -> tuple[int, PostSummary]:
    """Post every file; 0 when all were posted, 1 when a file was bad or the database failed."""
    summary = PostSummary()
    progress = progress or Progress(sys.stderr)
    status = 0
    for path in paths:
        remittance = RemittanceFile(path)
        try:
            remittance.validate()
        except RemittanceFileError as exc:
            echo(f"claimflow: {path}: {exc}; nothing posted from it")
            status = 1
            continue
        except OSError as exc:
            echo(f"claimflow: {path}: cannot read the file ({_reason(exc)}); nothing posted")
            status = 1
            continue
        progress.start()
        done = 0
        chunk: list[ClaimPaymentMessage] = []
        for message in remittance.claim_messages():
            chunk.append(message)
            if len(chunk) == CHUNK:
                done += await _post_chunk(ledger, poster, chunk, summary)
                progress.update(path.name, done, remittance.claims)
                chunk = []
        if chunk or not done:
            done += await _post_chunk(ledger, poster, chunk, summary)
            progress.update(path.name, done, remittance.claims)
        summary.files += 1
    return status, summary


async def _post_chunk(
    ledger: ClaimLedger, poster: Poster, chunk: list[ClaimPaymentMessage], summary: PostSummary
) -> int:
    if not chunk:
        return 0
    async with ledger.unit() as unit:
        await unit.prefetch(chunk)
        results = [await poster.post_payment(unit, message) for message in chunk]
    for result in results:
        summary.add(result)
    return len(chunk)


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
