"""``claimflow ledger post FILE...``: Redox PaymentBatch files posted straight into the ledger.

For onboarding (months of old remittances) and support (replaying one delivery), without
Kafka. Every file is first validated whole, streamed (``RemittanceFile.validate``), before
anything is posted: a bad file stops the command with one line naming the file, the field path
and the reason (``check_files``), and nothing is posted. Its claim messages, made exactly as
the router makes them, are then posted a chunk at a time, each chunk one transaction through
the ledger handler's own code (``LedgerUnit.prefetch`` and ``Poster.post_payment``), with
progress on stderr through ``claimflow.progress`` like every command's. The message ids are
the router's, so posting a file twice, or a delivery that also came through Kafka, changes
nothing the second time.

What the postings cause (reconciliation results, status-check and attachment commands) waits
in the ledger's outbox; the ledger handler publishes it when it runs.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from claimflow.errors import DataRefused, FileProblem
from claimflow.progress import progress
from handlers.ledger.posting import Poster, PostingResult
from handlers.ledger.remittance_file import NOT_JSON, RemittanceFile, RemittanceFileError
from handlers.ledger.store import ClaimLedger
from handlers.ledger.transactions import check_transactions, count_deferred
from router.messages import ClaimPaymentMessage

__all__ = ["PostSummary", "check_files", "post_files"]

CHUNK = 500


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


def check_files(paths: Sequence[Path]) -> list[RemittanceFile]:
    """Validate every file before anything is posted; the first bad one stops the command.

    A file that cannot be read, or is not JSON, is a ``FileProblem`` (exit code 2); a
    PaymentBatch that the receiver would refuse is ``DataRefused`` (exit code 4). The line
    names the file, the field path and the reason, never a value.
    """
    checked = []
    for path in paths:
        remittance = RemittanceFile(path)
        try:
            remittance.validate()
        except OSError as exc:
            reason = (exc.strerror or type(exc).__name__).lower()
            raise FileProblem(
                f"cannot read the remittance file {path}: {reason}; nothing posted"
            ) from exc
        except RemittanceFileError as exc:
            if str(exc) == NOT_JSON:
                raise FileProblem(f"{path}: {exc}; nothing posted") from exc
            raise DataRefused(f"{path}: {exc}; nothing posted: fix the file") from exc
        checked.append(remittance)
    return checked


async def post_files(
    ledger: ClaimLedger,
    poster: Poster,
    files: Sequence[RemittanceFile],
    *,
    stream: TextIO | None = None,
    interval: float = 5.0,
) -> PostSummary:
    """Post every (checked) file, a chunk of claim payments per transaction, with progress."""
    summary = PostSummary()
    for remittance in files:
        label = f"posting {remittance.path.name}"
        with progress(
            label, remittance.claims, unit="claim payments", stream=stream, interval=interval
        ) as bar:
            chunk: list[ClaimPaymentMessage] = []
            for message in remittance.claim_messages():
                chunk.append(message)
                if len(chunk) == CHUNK:
                    bar.advance(await _post_chunk(ledger, poster, chunk, summary))
                    chunk = []
            bar.advance(await _post_chunk(ledger, poster, chunk, summary))
        summary.files += 1
    return summary


async def _post_chunk(
    ledger: ClaimLedger, poster: Poster, chunk: list[ClaimPaymentMessage], summary: PostSummary
) -> int:
    if not chunk:
        return 0
    async with ledger.unit() as unit:
        # As the handler's batch path: the delivery's claims counted once at the chunk's end
        # (not a row lock and an UPDATE per claim), and its transactions checked then if the
        # chunk brought its last claims.
        unit.defer_delivery_counts()
        await unit.prefetch(chunk)
        results = {m.message_id: await poster.post_payment(unit, m) for m in chunk}
        counts = unit.deferred_counts()
        if counts:
            await unit.flush()
        for counted in counts:
            if await count_deferred(unit, counted):
                last = counted.last.message_id
                differences = await check_transactions(unit, poster, counted.last)
                results[last] = dataclasses.replace(
                    results[last], transaction_differences=differences
                )
    for result in results.values():
        summary.add(result)
    return len(chunk)
