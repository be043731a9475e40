"""The claims ledger's tables (SQLAlchemy 2 declarative); the Alembic migrations create them.

Money is stored as the exact decimal text (``"100.00"``) so that SQLite and PostgreSQL hold
the same value and nothing passes through a float; sums are done in Python with ``Decimal``.
Times are UTC. Patient identifiers are kept for matching only and are never logged.

Every value that comes from a payment notification (numbers, codes, status text) is ``Text``:
a payer's 120-character control number is stored as given instead of failing the insert (on
PostgreSQL a ``VARCHAR(80)`` overflow would send the payment into retries for ever).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    cast,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AccessRecord",
    "AppliedPayment",
    "Base",
    "Claim",
    "ClaimIdentifier",
    "Delivery",
    "FollowUp",
    "OutboxMessage",
    "ParkedPayment",
    "PaymentReceipt",
    "Reconciliation",
    "TimelineEvent",
    "TransactionResult",
    "claim_credit_balance",
]


class MoneyText(TypeDecorator[Decimal]):
    """An exact ``Decimal`` stored as its text (unbounded: an absurdly long amount is kept)."""

    impl = Text()
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else format(value, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on both databases (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Claim(Base):
    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    claim_number: Mapped[str] = mapped_column(String(80), unique=True)
    claim_key: Mapped[str] = mapped_column(String(80), index=True)
    payer_id: Mapped[str | None] = mapped_column(String(80))
    payer_name: Mapped[str | None] = mapped_column(String(200))
    provider_npi: Mapped[str | None] = mapped_column(String(20))
    provider_tax_id: Mapped[str | None] = mapped_column(String(20))
    provider_name: Mapped[str | None] = mapped_column(String(200))
    patient_first_name: Mapped[str | None] = mapped_column(String(100))
    patient_last_name: Mapped[str | None] = mapped_column(String(100))
    patient_last_key: Mapped[str | None] = mapped_column(String(100), index=True)
    patient_dob: Mapped[date | None] = mapped_column(Date)
    member_id: Mapped[str | None] = mapped_column(String(80))
    patient_account_number: Mapped[str | None] = mapped_column(String(80))
    service_start: Mapped[date | None] = mapped_column(Date)
    service_end: Mapped[date | None] = mapped_column(Date)
    submitted_on: Mapped[date | None] = mapped_column(Date)
    charged_amount: Mapped[Decimal] = mapped_column(MoneyText)
    paid_amount: Mapped[Decimal] = mapped_column(MoneyText, default=Decimal("0"))
    patient_responsibility: Mapped[Decimal] = mapped_column(MoneyText, default=Decimal("0"))
    adjusted_amount: Mapped[Decimal] = mapped_column(MoneyText, default=Decimal("0"))
    #: Indexed for the worklist's queues by status (denied, overpaid).
    status: Mapped[str] = mapped_column(String(40), default="submitted", index=True)
    source: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def claim_credit_balance() -> ColumnElement[Any]:
    """paid + patient share + adjusted - charged: above zero, the claim has a credit balance.

    The worklist's overpaid queue filters on ``> 0``; ``ix_claims_credit_balance`` (PostgreSQL
    only, migration 0005) is partial on exactly this expression, so keep the two identical.
    """

    def amount(column: Any) -> ColumnElement[Any]:
        return func.coalesce(cast(column, Numeric(18, 2)), 0)

    return (
        amount(Claim.paid_amount)
        + amount(Claim.patient_responsibility)
        + amount(Claim.adjusted_amount)
        - amount(Claim.charged_amount)
    )


Index(
    "ix_claims_credit_balance",
    Claim.updated_at,
    Claim.id,
    postgresql_where=claim_credit_balance() > 0,
).ddl_if(dialect="postgresql")


class ClaimIdentifier(Base):
    """Another number a claim is known by: the payer's claim control number, once seen."""

    __tablename__ = "claim_identifiers"
    __table_args__ = (UniqueConstraint("kind", "value_key", "claim_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(Text)
    value_key: Mapped[str] = mapped_column(Text, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaymentReceipt(Base):
    """Every claim payment message handled, once: the idempotency record."""

    __tablename__ = "payment_receipts"

    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    delivery_id: Mapped[str] = mapped_column(Text, index=True)
    transaction_index: Mapped[int] = mapped_column(Integer)
    transaction_id: Mapped[str | None] = mapped_column(Text)
    transaction_total: Mapped[Decimal | None] = mapped_column(MoneyText)
    credit_or_debit: Mapped[str | None] = mapped_column(Text)
    claims_in_batch: Mapped[int] = mapped_column(Integer)
    paid_amount: Mapped[Decimal] = mapped_column(MoneyText)
    state: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(40))
    duplicate_of: Mapped[str | None] = mapped_column(String(64))
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id"), index=True)
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """A PaymentBatch delivery: counts its claims so that one transaction sees the last one."""

    __tablename__ = "deliveries"

    delivery_id: Mapped[str] = mapped_column(Text, primary_key=True)
    claims_in_batch: Mapped[int] = mapped_column(Integer)
    received: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AppliedPayment(Base):
    """A claim payment posted to a claim; a reversal is posted with its negated amounts."""

    __tablename__ = "applied_payments"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    control_number: Mapped[str | None] = mapped_column(Text)
    status_text: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(40))
    charged_amount: Mapped[Decimal | None] = mapped_column(MoneyText)
    paid_amount: Mapped[Decimal] = mapped_column(MoneyText)
    patient_responsibility: Mapped[Decimal] = mapped_column(MoneyText)
    adjusted_amount: Mapped[Decimal] = mapped_column(MoneyText)
    adjustments: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    match_method: Mapped[str] = mapped_column(String(40))
    match_confidence: Mapped[Decimal] = mapped_column(MoneyText)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("applied_payments.id"))
    reversed_by_id: Mapped[int | None] = mapped_column(Integer)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # ledger rules (part 2): who paid, in which coordination-of-benefits position, how much
    # of the charge the payer says an earlier payer took care of (CARC 23), and the payment's
    # content key (payer, claim numbers, amounts, service lines) that finds duplicates.
    payer_key: Mapped[str | None] = mapped_column(Text)
    payer_name: Mapped[str | None] = mapped_column(Text)
    payer_rank: Mapped[int] = mapped_column(Integer, default=0)
    prior_payer_amount: Mapped[Decimal | None] = mapped_column(MoneyText)
    payment_key: Mapped[str | None] = mapped_column(String(64), index=True)


