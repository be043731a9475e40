"""Every query the worklist makes over the ledger's tables, in one place.

The queues are read from the ledger (``handlers/ledger/tables.py``): parked payments (needs
review: several candidates, a match by patient details only, or a payment held off a claim's
money as a possible duplicate, a reversal without its original or a negative payment;
unmatched), claims (denied, overpaid with a credit balance), reconciliations (unbalanced) and
transaction results (total differs). The claim page's money per payer is the ledger's own
claim view (``handlers/ledger/claim_view.py``), never re-derived here. The pages only see
:class:`QueueRow`, :class:`QueuePage` and :class:`ClaimView`.

Lists page by cursor (keyset over the sort value and the item id), so the thousandth page
costs what the first one does. Money is read as the ledger's exact decimal text; the numeric
cast is used only to filter and sort.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Numeric,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql.expression import ColumnClause

from handlers.ledger.claim_view import ClaimView as LedgerClaimView
from handlers.ledger.claim_view import claim_view
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import (
    AppliedPayment,
    Claim,
    FollowUp,
    ParkedPayment,
    PaymentReceipt,
    Reconciliation,
    TimelineEvent,
    TransactionResult,
    UTCDateTime,
    claim_credit_balance,
)
from worklist.cursor import Cursor
from worklist.followup_state import (
    PartnerAnswer,
    answer_words,
    attachments_unknown,
    partner_answered,
    partner_answers_for,
)
from worklist.json_text import json_text
from worklist.queues import QUEUES, QueueKind, SortKey
from worklist.reasons import money_text, reason_for

__all__ = [
    "HOLD_REASONS",
    "ClaimView",
    "Money",
    "PaymentLine",
    "QueueFilter",
    "QueuePage",
    "QueueRow",
    "ReadModel",
    "TimelineEntry",
    "claim_version",
    "collapse_timeline",
]

_PAYER = ("transaction", "Submitter", "Name")
_PAID = ("claim", "PaymentAmount")
_TEST = ("delivery", "test")
_SUBMISSION = ("claim", "SubmissionNumber")

HOLD_REASONS = ("possible_duplicate", "reversal_without_original", "negative_payment")
"""Parked reasons of a payment matched to a claim but held off its money for a person."""
_REVIEW_REASONS = ("needs_review", *HOLD_REASONS)


@dataclass(frozen=True, slots=True)
class QueueFilter:
    payer: str | None = None
    received_from: date | None = None
    received_to: date | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    lane: str | None = None


@dataclass(frozen=True, slots=True)
class QueueRow:
    kind: QueueKind
    item_id: int | str
    claim_id: int | None
    claim_number: str | None
    payer: str | None
    amount: Decimal | None
    at: datetime
    lane: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Money:
    charged: Decimal
    paid: Decimal
    patient_share: Decimal
    adjusted: Decimal

    @property
    def open(self) -> Decimal:
        return self.charged - self.paid - self.patient_share - self.adjusted


@dataclass(frozen=True, slots=True)
class PaymentLine:
    id: int
    paid_at: datetime | None
    applied_at: datetime
    status_text: str | None
    outcome: str
    charged: Decimal | None
    paid: Decimal
    patient_share: Decimal
    adjusted: Decimal
    control_number: str | None
    match_method: str
    reverses_id: int | None
    reversed_by_id: int | None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    first_at: datetime
    last_at: datetime
    kind: str
    summary: str
    count: int


@dataclass(frozen=True, slots=True)
class ClaimView:
    claim: Claim
    money: Money
    payments: list[PaymentLine]
    timeline: list[TimelineEntry]
    follow_ups: list[FollowUp]
    reconciliations: list[Reconciliation]
    version: str
    ledger: LedgerClaimView
    """The ledger's claim view: money per payer, payments with their states, review items."""
    partners: list[PartnerAnswer]
    """The claim's status checks and attachments as their handlers keep them, newest first."""


