"""A claim's money, from the payments posted to it: per payer, and for the claim as a whole.

The ledger never keeps running sums it cannot explain: after every posting it recomputes the
claim from its posted payments (a reversal is posted with negated amounts, so it cancels the
payment it undoes):

- **paid**: every payer's payments, summed;
- **patient share**: what the *latest* adjudicating payer says the patient owes (PR-1/2/3),
  not a sum over payers. Within one payer, a payment of the whole charge restates the claim
  (its PR and write-offs replace the earlier ones: a second full payment adds money, not a
  second patient share), while payments of part of the charge (a split claim) add up. Payers
  are ordered by their coordination-of-benefits position (CLP02: processed as primary 1,
  secondary 2, tertiary 3; a payment that does not say takes the position its payer had, else
  primary) and then by when they were posted, so the answer does not depend on the order the
  payments or the claim arrived in;
- **adjusted**: every write-off (CO, OA, PI, CR), except the prior payer's impact (CARC 23):
  a later payer reports with OA-23 what an earlier one paid or wrote off, which is no
  write-off of its own;
- **open** = charged - paid - patient share - adjusted. Negative is a *credit balance*: the
  claim received more than it may.

The claim's status follows from its money and the latest adjudication (``ClaimMoney.status``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

__all__ = ["ClaimMoney", "PayerMoney", "PostedPayment", "claim_money"]

ZERO = Decimal("0.00")
UNKNOWN_PAYER = "unknown payer"


class PostedPayment(Protocol):
    """What the money needs of a posted payment (``tables.AppliedPayment``)."""

    @property
    def id(self) -> int: ...
    @property
    def outcome(self) -> str: ...
    @property
    def charged_amount(self) -> Decimal | None: ...
    @property
    def paid_amount(self) -> Decimal: ...
    @property
    def patient_responsibility(self) -> Decimal: ...
    @property
    def adjusted_amount(self) -> Decimal: ...
    @property
    def prior_payer_amount(self) -> Decimal | None: ...
    @property
    def adjustments(self) -> list[dict[str, Any]]: ...
    @property
    def payer_key(self) -> str | None: ...
    @property
    def payer_name(self) -> str | None: ...
    @property
    def payer_rank(self) -> int: ...
    @property
    def reversed_by_id(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class PayerMoney:
    """One payer in one coordination-of-benefits position, over all its payments."""

    payer: str
    name: str | None
    rank: int
    paid: Decimal
    patient_responsibility: Decimal
    adjusted: Decimal
    prior_payer: Decimal
    adjustments_by_group: dict[str, Decimal]
    payments: int
    latest: bool = False


@dataclass(frozen=True, slots=True)
class ClaimMoney:
    charged: Decimal
    paid: Decimal
    patient_share: Decimal
    adjusted: Decimal
    payers: tuple[PayerMoney, ...] = field(default=())
    latest_outcome: str | None = None
    reversals: int = 0

    @property
    def open(self) -> Decimal:
        return self.charged - self.paid - self.patient_share - self.adjusted

    def status(self, current: str, tolerance: Decimal = ZERO) -> str:
        """The claim's status, agreeing with its money.

        No posted payment left: ``reversed`` when reversals undid them, else unchanged. A credit
        balance is ``overpaid``; nothing paid after a denial or "not our claim" says so; an open
        balance is ``partially_paid``; a settled one is what the latest payment said
        (``forwarded``, ``partially_paid`` when a line was left unpaid, ``denied``), else
        ``patient_responsibility`` when the patient owes all of it, else ``paid_in_full``.
        """
        latest = self.latest_outcome
        if latest is None:
            return "reversed" if self.reversals else current
        if self.open < -tolerance:
            return "overpaid"
        if self.paid == ZERO and latest in ("denied", "not_our_claim"):
            return latest
        if self.open > tolerance:
            return "partially_paid"
        if latest in ("forwarded", "partially_paid", "denied", "not_our_claim"):
            return latest
        if self.paid == ZERO and self.patient_share > ZERO:
            return "patient_responsibility"
        return "paid_in_full"


def _active(p: PostedPayment) -> bool:
    return p.outcome != "reversed" and p.reversed_by_id is None


def _payer_statement(
    charged: Decimal, active: Sequence[PostedPayment]
) -> tuple[Decimal, Decimal, Decimal]:
    """A payer's patient share, write-offs and prior-payer amount, from its standing payments.

    A payment of the whole charge restates the claim; payments of part of it add up. (A
    reversed payment and its reversal are left out: together they are nothing.)
    """
    share = adjusted = prior = ZERO
    for p in sorted(active, key=lambda row: row.id):
        whole = p.charged_amount is not None and charged > 0 and abs(p.charged_amount) >= charged
        if whole:
            share, adjusted, prior = ZERO, ZERO, ZERO
        share += p.patient_responsibility
        adjusted += p.adjusted_amount
        prior += p.prior_payer_amount or ZERO
    return share, adjusted, prior


def claim_money(charged: Decimal, payments: Sequence[PostedPayment]) -> ClaimMoney:
    """The claim's money from its posted payments (module docstring)."""
    known_rank: dict[str, int] = {}
    for p in payments:
        if p.payer_rank:
            known_rank.setdefault(p.payer_key or UNKNOWN_PAYER, p.payer_rank)
    groups: dict[tuple[str, int], list[PostedPayment]] = {}
    for p in payments:
        payer = p.payer_key or UNKNOWN_PAYER
        rank = p.payer_rank or known_rank.get(payer, 1)
        groups.setdefault((payer, rank), []).append(p)
    latest_key: tuple[str, int] | None = None
    latest_order: tuple[int, int] = (-1, -1)
    latest_outcome: str | None = None
    for (payer, rank), rows in groups.items():
        for p in rows:
            if _active(p) and (rank, p.id) > latest_order:
                latest_order, latest_key, latest_outcome = (rank, p.id), (payer, rank), p.outcome
    payers: list[PayerMoney] = []
    for (payer, rank), rows in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0])):
        by_group: dict[str, Decimal] = {}
        for p in rows:
            for a in p.adjustments:
                group = str(a.get("group") or "UNKNOWN")
                by_group[group] = by_group.get(group, ZERO) + Decimal(str(a.get("amount") or 0))
        share, adjusted, prior = _payer_statement(charged, [p for p in rows if _active(p)])
        payers.append(
            PayerMoney(
                payer=payer,
                name=next((p.payer_name for p in rows if p.payer_name), None),
                rank=rank,
                paid=sum((p.paid_amount for p in rows), ZERO),
                patient_responsibility=share,
                adjusted=adjusted,
                prior_payer=prior,
                adjustments_by_group=dict(sorted(by_group.items())),
                payments=len(rows),
                latest=(payer, rank) == latest_key,
            )
        )
    share = next((m.patient_responsibility for m in payers if m.latest), ZERO)
    return ClaimMoney(
        charged=charged,
        paid=sum((m.paid for m in payers), ZERO),
        patient_share=share,
        adjusted=sum((m.adjusted for m in payers), ZERO),
        payers=tuple(payers),
        latest_outcome=latest_outcome,
        reversals=sum(1 for p in payments if p.outcome == "reversed"),
    )
