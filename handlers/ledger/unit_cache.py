"""What one ``LedgerUnit`` knows without asking the database again.

A unit that posts a poll's worth of claim messages loads their keys in a few set-based
queries first (``load``): the receipts of their message ids, the claims of their claim keys and
payer control numbers (row-locked on PostgreSQL) with their follow-ups, the earlier receipts
with their fingerprints, their parked payments, and the claims of the submissions among them.
A message without a receipt has no timeline rows and no follow-ups yet: they are written in
the transaction that writes its receipt. The unit then answers those lookups from here,
together with the rows it added itself; a key that was not loaded is looked up in the
database as before.

Timeline rows, outbox messages, reconciliation results and remembered payer control numbers
are not ORM objects: nothing reads them back before the unit flushes, so ``PendingRows``
collects them and writes each table in bulk through the driver (``_insert``: a binary
``COPY`` on PostgreSQL, ``executemany`` on SQLite).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import any_, bindparam, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.ledger.tables import (
    AppliedPayment,
    Claim,
    ClaimIdentifier,
    FollowUp,
    MoneyText,
    OutboxMessage,
    ParkedPayment,
    PaymentReceipt,
    TimelineEvent,
    UTCDateTime,
)

__all__ = [
    "CHUNK",
    "NewPayment",
    "NewReceipt",
    "PendingRows",
    "PostedRow",
    "ReceiptRow",
    "UnitCache",
    "chunks",
    "driver_value",
    "money_text",
    "one_of",
]

CHUNK = 500
"""Rows per ``IN (...)`` list and per multi-row ``INSERT`` (far below both databases' limits)."""


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def one_of(session: AsyncSession, column: Any, values: Sequence[Any]) -> Any:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``: one parameter, so the
    statement is compiled and prepared once whatever the number of values (an ``IN`` list is
    rendered and prepared again for each length)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


@dataclass(slots=True, eq=False)
class NewReceipt:
    """A ``PaymentReceipt`` the unit adds: plain values, written in a multi-row INSERT."""

    message_id: str
    fingerprint: str
    delivery_id: str
    transaction_index: int
    transaction_id: str | None
    transaction_total: Decimal | None
    credit_or_debit: str | None
    claims_in_batch: int
    paid_amount: Decimal
    state: str
    outcome: str
    payload: str
    received_at: datetime
    duplicate_of: str | None = None
    claim_id: int | None = None


@dataclass(slots=True, eq=False)
class NewPayment:
    """An ``AppliedPayment`` the unit adds, its id given out already (SQLite: the unit's
    counter; PostgreSQL: reserved from the sequence); written in a multi-row INSERT."""

    id: int
    message_id: str
    claim_id: int
    control_number: str | None
    status_text: str | None
    outcome: str
    charged_amount: Decimal | None
    paid_amount: Decimal
    patient_responsibility: Decimal
    adjusted_amount: Decimal
    adjustments: list[dict[str, Any]]
    match_method: str
    match_confidence: Decimal
    paid_at: datetime | None
    applied_at: datetime
    payer_key: str | None
    payer_name: str | None
    payer_rank: int
    prior_payer_amount: Decimal | None
    payment_key: str | None
    reverses_id: int | None = None
    reversed_by_id: int | None = None


ReceiptRow = PaymentReceipt | NewReceipt
"""A receipt as the posting rules see it: loaded from the database, or added by the unit."""
PostedRow = AppliedPayment | NewPayment
"""A posted payment as the posting rules see it: loaded, or added by the unit."""

_RECEIPT_COLUMNS = tuple(NewReceipt.__dataclass_fields__)
_PAYMENT_COLUMNS = tuple(NewPayment.__dataclass_fields__)


@dataclass(slots=True)
class UnitCache:
    """Lookups a unit answers from memory: loaded keys, and the rows it added itself."""

    receipt_ids: set[str] = field(default_factory=set)
    receipts: dict[str, ReceiptRow] = field(default_factory=dict)
    fingerprint_keys: set[str] = field(default_factory=set)
    originals: dict[str, ReceiptRow] = field(default_factory=dict)
    claim_keys: set[str] = field(default_factory=set)
    claims_by_key: dict[str, list[Claim]] = field(default_factory=lambda: defaultdict(list))
    claim_numbers: set[str] = field(default_factory=set)
    claims_by_number: dict[str, Claim] = field(default_factory=dict)
    control_keys: set[str] = field(default_factory=set)
    control: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    locked: dict[int, Claim] = field(default_factory=dict)
    parked_ids: set[str] = field(default_factory=set)
    parked: dict[str, ParkedPayment] = field(default_factory=dict)
    event_message_ids: set[str] = field(default_factory=set)
    events: set[tuple[int, str]] = field(default_factory=set)
    follow_ups: set[str] = field(default_factory=set)
    follow_up_claims: set[int] = field(default_factory=set)
    # The payments posted to a claim, oldest first: loaded for the locked claims, kept up to
    # date by the unit (``applied_added``).
    applied: dict[int, list[PostedRow]] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)

    def claim_added(self, claim: Claim) -> None:
        if claim.claim_key in self.claim_keys:
            self.claims_by_key[claim.claim_key].append(claim)
        self.claims_by_number[claim.claim_number] = claim
        self.claim_numbers.add(claim.claim_number)

    def applied_added(self, row: PostedRow) -> None:
        rows = self.applied.get(row.claim_id)
        if rows is not None:
            rows.append(row)

    def receipt_added(self, receipt: ReceiptRow) -> None:
        self.receipts[receipt.message_id] = receipt
        self.receipt_ids.add(receipt.message_id)
        if receipt.state != "duplicate":
            self.originals.setdefault(receipt.fingerprint, receipt)

    def written(self, receipts: Sequence[NewReceipt], payments: Sequence[NewPayment]) -> None:
        """Forget rows the unit has written: from now on they are read back as ORM rows
        (which the session keeps up to date when a rule changes them)."""
        for receipt in receipts:
            self.receipts.pop(receipt.message_id, None)
            self.receipt_ids.discard(receipt.message_id)
            if self.originals.get(receipt.fingerprint) is receipt:
                del self.originals[receipt.fingerprint]
                self.fingerprint_keys.discard(receipt.fingerprint)
        for payment in payments:
            self.applied.pop(payment.claim_id, None)

    def _claim_loaded(self, claim: Claim) -> None:
        self.locked[claim.id] = claim
        self.claims_by_number[claim.claim_number] = claim

    async def load(
        self,
        session: AsyncSession,
        *,
        message_ids: Sequence[str],
        fingerprints: Sequence[str],
        claim_keys: Sequence[str],
        control_keys: Sequence[str],
        claim_numbers: Sequence[str],
        control_kind: str,
    ) -> None:
        """Fill the cache for these keys: a handful of queries, whatever their number."""
        for ids in chunks(sorted(set(message_ids) - self.receipt_ids)):
            for receipt in await session.scalars(
                select(PaymentReceipt).where(one_of(session, PaymentReceipt.message_id, ids))
            ):
                self.receipts[receipt.message_id] = receipt
            self.receipt_ids.update(ids)
            for parked in await session.scalars(
                select(ParkedPayment).where(one_of(session, ParkedPayment.message_id, ids))
            ):
                self.parked[parked.message_id] = parked
            self.parked_ids.update(ids)
            # A message's timeline rows are written with its receipt, in one transaction: a
            # message without a receipt has none (no query on an unindexed column).
            self.event_message_ids.update(i for i in ids if i not in self.receipts)
        for prints in chunks(sorted(set(fingerprints) - self.fingerprint_keys)):
            for receipt in await session.scalars(
                select(PaymentReceipt).where(
                    one_of(session, PaymentReceipt.fingerprint, prints),
                    PaymentReceipt.state != "duplicate",
                )
            ):
                self.originals.setdefault(receipt.fingerprint, receipt)
            self.fingerprint_keys.update(prints)
        # Claims in id order, so that concurrent units lock them in one order.
        for keys in chunks(sorted(set(claim_keys) - self.claim_keys)):
            for claim in await session.scalars(
                select(Claim)
                .where(one_of(session, Claim.claim_key, keys))
                .order_by(Claim.id)
                .with_for_update()
            ):
                self.claims_by_key[claim.claim_key].append(claim)
                self._claim_loaded(claim)
            self.claim_keys.update(keys)
        for keys in chunks(sorted(set(control_keys) - self.control_keys)):
            identified = await session.execute(
                select(Claim, ClaimIdentifier.value_key)
                .join(ClaimIdentifier, ClaimIdentifier.claim_id == Claim.id)
                .where(
                    ClaimIdentifier.kind == control_kind,
                    one_of(session, ClaimIdentifier.value_key, keys),
                )
                .order_by(Claim.id)
                .with_for_update(of=Claim)
            )
            for claim, key in identified:
                self.control[key].add(claim.id)
                self._claim_loaded(claim)
            self.control_keys.update(keys)
        # The follow-ups of the locked claims: the only claims a unit decides follow-ups for.
        for ids in chunks(sorted(set(self.locked) - self.follow_up_claims)):
            self.follow_ups.update(
                await session.scalars(
                    select(FollowUp.command_id).where(one_of(session, FollowUp.claim_id, ids))
                )
            )
            self.follow_up_claims.update(ids)
        # ... and the payments posted to them (a claim's money is recomputed from them).
        for ids in chunks(sorted(set(self.locked) - set(self.applied))):
            for claim_id in ids:
                self.applied[claim_id] = []
            for row in await session.scalars(
                select(AppliedPayment)
                .where(one_of(session, AppliedPayment.claim_id, ids))
                .order_by(AppliedPayment.id)
            ):
                self.applied[row.claim_id].append(row)
        for numbers in chunks(sorted(set(claim_numbers) - self.claim_numbers)):
            for claim in await session.scalars(
                select(Claim).where(one_of(session, Claim.claim_number, numbers))
            ):
                self.claims_by_number[claim.claim_number] = claim
            self.claim_numbers.update(numbers)


