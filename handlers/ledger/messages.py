"""What the ledger publishes on ``TopicSet.reconciliations`` for downstream consumers.

``ClaimReconciliationResult``: one per claim payment the ledger handled (and again when a parked
payment is matched later). ``TransactionReconciliationResult``: one per transaction, once
every claim of its delivery has arrived. Keyed by the claim number / the Redox log id; no
patient identifiers.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from handlers.ledger.reconciliation import Difference

__all__ = [
    "Amounts",
    "ClaimReconciliationResult",
    "DifferenceItem",
    "TransactionReconciliationResult",
]


class _Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class DifferenceItem(_Contract):
    check: str = Field(description="claim_balance, patient_responsibility, service_balance, ...")
    where: str = Field(description="claim, Services[0] or transaction.")
    expected: Decimal
    actual: Decimal
    difference: Decimal = Field(description="actual - expected.")


class Amounts(_Contract):
    charged: Decimal | None
    paid: Decimal
    patient_responsibility: Decimal
    adjusted: Decimal


class ClaimReconciliationResult(_Contract):
    schema_name: Literal["claimflow.claim-reconciliation.v1"] = Field(
        "claimflow.claim-reconciliation.v1", alias="schema"
    )
    message_id: str
    trigger_message_id: str = Field(description="The claim payment message.")
    test: bool
    claim_id: str | None = Field(description="The ledger's claim, when matched.")
    claim_number: str | None = Field(description="The ledger's claim number, when matched.")
    submission_number: str | None = Field(description="The payment's SubmissionNumber.")
    control_number: str | None = Field(description="The payer's ControlNumber.")
    payer_status: str | None
    outcome: str
    reason: str
    flags: list[str]
    match_status: str
    match_method: str
    match_confidence: Decimal
    candidates: int = Field(description="How many ledger claims were candidates.")
    balanced: bool
    amounts: Amounts
    differences: list[DifferenceItem]
    duplicate_of: str | None = None
    decided_at: datetime


class TransactionReconciliationResult(_Contract):
    schema_name: Literal["claimflow.transaction-reconciliation.v1"] = Field(
        "claimflow.transaction-reconciliation.v1", alias="schema"
    )
    message_id: str
    test: bool
    delivery_id: str = Field(description="Redox log id of the PaymentBatch.")
    transaction_index: int
    transaction_id: str | None
    total_payment_amount: Decimal | None = Field(description="As sent, unsigned.")
    credit_or_debit: str | None
    payments_amount: Decimal = Field(description="Sum of the claim payments.")
    claims: int
    balanced: bool
    differences: list[DifferenceItem]
    decided_at: datetime


def money(value: Decimal | None) -> str:
    """An amount as people read it in the ledger: ``100.00``; ``-`` when unknown."""
    return "-" if value is None else format(value, "f")


def difference_items(items: tuple[Difference, ...]) -> list[DifferenceItem]:
    return [
        DifferenceItem(
            check=d.check, where=d.where, expected=d.expected, actual=d.actual, difference=d.amount
        )
        for d in items
    ]
