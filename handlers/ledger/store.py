"""``ClaimLedger``: the repository of the claims ledger over SQLAlchemy's async sessions.

Every change happens inside one ``ClaimLedger.unit()``, a single database transaction: a
message's receipt (its idempotency record), its effects on claims and the outbox messages it
causes commit together or not at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from handlers.ledger.matching import MIN_PREFIX_LENGTH, Candidate, normalise_key
from handlers.ledger.tables import (
    AppliedPayment,
    Claim,
    ClaimIdentifier,
    Delivery,
    FollowUp,
    OutboxMessage,
    ParkedPayment,
    PaymentReceipt,
    Reconciliation,
    TimelineEvent,
    TransactionResult,
    utcnow,
)

__all__ = ["CONTROL_NUMBER", "ClaimLedger", "LedgerUnit"]

CONTROL_NUMBER = "payer_control_number"


def _candidate(claim: Claim) -> Candidate:
    return Candidate(
        claim_id=claim.id,
        claim_number=claim.claim_number,
        charged_amount=claim.charged_amount,
        service_start=claim.service_start,
        service_end=claim.service_end,
        patient_first_name=claim.patient_first_name,
        patient_last_name=claim.patient_last_name,
        patient_dob=claim.patient_dob,
        member_id=claim.member_id,
    )


class LedgerUnit:
    """One database transaction of the ledger; also the ``CandidateLookup`` of matching."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- matching candidates ------------------------------------------------------------
    async def _candidates(self, *where: Any) -> list[Candidate]:
        rows = await self.session.scalars(select(Claim).where(*where).limit(50))
        return [_candidate(c) for c in rows]

    async def by_claim_key(self, key: str) -> Sequence[Candidate]:
        return await self._candidates(Claim.claim_key == key)

    async def by_claim_key_prefix(self, prefix: str) -> Sequence[Candidate]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return await self._candidates(Claim.claim_key.like(f"{escaped}%", escape="\\"))

    async def by_control_number(self, key: str) -> Sequence[Candidate]:
        ids = select(ClaimIdentifier.claim_id).where(
            ClaimIdentifier.kind == CONTROL_NUMBER, ClaimIdentifier.value_key == key
        )
        return await self._candidates(Claim.id.in_(ids))

    async def by_patient(self, last_name: str) -> Sequence[Candidate]:
        return await self._candidates(Claim.patient_last_key == last_name)

    # -- claims -------------------------------------------------------------------------
    async def claim(self, claim_id: int) -> Claim:
        """The claim, row-locked until the unit ends (PostgreSQL; SQLite has one writer)."""
        return await self.session.get_one(Claim, claim_id, with_for_update=True)

    async def claims_by_number(self, numbers: Sequence[str]) -> dict[str, Claim]:
        found: dict[str, Claim] = {}
        for start in range(0, len(numbers), 500):
            chunk = numbers[start : start + 500]
            for claim in await self.session.scalars(
                select(Claim).where(Claim.claim_number.in_(chunk))
            ):
                found[claim.claim_number] = claim
        return found

    async def remember_control_number(self, claim_id: int, value: str) -> None:
        key = normalise_key(value)
        known = await self.session.scalar(
            select(ClaimIdentifier.id).where(
                ClaimIdentifier.kind == CONTROL_NUMBER,
                ClaimIdentifier.value_key == key,
                ClaimIdentifier.claim_id == claim_id,
            )
        )
        if key and known is None:
            self.session.add(
                ClaimIdentifier(claim_id=claim_id, kind=CONTROL_NUMBER, value=value, value_key=key)
            )

    async def reversible_payment(
        self, claim_id: int, control_number: str | None, paid: Decimal
    ) -> AppliedPayment | None:
        """The earlier payment a reversal of ``paid`` (negative) undoes, newest first."""
        rows = await self.session.scalars(
            select(AppliedPayment)
            .where(AppliedPayment.claim_id == claim_id, AppliedPayment.reversed_by_id.is_(None))
            .order_by(AppliedPayment.id.desc())
        )
        wanted = normalise_key(control_number)
        for row in rows:
            same_number = not wanted or normalise_key(row.control_number) == wanted
            if same_number and row.paid_amount == -paid and row.outcome != "reversed":
                return row
        return None

    # -- receipts and parking -----------------------------------------------------------
    async def receipt(self, message_id: str) -> PaymentReceipt | None:
        return await self.session.get(PaymentReceipt, message_id)

    async def original_with_fingerprint(self, fingerprint: str) -> PaymentReceipt | None:
        return await self.session.scalar(
            select(PaymentReceipt)
            .where(PaymentReceipt.fingerprint == fingerprint, PaymentReceipt.state != "duplicate")
            .limit(1)
        )

    async def delivery_receipts(self, delivery_id: str) -> list[PaymentReceipt]:
        rows = await self.session.scalars(
            select(PaymentReceipt).where(PaymentReceipt.delivery_id == delivery_id)
        )
        return list(rows)

    async def count_delivery(self, delivery_id: str, claims_in_batch: int) -> int:
        """Count one more claim of a delivery; the row lock orders concurrent counters."""
        if await self.session.get(Delivery, delivery_id) is None:
            self.session.add(Delivery(delivery_id=delivery_id, claims_in_batch=claims_in_batch))
            await self.session.flush()
        received = await self.session.scalar(
            update(Delivery)
            .where(Delivery.delivery_id == delivery_id)
            .values(received=Delivery.received + 1)
            .returning(Delivery.received)
            .execution_options(synchronize_session=False)
        )
        return int(received or 0)

    async def transaction_result(
        self, delivery_id: str, transaction_index: int
    ) -> TransactionResult | None:
        return await self.session.scalar(
            select(TransactionResult).where(
                TransactionResult.delivery_id == delivery_id,
                TransactionResult.transaction_index == transaction_index,
            )
        )

    async def parked(self, message_id: str) -> ParkedPayment | None:
        return await self.session.scalar(
            select(ParkedPayment).where(ParkedPayment.message_id == message_id)
        )

    async def parked_for_claim(self, claim_key: str) -> list[ParkedPayment]:
        """Unresolved unmatched payments whose claim number is this claim's, or its prefix."""
        rows = await self.session.scalars(
            select(ParkedPayment)
            .where(
                ParkedPayment.resolved_at.is_(None),
                ParkedPayment.reason == "unmatched",
                or_(
                    ParkedPayment.submission_key == claim_key,
                    and_(
                        func.length(ParkedPayment.submission_key) >= MIN_PREFIX_LENGTH,
                        literal(claim_key).startswith(ParkedPayment.submission_key),
                    ),
                ),
            )
            .order_by(ParkedPayment.id)
        )
        return list(rows)

    # -- follow-ups, events, outbox -----------------------------------------------------
    async def follow_up_exists(self, command_id: str) -> bool:
        return await self.session.get(FollowUp, command_id) is not None

    def event(
        self, claim_id: int, kind: str, summary: str, *, message_id: str | None = None
    ) -> None:
        self.session.add(
            TimelineEvent(
                claim_id=claim_id, at=utcnow(), kind=kind, summary=summary, message_id=message_id
            )
        )

    async def has_event(self, claim_id: int, message_id: str) -> bool:
        found = await self.session.scalar(
            select(TimelineEvent.id).where(
                TimelineEvent.claim_id == claim_id, TimelineEvent.message_id == message_id
            )
        )
        return found is not None

    async def enqueue(
        self, *, message_id: str, topic: str, key: str | None, value: str, headers: dict[str, str]
    ) -> None:
        """Add a message to the outbox, unless a message with this id is already there."""
        known = await self.session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.message_id == message_id)
        )
        if known is None:
            self.session.add(
                OutboxMessage(
                    message_id=message_id, topic=topic, key=key, value=value, headers=headers
                )
            )

    def add(self, row: Any) -> None:
        self.session.add(row)

    async def flush(self) -> None:
        await self.session.flush()

    # -- ledger rules (part 2) ----------------------------------------------------------
    # Keyed queries only (by claim id, by content key, by claim key / folded name), so that a
    # batch can prefetch them.
    async def posted_payments(self, claim_id: int) -> list[AppliedPayment]:
        """Every payment posted to the claim (reversals included), oldest first."""
        rows = await self.session.scalars(
            select(AppliedPayment)
            .where(AppliedPayment.claim_id == claim_id)
            .order_by(AppliedPayment.id)
        )
        return list(rows)

    async def posted_with_payment_key(
        self, claim_id: int, payment_key: str
    ) -> AppliedPayment | None:
        """A payment still standing on the claim with the same content key (a duplicate?)."""
        return await self.session.scalar(
            select(AppliedPayment)
            .where(
                AppliedPayment.claim_id == claim_id,
                AppliedPayment.payment_key == payment_key,
                AppliedPayment.reversed_by_id.is_(None),
                AppliedPayment.outcome != "reversed",
            )
            .order_by(AppliedPayment.id)
            .limit(1)
        )

    async def parked_to_match_again(
        self, claim_key: str, patient_last_key: str | None
    ) -> list[ParkedPayment]:
        """Unresolved payments parked unmatched or for review that a new claim may resolve.

        Those whose claim number is the claim's (or its truncated prefix), and, to re-rank
        review candidates, those with the same folded patient last name.
        """
        keyed = [
            ParkedPayment.submission_key == claim_key,
            and_(
                func.length(ParkedPayment.submission_key) >= MIN_PREFIX_LENGTH,
                literal(claim_key).startswith(ParkedPayment.submission_key),
            ),
        ]
        if patient_last_key:
            keyed.append(ParkedPayment.patient_last_key == patient_last_key)
        rows = await self.session.scalars(
            select(ParkedPayment)
            .where(
                ParkedPayment.resolved_at.is_(None),
                ParkedPayment.reason.in_(("unmatched", "needs_review")),
                or_(*keyed),
            )
            .order_by(ParkedPayment.id)
        )
        return list(rows)

    async def parked_for_claim_view(
        self, claim_id: int, claim_key: str, patient_last_key: str | None
    ) -> list[ParkedPayment]:
        """Parked payments held against the claim or naming it as a review candidate."""
        keyed = [ParkedPayment.claim_id == claim_id, ParkedPayment.submission_key == claim_key]
        if patient_last_key:
            keyed.append(ParkedPayment.patient_last_key == patient_last_key)
        rows = await self.session.scalars(
            select(ParkedPayment).where(or_(*keyed)).order_by(ParkedPayment.id)
        )
        return [p for p in rows if p.claim_id == claim_id or claim_id in (p.candidates or [])]

    async def receipts_for_claim(self, claim_id: int) -> list[PaymentReceipt]:
        rows = await self.session.scalars(
            select(PaymentReceipt)
            .where(PaymentReceipt.claim_id == claim_id)
            .order_by(PaymentReceipt.received_at, PaymentReceipt.message_id)
        )
        return list(rows)

    async def receipts_by_id(self, message_ids: Sequence[str]) -> list[PaymentReceipt]:
        if not message_ids:
            return []
        rows = await self.session.scalars(
            select(PaymentReceipt).where(PaymentReceipt.message_id.in_(list(message_ids)))
        )
        return list(rows)