@dataclass(slots=True)
class PendingRows:
    """Timeline rows and outbox messages of a unit, written when it flushes."""

    events: list[dict[str, Any]] = field(default_factory=list)
    outbox: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: dict[type[Any], list[dict[str, Any]]] = field(default_factory=dict)
    receipts: dict[str, NewReceipt] = field(default_factory=dict)
    payments: list[NewPayment] = field(default_factory=list)

    def insert(self, table: type[Any], row: dict[str, Any]) -> None:
        """A row of ``table`` that nothing reads back before the unit flushes."""
        self.rows.setdefault(table, []).append(row)

    def event(
        self, claim_id: int, kind: str, summary: str, message_id: str | None, at: datetime
    ) -> None:
        self.events.append(
            {
                "claim_id": claim_id,
                "at": at,
                "kind": kind,
                "summary": summary,
                "message_id": message_id,
            }
        )

    def enqueue(self, row: dict[str, Any]) -> None:
        self.outbox.setdefault(row["message_id"], row)

    async def write(
        self, session: AsyncSession, now: datetime, claimed_until: datetime | None = None
    ) -> tuple[list[NewReceipt], list[NewPayment], list[dict[str, Any]]]:
        """Insert the pending rows (outbox messages already in the table are left out); the
        receipts, payments and outbox messages written."""
        receipts, self.receipts = list(self.receipts.values()), {}
        await _insert(
            session,
            PaymentReceipt,
            [{c: getattr(r, c) for c in _RECEIPT_COLUMNS} for r in receipts],
        )
        payments, self.payments = sorted(self.payments, key=lambda p: p.id), []
        await _insert(
            session,
            AppliedPayment,
            [{c: getattr(p, c) for c in _PAYMENT_COLUMNS} for p in payments],
        )
        tables, self.rows = self.rows, {}
        for table, table_rows in tables.items():
            await _insert(session, table, table_rows)
        events, self.events = self.events, []
        await _insert(session, TimelineEvent, events)
        outbox, self.outbox = self.outbox, {}
        ids = list(outbox)
        for chunk in chunks(ids):
            known = await session.scalars(
                select(OutboxMessage.message_id).where(
                    one_of(session, OutboxMessage.message_id, chunk)
                )
            )
            for message_id in known:
                outbox.pop(message_id, None)
        written = [
            {**row, "created_at": now, "claimed_until": claimed_until} for row in outbox.values()
        ]
        await _insert(session, OutboxMessage, written)
        return receipts, payments, written


