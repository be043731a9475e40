"""The outbox: outgoing messages are written with the effects that caused them, then published.

A message enters the outbox in the same database transaction as the ledger change behind it,
under a stable id; :class:`OutboxRelay` publishes unsent messages and marks them sent. A crash
between publishing and marking re-publishes the message with the same ``claimflow-message-id``,
which consumers drop; a crash before the commit leaves neither the change nor the message.
The handler publishes its units' messages itself, right after their commit, and marks them
sent in its next unit (``publish_written``): a message claimed that way is published by a
relay only once its claim has passed (``OUTBOX_CLAIM``), if that process stopped first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence

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
        when another failed, whose error is raised after. Messages that a unit of this process
        is about to publish itself (``ClaimLedger.claimed_outbox``) are left to it. What this
        process published itself and no unit has marked sent yet is marked first.
        """
        async with self._lock:
            await self._ledger.mark_unmarked()
            return await self._flush_locked()

    async def _flush_locked(self, *, own: Collection[str] = ()) -> int:
        published = 0
        while rows := await self._ledger.unsent(
            self._batch, skip=self._ledger.claimed_outbox.difference(own)
        ):
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

    async def publish_written(self, messages: Sequence[UnsentMessage]) -> int:
        """Publish the outbox messages a committed unit wrote (``unit(publish_outbox=True)``)
        from memory, without reading them back; the number published.

        They are marked sent by this process's next unit, in its own transaction
        (``ClaimLedger.unmarked``), or by the relay's next round if no unit comes first: no
        transaction of their own. Until then their claim (``OutboxMessage.claimed_until``)
        keeps every relay away from them.

        If older messages are still unsent (a publish failed earlier, or another process
        stopped before its relay ran), everything is published oldest first instead, these
        messages included, so that no message overtakes an older one. A message that failed
        is given back to ``flush`` (its claim ended), which publishes it later.
        """
        own = [m.message_id for m in messages]
        try:
            async with self._lock:
                # Own messages included in the claimed ones: are OTHERS waiting?
                if await self._ledger.unsent_besides(self._ledger.claimed_outbox):
                    await self._ledger.release_claims(own)
                    return await self._flush_locked(own=own)
                if not messages:
                    return 0
                outcomes = await asyncio.gather(
                    *(self._publish(m) for m in messages), return_exceptions=True
                )
                sent = [m.message_id for m, o in zip(messages, outcomes, strict=True) if not o]
                self._ledger.unmarked += sent
                failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
                if failed is not None:
                    await self._ledger.release_claims(
                        [m.message_id for m, o in zip(messages, outcomes, strict=True) if o]
                    )
                    raise failed
                return len(sent)
        finally:
            self._ledger.claimed_outbox.difference_update(own)

    async def _publish(self, row: UnsentMessage) -> None:
        await self._publisher.publish(
            row.topic,
            key=row.key.encode() if row.key is not None else None,
            value=row.value.encode(),
            headers={k: v.encode() for k, v in row.headers.items()},
        )