class ClaimLedger:
    """The claims ledger on one database; the owner of the engine disposes of it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # No autoflush: a unit writes in a few batched flushes; code that must read its own
        # writes flushes first (LedgerUnit.flush).
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[LedgerUnit]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        async with self._sessions() as session, session.begin():
            yield LedgerUnit(session)

    async def find_claim(self, reference: str) -> Claim | None:
        """A claim by its claim number, its normalised number, or its ledger id."""
        async with self._sessions() as session:
            claim = await session.scalar(select(Claim).where(Claim.claim_number == reference))
            if claim is None:
                claim = await session.scalar(
                    select(Claim).where(Claim.claim_key == normalise_key(reference)).limit(1)
                )
            if claim is None and reference.isdigit():
                claim = await session.get(Claim, int(reference))
            return claim

    async def history(
        self, claim_id: int
    ) -> tuple[list[TimelineEvent], list[AppliedPayment], list[FollowUp], list[Reconciliation]]:
        async with self._sessions() as session:
            events = await session.scalars(
                select(TimelineEvent)
                .where(TimelineEvent.claim_id == claim_id)
                .order_by(TimelineEvent.at, TimelineEvent.id)
            )
            payments = await session.scalars(
                select(AppliedPayment)
                .where(AppliedPayment.claim_id == claim_id)
                .order_by(AppliedPayment.id)
            )
            follow_ups = await session.scalars(
                select(FollowUp).where(FollowUp.claim_id == claim_id).order_by(FollowUp.created_at)
            )
            recs = await session.scalars(
                select(Reconciliation)
                .where(Reconciliation.claim_id == claim_id)
                .order_by(Reconciliation.id)
            )
            return list(events), list(payments), list(follow_ups), list(recs)

    async def unsent(self, limit: int = 500) -> list[OutboxMessage]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.sent_at.is_(None))
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
            return list(rows)

    async def mark_sent(self, ids: Sequence[int], at: datetime | None = None) -> None:
        if not ids:
            return
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(list(ids)))
                .values(sent_at=at or utcnow())
            )

    async def count(self, table: type[Any], *where: Any) -> int:
        async with self._sessions() as session:
            found = await session.scalar(select(func.count()).select_from(table).where(*where))
            return int(found or 0)