async def _insert(session: AsyncSession, table: type[Any], rows: list[dict[str, Any]]) -> None:
    """Rows of an ORM class's table, written in bulk; rows with the same columns go together.

    Each value is made by its column type's bind processor, exactly as an INSERT through
    SQLAlchemy would send it (money as its text, JSON as its text, UTC times), a column at a
    time (``_driver_values``); then PostgreSQL takes them in one binary ``COPY`` per group and
    SQLite in one ``executemany`` per chunk, both on the unit's own connection (so in its
    transaction). SQLAlchemy's own multi-row INSERT would build and process every row's
    parameters again, a dict at a time."""
    if not rows:
        return
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        by_columns.setdefault(tuple(row), []).append(row)
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection  # asyncpg's or aiosqlite's Connection
    sql_table = table.__table__
    postgres = connection.dialect.name == "postgresql"
    for given, same in by_columns.items():
        columns, records = _driver_values(connection.dialect, sql_table, given, same)
        if postgres:
            await driver.copy_records_to_table(
                sql_table.name, records=records, columns=list(columns)
            )
            continue
        statement = _insert_sql(connection.dialect, sql_table, columns)
        for chunk in chunks(records):
            await driver.executemany(statement, chunk)


@functools.cache
def _insert_sql(dialect: Any, sql_table: Any, columns: tuple[str, ...]) -> str:
    """The driver's own INSERT text for these columns (SQLite: ``?`` placeholders)."""
    return str(insert(sql_table).compile(dialect=dialect, column_keys=list(columns)))


