"""Reconciliation: do a claim payment's amounts add up, to the cent, as the 835 says they must?

All arithmetic is exact ``Decimal``; nothing is rounded. A difference larger than the tolerance
(``Settings.money_tolerance``, zero by default) is *flagged*, never corrected. Adjustments are
signed as the Redox schema says: positive reduces the payment, negative increases it. A reversal
repeats the original with every amount negated, so the same equations hold for it.

Checks (remittance-matching-notes.md):

- ``claim_balance``: charged = paid + adjustments (claim and service level). Patient
  responsibility is the PR-group adjustments; when a payer sends only the
  PatientResponsibilityAmount and no PR adjustment, that amount takes their place.
- ``patient_responsibility``: PatientResponsibilityAmount = sum of PR-group adjustments.
- ``service_balance``: per service line, charged - line adjustments = paid.
- ``service_paid``: paid = sum of line payments - claim-level adjustments.
- ``service_charged``: charged = sum of line charges.
- ``transaction_total``: TotalPaymentAmount (negative when a debit) = sum of claim payments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from handlers.ledger.codes import AdjustmentGroup, adjustment_group, carc_code, rarc_codes
from router.redox import Adjustment, ClaimPayment, TransactionHeader

__all__ = [
    "AdjustmentLine",
    "ClaimReconciliation",
    "Difference",
    "TransactionReconciliation",
    "reconcile_claim",
    "reconcile_transaction",
]

ZERO = Decimal("0")


@dataclass(frozen=True, slots=True)
class Difference:
    """One check that did not add up: what the parts say, what the total says."""

    check: str
    where: str
    expected: Decimal
    actual: Decimal

    @property
    def amount(self) -> Decimal:
        return self.actual - self.expected


@dataclass(frozen=True, slots=True)
class AdjustmentLine:
    """An adjustment with its group and codes resolved; ``service`` is None at claim level."""

    service: int | None
    group: AdjustmentGroup
    carc: str | None
    rarcs: tuple[str, ...]
    reason: str | None
    amount: Decimal


@dataclass(frozen=True, slots=True)
class ClaimReconciliation:
    charged: Decimal | None
    paid: Decimal
    patient_responsibility: Decimal
    adjustments: tuple[AdjustmentLine, ...]
    differences: tuple[Difference, ...]
    missing: tuple[str, ...]

    @property
    def balanced(self) -> bool:
        return not self.differences and "ChargedAmount" not in self.missing

    @property
    def adjusted(self) -> Decimal:
        """Sum of every adjustment, claim and service level."""
        return sum((a.amount for a in self.adjustments), ZERO)

    def adjusted_in(self, *groups: AdjustmentGroup) -> Decimal:
        return sum((a.amount for a in self.adjustments if a.group in groups), ZERO)

    @property
    def carcs(self) -> frozenset[str]:
        return frozenset(a.carc for a in self.adjustments if a.carc)

    @property
    def rarcs(self) -> frozenset[str]:
        return frozenset(code for a in self.adjustments for code in a.rarcs)


@dataclass(frozen=True, slots=True)
class TransactionReconciliation:
    transaction_id: str | None
    total: Decimal | None
    payments: Decimal
    claims: int
    differences: tuple[Difference, ...]

    @property
    def balanced(self) -> bool:
        return not self.differences


def _line(service: int | None, adjustment: Adjustment) -> AdjustmentLine:
    return AdjustmentLine(
        service=service,
        group=adjustment_group(adjustment.type),
        carc=carc_code(adjustment.reason),
        rarcs=tuple(rarc_codes(adjustment.reason)),
        reason=adjustment.reason,
        amount=adjustment.amount if adjustment.amount is not None else ZERO,
    )


def _check(
    out: list[Difference], check: str, where: str, expected: Decimal, actual: Decimal, tol: Decimal
) -> None:
    if abs(actual - expected) > tol:
        out.append(Difference(check=check, where=where, expected=expected, actual=actual))


def reconcile_claim(claim: ClaimPayment, *, tolerance: Decimal = ZERO) -> ClaimReconciliation:
    """Every per-claim check of the module docstring, on one ``Claims[]`` entry."""
    differences: list[Difference] = []
    missing: list[str] = []
    lines = [_line(None, a) for a in claim.adjustments]
    for index, service in enumerate(claim.services):
        service_lines = [_line(index, a) for a in service.adjustments]
        lines.extend(service_lines)
        if service.charged_amount is not None and service.payment_amount is not None:
            line_adjusted = sum((a.amount for a in service_lines), ZERO)
            _check(
                differences,
                "service_balance",
                f"Services[{index}]",
                service.charged_amount - line_adjusted,
                service.payment_amount,
                tolerance,
            )
    line_paid = [s.payment_amount for s in claim.services]
    if claim.payment_amount is not None:
        paid = claim.payment_amount
    else:
        missing.append("PaymentAmount")
        paid = sum((p for p in line_paid if p is not None), ZERO)
    if claim.services and all(p is not None for p in line_paid):
        # Claim-level adjustments reduce the claim's payment below the sum of its lines.
        claim_level = sum((a.amount for a in lines if a.service is None), ZERO)
        total = sum((p for p in line_paid if p is not None), ZERO) - claim_level
        _check(differences, "service_paid", "claim", total, paid, tolerance)
    line_charged = [s.charged_amount for s in claim.services]
    if claim.charged_amount is not None and claim.services and None not in line_charged:
        total = sum((c for c in line_charged if c is not None), ZERO)
        _check(differences, "service_charged", "claim", total, claim.charged_amount, tolerance)

    pr_lines = [a.amount for a in lines if a.group is AdjustmentGroup.PR]
    pr_adjusted = sum(pr_lines, ZERO)
    stated_pr = claim.patient_responsibility_amount
    if stated_pr is not None and pr_lines:
        _check(differences, "patient_responsibility", "claim", pr_adjusted, stated_pr, tolerance)
    patient = stated_pr if stated_pr is not None else pr_adjusted
    explained = sum((a.amount for a in lines), ZERO)
    if not pr_lines and stated_pr is not None:
        explained += stated_pr
    if claim.charged_amount is None:
        missing.append("ChargedAmount")
    else:
        _check(
            differences, "claim_balance", "claim", claim.charged_amount, paid + explained, tolerance
        )
    return ClaimReconciliation(
        charged=claim.charged_amount,
        paid=paid,
        patient_responsibility=patient,
        adjustments=tuple(lines),
        differences=tuple(differences),
        missing=tuple(missing),
    )


def reconcile_transaction(
    header: TransactionHeader, paid: Iterable[Decimal], *, tolerance: Decimal = ZERO
) -> TransactionReconciliation:
    """Does the transaction's TotalPaymentAmount equal the sum of its claims' payments?

    ``paid`` holds every claim payment of the transaction (``ClaimReconciliation.paid``).
    A debit transaction moves money back to the payer: its total counts as negative.
    """
    amounts = list(paid)
    payments = sum(amounts, ZERO)
    total = header.total_payment_amount
    differences: list[Difference] = []
    if total is not None:
        debit = (header.credit_or_debit or "").strip().lower() in ("debit", "d")
        signed = -total if debit else total
        _check(differences, "transaction_total", "transaction", signed, payments, tolerance)
    return TransactionReconciliation(
        transaction_id=header.id,
        total=total,
        payments=payments,
        claims=len(amounts),
        differences=tuple(differences),
    )
