"""The outbox: outgoing messages are written with the effects that caused them, then published.

A message enters the outbox in the same database transaction as the ledger change behind it,
under a stable id; :class:`OutboxRelay` publishes unsent messages and marks them sent. A crash
between publishing and marking re-publishes the message with the same ``claimflow-message-id``,
which consumers drop; a crash before the commit leaves neither the change nor the message.
"""

from __future__ import annotations

import asyncio

import structlog
from pydantic import BaseModel

from claimflow.tracing import trace_headers
from handlers.ledger.store import ClaimLedger, LedgerUnit, UnsentMessage
from handlers.runtime.handler import Publisher
from router.headers import message_headers

__all__ = ["OutboxRelay", "enqueue"]

_log = structlog.get_logger("claimflow.ledger.outbox")


async def enqueue(
    unit: LedgerUnit, *, topic: str, key: str | None, message_id: str, model: BaseModel, test: bool
) -> None:
    """Put ``model`` (a contract with a ``schema`` field) in the outbox for ``topic``."""
    schema = str(getattr(model, "schema_name", ""))
    await unit.enqueue(
        message_id=message_id,
        topic=topic,
        key=key,
        value=model.model_dump_json(by_alias=True),
        headers={
            name: value.decode()
            for name, value in [
                *message_headers(test=test, message_id=message_id, schema=schema),
                # The span that caused it: the relay's publish continues its trace.
                *trace_headers().items(),
            ]
        },
    )


class OutboxRelay:
    """Publishes the outbox; one flush at a time per process."""

    def __init__(self, ledger: ClaimLedger, publisher: Publisher, *, batch: int = 500) -> None:
        self._ledger = ledger
        self._publisher = publisher
        self._batch = batch
        self._lock = asyncio.Lock()

    async def flush(self) -> int:
        """Publish every unsent message, oldest first; the number published.

        A batch of rows is handed to the producer at once (in order: the producer keeps the
        order per partition) and awaited together; the rows acknowledged are marked sent even
        when another failed, whose error is raised after.
        """
        published = 0
        async with self._lock:
            while rows := await self._ledger.unsent(self._batch):
                outcomes = await asyncio.gather(
                    *(self._publish(row) for row in rows), return_exceptions=True
                )
                sent = [row.id for row, outcome in zip(rows, outcomes, strict=True) if not outcome]
                await self._ledger.mark_sent(sent)
                published += len(sent)
                failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
                if failed is not None:
                    raise failed
                if len(rows) < self._batch:
                    break
        if published:
            _log.info("outbox flushed", published=published)
        return published

    async def _publish(self, row: UnsentMessage) -> None:
        await self._publisher.publish(
            row.topic,
            key=row.key.encode() if row.key is not None else None,
            value=row.value.encode(),
            headers={k: v.encode() for k, v in row.headers.items()},
        )
