"""``ClaimLedger``: the repository of the claims ledger over SQLAlchemy's async sessions.

Every change happens inside one ``ClaimLedger.unit()``, a single database transaction: a
message's receipt (its idempotency record), its effects on claims and the outbox messages it
causes commit together or not at all. A unit may hold one message or a poll's worth of them:
``LedgerUnit.prefetch`` loads a batch's keys in a few set-based queries and the unit writes
its rows in bulk (``handlers.ledger.unit_cache``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, insert, inspect, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

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
from handlers.ledger.unit_cache import (
    NewPayment,
    NewReceipt,
    PendingRows,
    PostedRow,
    ReceiptRow,
    UnitCache,
    chunks,
    driver_value,
    money_text,
    one_of,
)
from router.messages import ClaimPaymentMessage, ClaimSubmissionMessage

__all__ = [
    "CONTROL_NUMBER",
    "ClaimLedger",
    "DeferredCount",
    "LedgerUnit",
    "TransactionTotal",
    "UnsentMessage",
]

CONTROL_NUMBER = "payer_control_number"
STREAM_CHUNK = 1000
CLAIM_MONEY_COLUMNS = ("paid_amount", "patient_responsibility", "adjusted_amount", "status")
"""What posting changes on a claim (with ``updated_at``): written for a whole unit at once."""


@dataclass(frozen=True, slots=True)
class UnsentMessage:
    """An outbox message to publish."""

    id: int
    topic: str
    key: str | None
    value: str
    headers: dict[str, str]
    message_id: str


@dataclass(slots=True)
class TransactionTotal:
    """One transaction of a delivery: its header and the sum of its claim payments."""

    index: int
    transaction_id: str | None
    total: Decimal | None
    credit_or_debit: str | None
    paid: Decimal = Decimal("0")
    claims: int = 0
    duplicates: int = 0

    def add(self, paid: Decimal, *, duplicate: bool) -> None:
        self.paid += paid
        self.claims += 1
        self.duplicates += duplicate


@dataclass(slots=True)
class DeferredCount:
    """The claims of one delivery that a unit posted, to be counted when it ends."""

    first: ClaimPaymentMessage
    last: ClaimPaymentMessage
    claims: int = 1


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


def _columns(row: Any) -> dict[str, Any]:
    """A new ORM row as the column values of an INSERT (the database makes its id)."""
    return {
        attr.key: getattr(row, attr.key)
        for attr in inspect(type(row)).column_attrs
        if attr.key != "id"
    }


_UPDATE_CLAIM_MONEY = text(
    "UPDATE claims SET paid_amount = m.paid, patient_responsibility = m.patient, "
    "adjusted_amount = m.adjusted, status = m.status, updated_at = m.updated "
    "FROM unnest(CAST(:ids AS BIGINT[]), CAST(:paid AS TEXT[]), CAST(:patient AS TEXT[]), "
    "CAST(:adjusted AS TEXT[]), CAST(:status AS TEXT[]), CAST(:updated AS TIMESTAMPTZ[])) "
    "AS m(id, paid, patient, adjusted, status, updated) WHERE claims.id = m.id"
)
"""PostgreSQL: the money of many claims in one statement (arrays, one per column)."""

_SQLITE_UPDATE_CLAIM_MONEY = (
    "UPDATE claims SET paid_amount = ?, patient_responsibility = ?, adjusted_amount = ?, "
    "status = ?, updated_at = ? WHERE id = ?"
)
"""SQLite: the money of one claim, for the driver's ``executemany``."""


