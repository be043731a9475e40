"""``AccessLog``: every page that shows PHI and every decision leaves an access record.

A record goes to the ``access_records`` table and, through the ledger's outbox in the same
transaction, to the ``<prefix>worklist.access.v1`` topic. It names who (the identity provider's
subject), what, which claims (ledger ids), when and from where; never a patient detail.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from handlers.ledger.outbox import enqueue
from handlers.ledger.store import ClaimLedger, LedgerUnit
from handlers.ledger.tables import AccessRecord, utcnow
from worklist.messages import AccessRecordMessage, WorklistTopics

__all__ = ["Access", "AccessLog"]


@dataclass(frozen=True, slots=True)
class Access:
    """One access: who asked for what, from where."""

    actor: str
    action: str
    target: str
    client_address: str | None
    request_id: str
    claim_ids: tuple[int, ...] = ()
    outcome: Literal["allowed", "refused"] = "allowed"


class AccessLog:
    def __init__(self, ledger: ClaimLedger, topics: WorklistTopics) -> None:
        self._ledger = ledger
        self._topics = topics

    async def record(self, access: Access) -> None:
        async with self._ledger.unit() as unit:
            await self.record_in(unit, access)

    async def record_in(self, unit: LedgerUnit, access: Access) -> None:
        """Record ``access`` inside ``unit`` (with the decision it is about)."""
        record_id = str(uuid.uuid4())
        at = utcnow()
        claim_ids = list(access.claim_ids)
        unit.add(
            AccessRecord(
                record_id=record_id,
                at=at,
                actor=access.actor,
                action=access.action,
                outcome=access.outcome,
                target=access.target,
                claim_id=claim_ids[0] if len(claim_ids) == 1 else None,
                claim_ids=claim_ids,
                client_address=access.client_address,
                request_id=access.request_id,
            )
        )
        await enqueue(
            unit,
            topic=self._topics.access,
            key=access.actor,
            message_id=record_id,
            model=AccessRecordMessage(
                message_id=record_id,
                at=at,
                actor=access.actor,
                action=access.action,
                outcome=access.outcome,
                target=access.target,
                claim_ids=claim_ids,
                client_address=access.client_address,
                request_id=access.request_id,
            ),
            test=False,
        )

    async def recent(self, limit: int = 100) -> Sequence[AccessRecord]:
        """The newest records first (for tests and support)."""
        from sqlalchemy import select

        async with self._ledger.unit() as unit:
            rows = await unit.session.scalars(
                select(AccessRecord).order_by(AccessRecord.id.desc()).limit(limit)
            )
            return list(rows)