class ParkedPayment(Base):
    """A payment waiting for its claim (unmatched) or for a person (needs review)."""

    __tablename__ = "parked_payments"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(40))
    submission_key: Mapped[str] = mapped_column(Text, index=True)
    control_key: Mapped[str] = mapped_column(Text, index=True)
    candidates: Mapped[list[int]] = mapped_column(JSON)
    payload: Mapped[str] = mapped_column(Text)
    parked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # ledger rules (part 2): the folded patient last name (re-ranking review candidates when
    # claims arrive), the claim a hold is against, the earlier payment it names, and why.
    patient_last_key: Mapped[str | None] = mapped_column(Text, index=True)
    claim_id: Mapped[int | None] = mapped_column(Integer, index=True)
    related_message_id: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class Reconciliation(Base):
    __tablename__ = "reconciliations"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), index=True)
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(40))
    match_status: Mapped[str] = mapped_column(String(40))
    match_method: Mapped[str] = mapped_column(String(40))
    match_confidence: Mapped[Decimal] = mapped_column(MoneyText)
    balanced: Mapped[bool]
    differences: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    flags: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TransactionResult(Base):
    """The transaction-level check, once every claim of a delivery has arrived."""

    __tablename__ = "transaction_results"
    __table_args__ = (UniqueConstraint("delivery_id", "transaction_index"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(Text)
    transaction_index: Mapped[int] = mapped_column(Integer)
    transaction_id: Mapped[str | None] = mapped_column(Text)
    total_amount: Mapped[Decimal | None] = mapped_column(MoneyText)
    payments_amount: Mapped[Decimal] = mapped_column(MoneyText)
    balanced: Mapped[bool]
    differences: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FollowUp(Base):
    """A follow-up decision: the command that was (or will be) published for a claim."""

    __tablename__ = "follow_ups"

    command_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    rule: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    trigger_message_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TimelineEvent(Base):
    """One line of a claim's history, in words without PHI."""

    __tablename__ = "timeline_events"
    __table_args__ = (Index("ix_timeline_claim_at", "claim_id", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(64))


class OutboxMessage(Base):
    """A message to publish, written in the same transaction as the effects that caused it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    topic: Mapped[str] = mapped_column(String(250))
    key: Mapped[str | None] = mapped_column(Text)
    value: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Set when the process whose unit wrote the message publishes it itself: until then no
    relay publishes it (``ClaimLedger.unsent``), and it is marked sent in that process's next
    unit (``OutboxRelay.publish_written``). A process that stopped first leaves it to the
    relays once the time has passed."""


class AccessRecord(Base):
    """Who saw or decided what in the billing worklist (worklist/audit.py); identifiers only."""

    __tablename__ = "access_records"
    __table_args__ = (Index("ix_access_records_claim_at", "claim_id", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(String(64), unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(200))
    claim_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    claim_ids: Mapped[list[int]] = mapped_column(JSON)
    client_address: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64))