class LedgerUnit:
    """One database transaction of the ledger; also the ``CandidateLookup`` of matching.

    ``prefetch`` loads the keys of a batch of messages in a few set-based queries; lookups of
    loaded keys (and of rows the unit added) are then answered from memory. Timeline rows and
    outbox messages are written when the unit flushes, each table in bulk.
    """

    def __init__(
        self,
        session: AsyncSession,
        claimed: set[str] | None = None,
        *,
        now: datetime | None = None,
        marks: list[str] | None = None,
    ) -> None:
        self.session = session
        self.now = now if now is not None else utcnow()
        """The unit's time: every row it writes carries it (created, received, applied,
        decided), as PostgreSQL's ``now()`` is its transaction's start. Its rows are ordered
        by their ids, which follow the order they were added in."""
        # The outbox messages this unit wrote, when it publishes them itself after its commit
        # (``claimed``: the ledger's set of such messages, which its relay's flush leaves out).
        self._claimed = claimed
        self.outbox_written: list[UnsentMessage] = []
        # Outbox messages this process published and owes their "sent" mark
        # (``ClaimLedger.unmarked``): marked in this unit's transaction; given back on rollback.
        self._marks = marks
        self._marking: list[str] = []
        self._cache = UnitCache()
        self._pending = PendingRows()
        self._deliveries: dict[str, Delivery] = {}
        # Set when the unit hands out a claim whose follow-ups were not loaded: from then on
        # ``follow_up_exists`` asks the database.
        self._unloaded_claim = False
        # SQLite: the next applied payment id, given out by the unit (one writer), so that its
        # INSERTs go in one statement instead of one each (see ``add``).
        self._next_applied_id: int | None = None
        # PostgreSQL: applied payment ids reserved from the table's sequence in one query per
        # batch, for the same reason, and so that a claim's money is recomputed without a
        # flush per message (``posted_payments``).
        self._reserved_applied_ids: list[int] = []
        self._payloads: dict[str, str] = {}
        self._deferring = False
        self._deferred: dict[str, DeferredCount] = {}

    async def prefetch(
        self, messages: Iterable[ClaimPaymentMessage | ClaimSubmissionMessage]
    ) -> None:
        """Load what posting these messages will look up; nothing changes in the database."""
        from handlers.ledger.posting import fingerprint  # posting imports this module

        payments = [m for m in messages if isinstance(m, ClaimPaymentMessage)]
        submissions = [m for m in messages if isinstance(m, ClaimSubmissionMessage)]
        prints = self._cache.fingerprints
        for m in payments:
            prints[m.message_id] = fingerprint(m)
        await self._cache.load(
            self.session,
            message_ids=[m.message_id for m in payments],
            fingerprints=[prints[m.message_id] for m in payments],
            claim_keys=[k for m in payments if (k := normalise_key(m.claim.submission_number))],
            control_keys=[k for m in payments if (k := normalise_key(m.claim.control_number))],
            claim_numbers=[n for m in submissions if (n := m.claim.submission_number)],
            control_kind=CONTROL_NUMBER,
        )
        dialect = self.session.get_bind().dialect.name
        if self._next_applied_id is None and dialect == "sqlite":
            last = await self.session.scalar(select(func.max(AppliedPayment.id)))
            self._next_applied_id = (last or 0) + 1
        elif dialect == "postgresql" and payments:
            reserved = await self.session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence('applied_payments', 'id')) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": len(payments)},
            )
            self._reserved_applied_ids.extend(sorted(reserved))

    def keep_payload(self, message_id: str, value: bytes) -> None:
        """The message's JSON as it arrived: stored as its payload instead of dumping it again.

        Only for bytes a ``ClaimPaymentMessage`` was validated from (the router writes them
        with ``model_dump_json(by_alias=True)``, the very text a dump would give).
        """
        self._payloads[message_id] = value.decode()

    def payload(self, message: ClaimPaymentMessage) -> str:
        """The JSON text stored for a payment (receipt, parked payment)."""
        found = self._payloads.get(message.message_id)
        if found is None:
            found = self._payloads[message.message_id] = message.model_dump_json(by_alias=True)
        return found

    def insert(self, table: type[Any], row: dict[str, Any]) -> None:
        """A new row (its column values) that nothing reads back before the unit flushes:
        written with the others of its table in one multi-row INSERT."""
        self._pending.insert(table, row)

    def fingerprint(self, message: ClaimPaymentMessage) -> str:
        """``posting.fingerprint(message)``, computed once per unit (``prefetch`` needs it)."""
        from handlers.ledger.posting import fingerprint

        found = self._cache.fingerprints.get(message.message_id)
        if found is None:
            found = self._cache.fingerprints[message.message_id] = fingerprint(message)
        return found

    # -- matching candidates ------------------------------------------------------------
    async def _candidates(self, *where: Any) -> list[Candidate]:
        rows = await self.session.scalars(select(Claim).where(*where).limit(50))
        return [_candidate(c) for c in rows]

    async def by_claim_key(self, key: str) -> Sequence[Candidate]:
        if key in self._cache.claim_keys:
            return [_candidate(c) for c in self._cache.claims_by_key.get(key, [])[:50]]
        return await self._candidates(Claim.claim_key == key)

    async def by_claim_key_prefix(self, prefix: str) -> Sequence[Candidate]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return await self._candidates(Claim.claim_key.like(f"{escaped}%", escape="\\"))

    async def by_control_number(self, key: str) -> Sequence[Candidate]:
        if key in self._cache.control_keys:
            found = [await self.claim(i) for i in sorted(self._cache.control.get(key, ()))]
            return [_candidate(c) for c in found[:50]]
        ids = select(ClaimIdentifier.claim_id).where(
            ClaimIdentifier.kind == CONTROL_NUMBER, ClaimIdentifier.value_key == key
        )
        return await self._candidates(Claim.id.in_(ids))

    async def by_patient(self, last_name: str) -> Sequence[Candidate]:
        return await self._candidates(Claim.patient_last_key == last_name)

    # -- claims -------------------------------------------------------------------------
    async def claim(self, claim_id: int) -> Claim:
        """The claim, row-locked until the unit ends (PostgreSQL; SQLite has one writer)."""
        claim = self._cache.locked.get(claim_id)
        if claim is None:
            claim = await self.session.get_one(Claim, claim_id, with_for_update=True)
            self._cache.locked[claim_id] = claim
            self._unloaded_claim = True
        return claim

    async def claims_by_number(self, numbers: Sequence[str]) -> dict[str, Claim]:
        cache = self._cache
        found = {n: cache.claims_by_number[n] for n in numbers if n in cache.claims_by_number}
        wanted = [n for n in numbers if n not in found and n not in cache.claim_numbers]
        for chunk in chunks(wanted):
            for claim in await self.session.scalars(
                select(Claim).where(Claim.claim_number.in_(chunk))
            ):
                found[claim.claim_number] = claim
        return found

    async def insert_claims(self, rows: list[dict[str, Any]]) -> dict[str, int]:
        """Add new claims (their column values) in multi-row INSERTs; their ids by number."""
        ids: dict[str, int] = {}
        for chunk in chunks(rows):
            await self.session.execute(insert(Claim), list(chunk))
            found = await self.session.execute(
                select(Claim.claim_number, Claim.id).where(
                    Claim.claim_number.in_([r["claim_number"] for r in chunk])
                )
            )
            ids.update((number, claim_id) for number, claim_id in found)
        return ids

    async def remember_control_number(self, claim_id: int, value: str) -> None:
        key = normalise_key(value)
        if not key:
            return
        if key in self._cache.control_keys:
            known = claim_id in self._cache.control.get(key, ())
        else:
            known = (
                await self.session.scalar(
                    select(ClaimIdentifier.id).where(
                        ClaimIdentifier.kind == CONTROL_NUMBER,
                        ClaimIdentifier.value_key == key,
                        ClaimIdentifier.claim_id == claim_id,
                    )
                )
                is not None
            )
        if not known:
            self._pending.insert(
                ClaimIdentifier,
                {
                    "claim_id": claim_id,
                    "kind": CONTROL_NUMBER,
                    "value": value,
                    "value_key": key,
                    "created_at": self.now,
                },
            )
            if key in self._cache.control_keys:
                self._cache.control[key].add(claim_id)

    async def reversible_payment(
        self, claim_id: int, control_number: str | None, paid: Decimal
    ) -> PostedRow | None:
        """The earlier payment a reversal of ``paid`` (negative) undoes, newest first."""
        wanted = normalise_key(control_number)
        for row in reversed(await self.payments_on_claim(claim_id)):
            if row.reversed_by_id is not None:
                continue
            same_number = not wanted or normalise_key(row.control_number) == wanted
            if same_number and row.paid_amount == -paid and row.outcome != "reversed":
                return row
        return None

    # -- receipts and parking -----------------------------------------------------------
    async def receipt(self, message_id: str) -> PaymentReceipt | None:
        """The message's receipt as an ORM row (a change to it is written by the session)."""
        if message_id in self._pending.receipts:
            await self.flush()  # the unit's own receipt, written, then read back
        found = await self.current_receipt(message_id)
        assert not isinstance(found, NewReceipt)  # written ones are forgotten by the cache
        return found

    async def current_receipt(self, message_id: str) -> ReceiptRow | None:
        """The message's receipt: loaded, or added by this unit and not written yet."""
        if message_id in self._cache.receipt_ids:
            return self._cache.receipts.get(message_id)
        return await self.session.get(PaymentReceipt, message_id)

    async def original_with_fingerprint(self, fingerprint: str) -> ReceiptRow | None:
        original = self._cache.originals.get(fingerprint)
        if original is not None or fingerprint in self._cache.fingerprint_keys:
            return original
        return await self.session.scalar(
            select(PaymentReceipt)
            .where(PaymentReceipt.fingerprint == fingerprint, PaymentReceipt.state != "duplicate")
            .limit(1)
        )

    async def count_delivery(self, delivery_id: str, claims_in_batch: int, by: int = 1) -> int:
        """Count ``by`` more claims of a delivery; the row lock orders concurrent counters.

        The delivery's row is made if missing and locked once per unit; the count is written
        when the unit flushes.
        """
        delivery = self._deliveries.get(delivery_id)
        if delivery is None:
            delivery = await self._lock_delivery(delivery_id, claims_in_batch)
        delivery.received += by
        return delivery.received

    def defer_delivery_counts(self) -> None:
        """Count the claims of each delivery when the unit ends (``deferred_counts``) instead
        of as each is posted: the delivery's row is then locked from the end of the unit to
        its commit only, so that units posting other claims of the same delivery (other
        partitions, other replicas) are not held up for the whole of this one."""
        self._deferring = True

    @property
    def defers_delivery_counts(self) -> bool:
        return self._deferring

    def count_later(self, message: ClaimPaymentMessage) -> None:
        """A claim of a delivery, counted when the unit ends (``defer_delivery_counts``)."""
        found = self._deferred.get(message.delivery.log_id)
        if found is None:
            self._deferred[message.delivery.log_id] = DeferredCount(message, message)
        else:
            found.last = message
            found.claims += 1

    def deferred_counts(self) -> list[DeferredCount]:
        """The deliveries counted later, in delivery id order (the order their rows are
        locked in, whatever unit locks them); forgotten once handed out."""
        found, self._deferred = self._deferred, {}
        return [found[d] for d in sorted(found)]

    async def _lock_delivery(self, delivery_id: str, claims_in_batch: int) -> Delivery:
        dialect = self.session.get_bind().dialect.name
        upsert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        await self.session.execute(
            upsert(Delivery)
            .values(
                delivery_id=delivery_id,
                claims_in_batch=claims_in_batch,
                received=0,
                created_at=self.now,
            )
            .on_conflict_do_nothing(index_elements=["delivery_id"])
        )
        delivery = await self.session.get_one(
            Delivery, delivery_id, with_for_update=True, populate_existing=True
        )
        self._deliveries[delivery_id] = delivery
        return delivery

    async def delivery_totals(self, delivery_id: str) -> list[TransactionTotal]:
        """Each transaction of a delivery with the sum of its claim payments, streamed in SQL.

        Only the few columns the check needs are read, a chunk at a time, so a delivery of
        100,000 claims costs the memory of one chunk.
        """
        await self.flush()
        totals: dict[int, TransactionTotal] = {}
        last = ""
        while True:
            rows = (
                await self.session.execute(
                    select(
                        PaymentReceipt.message_id,
                        PaymentReceipt.transaction_index,
                        PaymentReceipt.transaction_id,
                        PaymentReceipt.transaction_total,
                        PaymentReceipt.credit_or_debit,
                        PaymentReceipt.paid_amount,
                        PaymentReceipt.state,
                    )
                    .where(
                        PaymentReceipt.delivery_id == delivery_id, PaymentReceipt.message_id > last
                    )
                    .order_by(PaymentReceipt.message_id)
                    .limit(STREAM_CHUNK)
                )
            ).all()
            for mid, index, tid, total, credit, paid, state in rows:
                entry = totals.get(index)
                if entry is None:
                    entry = totals[index] = TransactionTotal(index, tid, total, credit)
                entry.add(paid, duplicate=state == "duplicate")
                last = mid
            if len(rows) < STREAM_CHUNK:
                return [totals[i] for i in sorted(totals)]

    async def applied_receipts(
        self, delivery_id: str, transaction_index: int
    ) -> AsyncIterator[list[PaymentReceipt]]:
        """The applied, matched receipts of one transaction, a chunk at a time."""
        last = ""
        while True:
            rows = list(
                await self.session.scalars(
                    select(PaymentReceipt)
                    .where(
                        PaymentReceipt.delivery_id == delivery_id,
                        PaymentReceipt.transaction_index == transaction_index,
                        PaymentReceipt.state == "applied",
                        PaymentReceipt.claim_id.is_not(None),
                        PaymentReceipt.message_id > last,
                    )
                    .order_by(PaymentReceipt.message_id)
                    .limit(STREAM_CHUNK)
                )
            )
            if rows:
                last = rows[-1].message_id
                yield rows
            if len(rows) < STREAM_CHUNK:
                return

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
        if message_id in self._cache.parked or message_id in self._cache.parked_ids:
            return self._cache.parked.get(message_id)
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
        if command_id in self._cache.follow_ups:
            return True
        if self._cache.follow_up_claims and not self._unloaded_claim:
            # Follow-ups are decided only for claims the unit handed out (``claim``), and the
            # follow-ups of all of those were loaded by ``prefetch``.
            return False
        return await self.session.get(FollowUp, command_id) is not None

    def event(
        self, claim_id: int, kind: str, summary: str, *, message_id: str | None = None
    ) -> None:
        self._pending.event(claim_id, kind, summary, message_id, self.now)
        if message_id is not None:
            self._cache.events.add((claim_id, message_id))

    async def has_event(self, claim_id: int, message_id: str) -> bool:
        if (claim_id, message_id) in self._cache.events:
            return True
        if message_id in self._cache.event_message_ids:
            return False
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
        self._pending.enqueue(
            {
                "message_id": message_id,
                "topic": topic,
                "key": key,
                "value": value,
                "headers": headers,
            }
        )

    def new_payment(self, **columns: Any) -> PostedRow:
        """Post a payment to a claim (``AppliedPayment``'s columns but its id).

        With an id at hand (``prefetch`` gives them out) it is a plain row written in a
        multi-row INSERT at the flush; otherwise an ORM row the session numbers at the flush.
        """
        if self._next_applied_id:
            row = NewPayment(id=self._next_applied_id, **columns)
            self._next_applied_id += 1
        elif self._reserved_applied_ids:
            row = NewPayment(id=self._reserved_applied_ids.pop(0), **columns)
        else:
            orm = AppliedPayment(**columns)
            self.session.add(orm)
            self._cache.applied_added(orm)
            return orm
        self._pending.payments.append(row)
        self._cache.applied_added(row)
        return row

    def add(self, row: Any) -> None:
        if isinstance(row, NewReceipt):
            self._pending.receipts[row.message_id] = row
            self._cache.receipt_added(row)
            return
        if isinstance(row, Reconciliation):
            # Written, never read back in a unit: one multi-row INSERT at the flush (an ORM
            # INSERT that returns ids goes row by row on SQLite).
            self._pending.insert(Reconciliation, _columns(row))
            return
        if isinstance(row, AppliedPayment):
            if row.id is None and self._next_applied_id:
                row.id, self._next_applied_id = self._next_applied_id, self._next_applied_id + 1
            elif row.id is None and self._reserved_applied_ids:
                row.id = self._reserved_applied_ids.pop(0)
            self._cache.applied_added(row)
        self.session.add(row)
        if isinstance(row, PaymentReceipt):
            self._cache.receipt_added(row)
        elif isinstance(row, Claim):
            self._cache.claim_added(row)
        elif isinstance(row, ParkedPayment):
            self._cache.parked[row.message_id] = row
        elif isinstance(row, FollowUp):
            self._cache.follow_ups.add(row.command_id)

    async def flush(self) -> None:
        """Write everything the unit holds: ORM rows first, then timeline and outbox rows."""
        await self._write_claim_money()
        await self.session.flush()
        claimed_until = self.now + OUTBOX_CLAIM if self._claimed is not None else None
        receipts, payments, outbox = await self._pending.write(
            self.session, self.now, claimed_until
        )
        self._cache.written(receipts, payments)
        if self._marks:
            marking, self._marks[:] = list(self._marks), []
            self._marking += marking
            await _update_outbox(
                self.session, marking, OutboxMessage.sent_at.is_(None), sent_at=self.now
            )
        if self._claimed is not None:
            for row in outbox:
                self._claimed.add(row["message_id"])
                self.outbox_written.append(
                    UnsentMessage(
                        0, row["topic"], row["key"], row["value"], row["headers"], row["message_id"]
                    )
                )

    def release_outbox(self) -> None:
        """Give this unit's outbox messages back to the relay's flush (rolled back, or not
        published by the unit's owner)."""
        if self._claimed is not None:
            self._claimed.difference_update(m.message_id for m in self.outbox_written)
        self.outbox_written = []
        if self._marks is not None:
            self._marks += self._marking  # still owed
        self._marking = []

    async def _write_claim_money(self) -> None:
        """The money of the claims the unit recomputed, written for the whole unit at once
        instead of the session's UPDATE per claim: on PostgreSQL ONE ``UPDATE ... FROM
        unnest(...)`` per chunk (an array per column), on SQLite one ``executemany`` of the
        driver. The claims are then clean in the session (its flush has nothing left to write
        for them). Claims with any other change are left to the session."""
        written = (*CLAIM_MONEY_COLUMNS, "updated_at")
        changed = []
        for claim in self._cache.locked.values():
            state = inspect(claim)
            if state.modified and state.persistent and set(state.committed_state) <= set(written):
                changed.append(claim)
        if len(changed) < 2:
            return
        connection = await self.session.connection()
        dialect = connection.dialect
        if dialect.name == "postgresql":
            for chunk in chunks(changed):
                await self.session.execute(
                    _UPDATE_CLAIM_MONEY,
                    {
                        "ids": [c.id for c in chunk],
                        "paid": [money_text(c.paid_amount) for c in chunk],
                        "patient": [money_text(c.patient_responsibility) for c in chunk],
                        "adjusted": [money_text(c.adjusted_amount) for c in chunk],
                        "status": [c.status for c in chunk],
                        "updated": [c.updated_at for c in chunk],
                    },
                )
        else:
            stamp = driver_value(dialect, Claim.__table__.c.updated_at.type)
            assert stamp is not None
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection  # aiosqlite's, in the unit's transaction
            for chunk in chunks(changed):
                await driver.executemany(
                    _SQLITE_UPDATE_CLAIM_MONEY,
                    [
                        (
                            money_text(c.paid_amount),
                            money_text(c.patient_responsibility),
                            money_text(c.adjusted_amount),
                            c.status,
                            stamp(c.updated_at),
                            c.id,
                        )
                        for c in chunk
                    ],
                )
        for claim in changed:
            for name in written:
                set_committed_value(claim, name, getattr(claim, name))

    # -- ledger rules (part 2) ----------------------------------------------------------
    # Keyed queries only (by claim id, by content key, by claim key / folded name), so that a
    # batch can prefetch them.
    async def posted_payments(self, claim_id: int) -> list[AppliedPayment]:
        """Every payment posted to the claim (reversals included), oldest first: ORM rows."""
        rows = await self.payments_on_claim(claim_id)
        if all(isinstance(row, AppliedPayment) for row in rows):
            return [row for row in rows if isinstance(row, AppliedPayment)]
        await self.flush()  # the unit's own rows, written, then read back
        rows = await self.payments_on_claim(claim_id)
        return [row for row in rows if isinstance(row, AppliedPayment)]

    async def payments_on_claim(self, claim_id: int) -> list[PostedRow]:
        """Every payment posted to the claim (reversals included), oldest first.

        From memory once loaded (``prefetch`` loads those of the batch's claims) and while
        every row has its id; otherwise the unit flushes and asks the database.
        """
        cache = self._cache
        rows = cache.applied.get(claim_id)
        if rows is not None and all(row.id is not None for row in rows):
            return list(rows)
        await self.flush()
        found = await self.session.scalars(
            select(AppliedPayment)
            .where(AppliedPayment.claim_id == claim_id)
            .order_by(AppliedPayment.id)
        )
        cache.applied[claim_id] = list(found)
        return list(cache.applied[claim_id])

    async def posted_with_payment_key(self, claim_id: int, payment_key: str) -> PostedRow | None:
        """A payment still standing on the claim with the same content key (a duplicate?)."""
        for row in await self.payments_on_claim(claim_id):
            if (
                row.payment_key == payment_key
                and row.reversed_by_id is None
                and row.outcome != "reversed"
            ):
                return row
        return None

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

    async def parked_to_match_again_for(
        self, claim_keys: Sequence[str], patient_last_keys: Sequence[str]
    ) -> list[ParkedPayment]:
        """``parked_to_match_again`` for many new claims at once: each payment once, oldest first.

        A few set-based queries (claim keys and their truncated prefixes, folded last names),
        however many claims a chunk of an import adds.
        """
        prefixes: set[str] = set()
        for key in claim_keys:
            prefixes.update(key[:end] for end in [len(key), *range(MIN_PREFIX_LENGTH, len(key))])
        open_ = [
            ParkedPayment.resolved_at.is_(None),
            ParkedPayment.reason.in_(("unmatched", "needs_review")),
        ]
        found: dict[int, ParkedPayment] = {}
        for column, values in (
            (ParkedPayment.submission_key, sorted(prefixes)),
            (ParkedPayment.patient_last_key, sorted({k for k in patient_last_keys if k})),
        ):
            for chunk in chunks(values):
                rows = await self.session.scalars(
                    select(ParkedPayment).where(*open_, column.in_(chunk))
                )
                found.update((p.id, p) for p in rows)
        return [found[i] for i in sorted(found)]

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
            select(PaymentReceipt).where(
                one_of(self.session, PaymentReceipt.message_id, message_ids)
            )
        )
        return list(rows)