def driver_value(dialect: Any, column_type: Any) -> Callable[[Any], Any] | None:
    """The column type's bind processor, as SQLAlchemy would apply it; for the ledger's own
    money and time types the same result made directly (``tests/ledger/test_bulk_values.py``
    compares them): they are most of a poll's values."""
    if isinstance(column_type, MoneyText):
        return money_text
    if isinstance(column_type, UTCDateTime) and dialect.name == "sqlite":
        return _sqlite_utc_text
    if isinstance(column_type, UTCDateTime) and dialect.name == "postgresql":
        return _utc
    return column_type.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]


def money_text(value: Decimal | None) -> str | None:
    """An amount as ``MoneyText`` stores it."""
    return None if value is None else format(value, "f")


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """SQLite's ``DATETIME`` text of the UTC time (``2026-11-30 19:40:00.000000``)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _driver_values(
    dialect: Any, sql_table: Any, given: tuple[str, ...], rows: list[dict[str, Any]]
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The rows as the database driver takes them, and their columns: the given ones, then
    those left out that have a default (the column's own, as an INSERT would apply it; one
    value for the group). Each column goes through its type's bind processor; a time column
    once per distinct time (a poll's rows share them)."""
    values: list[list[Any]] = []
    columns: list[str] = []
    for column in sql_table.c:  # in the table's order, as a compiled INSERT lists them
        default = column.default
        if column.name in given:
            values.append([row[column.name] for row in rows])
        elif default is not None and (default.is_scalar or default.is_callable):
            value = default.arg(None) if default.is_callable else default.arg
            values.append([value] * len(rows))
        else:
            continue
        columns.append(column.name)
    for index, name in enumerate(columns):
        column_type = sql_table.c[name].type
        process = driver_value(dialect, column_type)
        if process is None:
            continue
        if isinstance(column_type, UTCDateTime):  # a unit's rows share its time
            made = {v: process(v) for v in set(values[index])}
            values[index] = [made[v] for v in values[index]]
        else:
            values[index] = [process(v) for v in values[index]]
    return tuple(columns), list(zip(*values, strict=True))