# --- the queues' sources ---------------------------------------------------------------------


def _amount(text: Any) -> ColumnElement[Any]:
    return func.coalesce(cast(text, Numeric(18, 2)), 0)


def _lane(flag: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((flag.in_(["true", "1"]), "test"), else_="production")


def _parked(*reasons: str) -> Select[Any]:
    payload = ParkedPayment.payload
    paid = json_text(payload, *_PAID)
    return select(
        ParkedPayment.id.label("item_id"),
        ParkedPayment.claim_id.label("claim_id"),
        json_text(payload, *_SUBMISSION).label("claim_number"),
        json_text(payload, *_PAYER).label("payer"),
        paid.label("amount_text"),
        _amount(paid).label("amount_sort"),
        ParkedPayment.parked_at.label("at"),
        _lane(json_text(payload, *_TEST)).label("lane"),
        ParkedPayment.candidates.label("detail"),
        ParkedPayment.reason.label("hold"),
        ParkedPayment.note.label("note"),
    ).where(ParkedPayment.reason.in_(reasons), ParkedPayment.resolved_at.is_(None))


def _denied() -> Select[Any]:
    latest_status = (
        select(AppliedPayment.status_text)
        .where(AppliedPayment.claim_id == Claim.id)
        .order_by(AppliedPayment.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(
        Claim.id.label("item_id"),
        Claim.id.label("claim_id"),
        Claim.claim_number.label("claim_number"),
        Claim.payer_name.label("payer"),
        Claim.charged_amount.label("amount_text"),
        _amount(Claim.charged_amount).label("amount_sort"),
        Claim.updated_at.label("at"),
        null().label("lane"),
        latest_status.label("detail"),
    ).where(Claim.status == "denied")


def _overpaid() -> Select[Any]:
    # open = charged - paid - patient share - adjusted; a negative open is a credit balance.
    # The same expression as the partial index ix_claims_credit_balance (PostgreSQL).
    credit = claim_credit_balance()
    return select(
        Claim.id.label("item_id"),
        Claim.id.label("claim_id"),
        Claim.claim_number.label("claim_number"),
        Claim.payer_name.label("payer"),
        Claim.paid_amount.label("amount_text"),
        credit.label("amount_sort"),
        Claim.updated_at.label("at"),
        null().label("lane"),
        Claim.charged_amount.label("detail"),
        Claim.patient_responsibility.label("patient_text"),
        Claim.adjusted_amount.label("adjusted_text"),
    ).where(or_(Claim.status == "overpaid", and_(_amount(Claim.charged_amount) > 0, credit > 0)))


def _unbalanced() -> Select[Any]:
    payload = PaymentReceipt.payload
    return (
        select(
            Reconciliation.id.label("item_id"),
            Reconciliation.claim_id.label("claim_id"),
            func.coalesce(Claim.claim_number, json_text(payload, *_SUBMISSION)).label(
                "claim_number"
            ),
            func.coalesce(Claim.payer_name, json_text(payload, *_PAYER)).label("payer"),
            PaymentReceipt.paid_amount.label("amount_text"),
            _amount(PaymentReceipt.paid_amount).label("amount_sort"),
            Reconciliation.created_at.label("at"),
            _lane(json_text(payload, *_TEST)).label("lane"),
            Reconciliation.differences.label("detail"),
        )
        .select_from(Reconciliation)
        .outerjoin(Claim, Claim.id == Reconciliation.claim_id)
        .outerjoin(PaymentReceipt, PaymentReceipt.message_id == Reconciliation.message_id)
        .where(Reconciliation.balanced.is_(False))
    )


def _transaction_total() -> Select[Any]:
    def from_receipt(expression: ColumnElement[Any]) -> ColumnElement[Any]:
        return (
            select(expression)
            .where(
                PaymentReceipt.delivery_id == TransactionResult.delivery_id,
                PaymentReceipt.transaction_index == TransactionResult.transaction_index,
            )
            .limit(1)
            .scalar_subquery()
        )

    payload = PaymentReceipt.payload
    return select(
        TransactionResult.id.label("item_id"),
        null().label("claim_id"),
        TransactionResult.transaction_id.label("claim_number"),
        from_receipt(json_text(payload, *_PAYER)).label("payer"),
        TransactionResult.total_amount.label("amount_text"),
        _amount(TransactionResult.total_amount).label("amount_sort"),
        TransactionResult.created_at.label("at"),
        from_receipt(_lane(json_text(payload, *_TEST))).label("lane"),
        TransactionResult.payments_amount.label("detail"),
    ).where(TransactionResult.balanced.is_(False))


_SOURCES: Mapping[QueueKind, Callable[[], Select[Any]]] = {
    QueueKind.NEEDS_REVIEW: lambda: _parked(*_REVIEW_REASONS),
    QueueKind.UNMATCHED: lambda: _parked("unmatched"),
    QueueKind.DENIED: _denied,
    QueueKind.OVERPAID: _overpaid,
    QueueKind.UNBALANCED: _unbalanced,
    QueueKind.TRANSACTION_TOTAL: _transaction_total,
    QueueKind.PARTNER_ANSWERED: partner_answered,
    QueueKind.ATTACHMENT_UNKNOWN: attachments_unknown,
}
_PARTNER_QUEUES = (QueueKind.PARTNER_ANSWERED, QueueKind.ATTACHMENT_UNKNOWN)


def _money(text: Any) -> Decimal | None:
    try:
        return None if text is None else Decimal(str(text))
    except InvalidOperation:
        return None


def _filtered(columns: Any, where: QueueFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if where.payer:
        escaped = where.payer.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(func.lower(columns.payer).like(f"%{escaped}%", escape="\\"))
    if where.received_from:
        start = datetime.combine(where.received_from, time(), UTC)
        clauses.append(columns.at >= literal(start, UTCDateTime))
    if where.received_to:
        end = datetime.combine(where.received_to + timedelta(days=1), time(), UTC)
        clauses.append(columns.at < literal(end, UTCDateTime))
    if where.amount_min is not None:
        clauses.append(columns.amount_sort >= literal(float(where.amount_min), Float))
    if where.amount_max is not None:
        clauses.append(columns.amount_sort <= literal(float(where.amount_max), Float))
    if where.lane:
        clauses.append(columns.lane == where.lane)
    return clauses


def _keyset(columns: Any, sort: SortKey, cursor: Cursor | None) -> tuple[list[Any], Any]:
    """The ORDER BY of ``sort`` and the condition of the rows after ``cursor``."""
    by_amount = sort in (SortKey.LARGEST, SortKey.SMALLEST)
    column: ColumnClause[Any] = columns.amount_sort if by_amount else columns.at
    ascending = sort in (SortKey.OLDEST, SortKey.SMALLEST)
    order = (
        [column.asc(), columns.item_id.asc()]
        if ascending
        else [
            column.desc(),
            columns.item_id.desc(),
        ]
    )
    if cursor is None:
        return order, None
    value: Any = (
        literal(float(Decimal(cursor.value)), Float)
        if by_amount
        else literal(datetime.fromisoformat(cursor.value), UTCDateTime)
    )
    if ascending:
        after = or_(column > value, and_(column == value, columns.item_id > cursor.item_id))
    else:
        after = or_(column < value, and_(column == value, columns.item_id < cursor.item_id))
    return order, after


class ReadModel:
    """Read-only views of the ledger for the worklist's pages."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def counts(self) -> dict[QueueKind, int | None]:
        """Open items per queue; ``None`` for queues today's ledger cannot express."""
        counts: dict[QueueKind, int | None] = dict.fromkeys(QUEUES)
        async with self._engine.connect() as connection:
            for kind, source in _SOURCES.items():
                found = await connection.scalar(
                    select(func.count()).select_from(source().subquery())
                )
                counts[kind] = int(found or 0)
        return counts

    async def queue(
        self,
        kind: QueueKind,
        where: QueueFilter,
        *,
        sort: SortKey = SortKey.OLDEST,
        cursor: Cursor | None = None,
        limit: int = 50,
    ) -> QueuePage:
        source = _SOURCES.get(kind)
        if source is None:
            return QueuePage([], None)
        columns = source().subquery("items").c
        order, after = _keyset(columns, sort, cursor)
        conditions = _filtered(columns, where) + ([after] if after is not None else [])
        async with self._engine.connect() as connection:
            if kind in _PARTNER_QUEUES:  # a union keyed by text: one query
                query = select(*columns).where(*conditions).order_by(*order).limit(limit + 1)
                found = list((await connection.execute(query)).mappings().all())
            else:
                # Keys first (the sort and filter columns only: no JSON of rows not shown),
                # then the shown rows' columns by primary key.
                keys = select(columns.item_id).where(*conditions).order_by(*order)
                ids = list(await connection.scalars(keys.limit(limit + 1)))
                shown = select(*columns).where(columns.item_id.in_(ids))
                by_id = {
                    row["item_id"]: row for row in (await connection.execute(shown)).mappings()
                }
                found = [by_id[item] for item in ids if item in by_id]
        rows = [self._row(kind, row) for row in found[:limit]]
        next_cursor = None
        if len(found) > limit:
            last = found[limit - 1]
            by_amount = sort in (SortKey.LARGEST, SortKey.SMALLEST)
            value = str(last["amount_sort"]) if by_amount else last["at"].isoformat()
            next_cursor = Cursor(kind=kind, sort=sort, value=value, item_id=last["item_id"])
        return QueuePage(rows, next_cursor.encode() if next_cursor else None)

    @staticmethod
    def _row(kind: QueueKind, row: Any) -> QueueRow:
        amount = _money(row["amount_text"])
        detail = row["detail"]
        if kind is QueueKind.OVERPAID and amount is not None:
            charged = _money(row["detail"]) or Decimal("0")
            patient = _money(row["patient_text"]) or Decimal("0")
            adjusted = _money(row["adjusted_text"]) or Decimal("0")
            amount = amount + patient + adjusted - charged
            detail = (row["detail"], str(amount))
        if kind is QueueKind.NEEDS_REVIEW:
            detail = (row["detail"], row["hold"], row["note"])
        reason = reason_for(kind, row["amount_text"], detail)
        if kind in _PARTNER_QUEUES:
            reason = answer_words(row["what"], row["state"], row["detail"])
            if amount is not None:
                charged = amount
                amount = charged - sum(
                    (_money(row[name]) or Decimal("0"))
                    for name in ("paid_text", "patient_text", "adjusted_text")
                )
                reason += f" Charged {money_text(charged)}, open {money_text(amount)}."
        item_id = row["item_id"]
        return QueueRow(
            kind=kind,
            item_id=item_id if isinstance(item_id, str) else int(item_id),
            claim_id=row["claim_id"],
            claim_number=row["claim_number"],
            payer=row["payer"],
            amount=amount,
            at=row["at"],
            lane=row["lane"],
            reason=reason,
        )

    async def next_review_item(self, item_id: int) -> int | None:
        """The payment after ``item_id`` in the review queues (oldest first), or the first."""
        waiting = and_(
            ParkedPayment.reason.in_((*_REVIEW_REASONS, "unmatched")),
            ParkedPayment.resolved_at.is_(None),
            ParkedPayment.id != item_id,
        )
        async with self._engine.connect() as connection:
            at = await connection.scalar(
                select(ParkedPayment.parked_at).where(ParkedPayment.id == item_id)
            )
            after = select(ParkedPayment.id).where(waiting)
            if at is not None:
                later = or_(
                    ParkedPayment.parked_at > at,
                    and_(ParkedPayment.parked_at == at, ParkedPayment.id > item_id),
                )
                found = await connection.scalar(
                    after.where(later).order_by(ParkedPayment.parked_at, ParkedPayment.id).limit(1)
                )
                if found is not None:
                    return int(found)
            first = await connection.scalar(
                after.order_by(ParkedPayment.parked_at, ParkedPayment.id).limit(1)
            )
            return int(first) if first is not None else None

    async def claim(self, claim_id: int) -> ClaimView | None:
        """A claim with its money, payments, collapsed timeline and follow-ups (5 queries)."""
        async with AsyncSession(self._engine, expire_on_commit=False) as session:
            claim = await session.get(Claim, claim_id)
            if claim is None:
                return None
            payments = await session.scalars(
                select(AppliedPayment)
                .where(AppliedPayment.claim_id == claim_id)
                .order_by(AppliedPayment.id)
            )
            events = list(
                await session.scalars(
                    select(TimelineEvent)
                    .where(TimelineEvent.claim_id == claim_id)
                    .order_by(TimelineEvent.at, TimelineEvent.id)
                )
            )
            follow_ups = list(
                await session.scalars(
                    select(FollowUp)
                    .where(FollowUp.claim_id == claim_id)
                    .order_by(FollowUp.created_at)
                )
            )
            reconciliations = await session.scalars(
                select(Reconciliation)
                .where(Reconciliation.claim_id == claim_id)
                .order_by(Reconciliation.id)
            )
            return ClaimView(
                claim=claim,
                money=Money(
                    charged=claim.charged_amount,
                    paid=claim.paid_amount,
                    patient_share=claim.patient_responsibility,
                    adjusted=claim.adjusted_amount,
                ),
                payments=[_payment(row) for row in payments],
                timeline=collapse_timeline(events),
                follow_ups=follow_ups,
                reconciliations=list(reconciliations),
                version=_version(claim.updated_at, max((e.id for e in events), default=0)),
                ledger=await claim_view(
                    ClaimLedger(self._engine), claim, history=(events, follow_ups)
                ),
                partners=await partner_answers_for(await session.connection(), claim.claim_number),
            )


def _payment(row: AppliedPayment) -> PaymentLine:
    return PaymentLine(
        id=row.id,
        paid_at=row.paid_at,
        applied_at=row.applied_at,
        status_text=row.status_text,
        outcome=row.outcome,
        charged=row.charged_amount,
        paid=row.paid_amount,
        patient_share=row.patient_responsibility,
        adjusted=row.adjusted_amount,
        control_number=row.control_number,
        match_method=row.match_method,
        reverses_id=row.reverses_id,
        reversed_by_id=row.reversed_by_id,
    )


def _version(updated_at: datetime, last_event_id: int) -> str:
    return f"{last_event_id}.{int(updated_at.timestamp() * 1_000_000)}"


async def claim_version(connection: AsyncConnection, claim_id: int) -> str | None:
    """The claim's version as a person saw it: its last timeline event and last update."""
    updated_at = await connection.scalar(select(Claim.updated_at).where(Claim.id == claim_id))
    if updated_at is None:
        return None
    last = await connection.scalar(
        select(func.max(TimelineEvent.id)).where(TimelineEvent.claim_id == claim_id)
    )
    return _version(updated_at, int(last or 0))


def collapse_timeline(events: Sequence[TimelineEvent]) -> list[TimelineEntry]:
    """Runs of identical events (same kind and words, one after another) become one entry."""
    entries: list[TimelineEntry] = []
    for event in events:
        last = entries[-1] if entries else None
        if last is not None and (last.kind, last.summary) == (event.kind, event.summary):
            entries[-1] = TimelineEntry(
                last.first_at, event.at, last.kind, last.summary, last.count + 1
            )
        else:
            entries.append(TimelineEntry(event.at, event.at, event.kind, event.summary, 1))
    return entries