OUTBOX_CLAIM = timedelta(seconds=30)
"""How long the process whose unit wrote an outbox message keeps relays away from it (it
publishes the message itself, and marks it sent in its next unit): long enough for a slow
broker, short enough that a process that stopped leaves little waiting."""


async def _update_outbox(
    session: AsyncSession, message_ids: Sequence[str], *where: Any, **values: Any
) -> None:
    """Set ``values`` on the outbox rows of these message ids (and ``where``), in the
    session's transaction."""
    for chunk in chunks(message_ids):
        await session.execute(
            update(OutboxMessage)
            .where(one_of(session, OutboxMessage.message_id, chunk), *where)
            .values(**values)
        )


def _unclaimed() -> Any:
    """Outbox rows no process publishes itself (no claim, or one that has passed)."""
    return or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < utcnow())


class ClaimLedger:
    """The claims ledger on one database; the owner of the engine disposes of it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # No autoflush: a unit writes in a few batched flushes; code that must read its own
        # writes flushes first (LedgerUnit.flush).
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self.claimed_outbox: set[str] = set()
        """Outbox messages that units of this process wrote and publish themselves once
        committed (``unit(publish_outbox=True)``): ``unsent`` callers leave them out."""
        self.unmarked: list[str] = []
        """Outbox messages this process published itself and has not marked sent yet: its
        next ``unit(publish_outbox=True)`` marks them in its own transaction, else
        ``mark_unmarked`` (the relay's round). Their claim keeps relays away meanwhile."""

    @asynccontextmanager
    async def unit(self, *, publish_outbox: bool = False) -> AsyncIterator[LedgerUnit]:
        """One transaction: committed when the block ends, rolled back if it raises.

        With ``publish_outbox``, the caller publishes the unit's outbox messages after the
        commit (``OutboxRelay.publish_written`` with ``unit.outbox_written``) instead of the
        relay reading them back; until then they are in ``claimed_outbox``, and in the table
        they are claimed (``OutboxMessage.claimed_until``: the unit's time + ``OUTBOX_CLAIM``)
        so that no other process's relay publishes them. The unit also marks sent what this
        process published before (``unmarked``)."""
        async with self._sessions() as session:
            unit = (
                LedgerUnit(session, self.claimed_outbox, marks=self.unmarked)
                if publish_outbox
                else LedgerUnit(session)
            )
            try:
                async with session.begin():
                    yield unit
                    await unit.flush()
            except BaseException:
                unit.release_outbox()
                raise

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

    async def unsent(self, limit: int = 500, *, skip: Collection[str] = ()) -> list[UnsentMessage]:
        """The oldest unsent outbox messages but ``skip`` (plain rows: no ORM objects)."""
        async with self._sessions() as session:
            query = (
                select(
                    OutboxMessage.id,
                    OutboxMessage.topic,
                    OutboxMessage.key,
                    OutboxMessage.value,
                    OutboxMessage.headers,
                    OutboxMessage.message_id,
                )
                .where(OutboxMessage.sent_at.is_(None), _unclaimed())
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
            if skip:
                query = query.where(~one_of(session, OutboxMessage.message_id, list(skip)))
            rows = await session.execute(query)
            return [UnsentMessage(*row) for row in rows]

    async def unsent_besides(self, claimed: Collection[str]) -> bool:
        """Whether an unsent outbox message other than ``claimed`` ones is waiting: a look at
        the oldest ``len(claimed) + 1`` unsent message ids (no list of ids sent along)."""
        async with self._sessions() as session:
            found = await session.scalars(
                select(OutboxMessage.message_id)
                .where(OutboxMessage.sent_at.is_(None), _unclaimed())
                .order_by(OutboxMessage.id)
                .limit(len(claimed) + 1)
            )
            return any(message_id not in claimed for message_id in found)

    async def mark_sent(self, ids: Sequence[int], at: datetime | None = None) -> None:
        if not ids:
            return
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(one_of(session, OutboxMessage.id, ids))
                .values(sent_at=at or utcnow())
            )

    async def mark_sent_messages(self, message_ids: Sequence[str]) -> None:
        """Mark outbox messages sent by their message ids (one transaction)."""
        if not message_ids:
            return
        async with self._sessions() as session, session.begin():
            await _update_outbox(session, message_ids, sent_at=utcnow())

    async def mark_unmarked(self) -> None:
        """Mark sent, in a transaction of their own, the messages this process published and
        no unit has marked yet (``unmarked``); given back if that fails."""
        marking, self.unmarked[:] = list(self.unmarked), []
        try:
            await self.mark_sent_messages(marking)
        except BaseException:
            self.unmarked += marking
            raise

    async def release_claims(self, message_ids: Sequence[str]) -> None:
        """End this process's claim on these outbox messages: relays publish them now."""
        if not message_ids:
            return
        async with self._sessions() as session, session.begin():
            await _update_outbox(session, message_ids, claimed_until=None)

    async def count(self, table: type[Any], *where: Any) -> int:
        async with self._sessions() as session:
            found = await session.scalar(select(func.count()).select_from(table).where(*where))
            return int(found or 0)
