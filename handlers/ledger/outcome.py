"""What a claim payment means for the claim: the outcome the ledger records and acts on.

The payer's status (CLP02) decides first: a reversal, a predetermination, "not our claim", a
forward to another payer and a denial are what they say. A claim *processed* by the payer is:

- ``reversed`` when every amount is negative (a reversal sent without its status);
- ``needs_review`` when the payment is negative but the charge is not (a recoupment);
- with nothing paid (zero pay is not always a denial):
  ``denied`` when denial reasons (any CARC that does not merely price the claim, see
  ``codes.DENIAL_NEUTRAL_CARCS``) cover the whole charge, or nothing explains the zero;
  ``patient_responsibility`` when the patient owes it (PR-1/2/3: deductible, coinsurance,
  co-payment): adjudicated, no status check; ``paid_in_full`` when an earlier payer (CARC 23)
  left nothing to pay;
- ``paid_in_full`` when every cent charged is paid, the patient's (PR), a contractual write-off
  (CO) or an earlier payer's (CARC 23), and no service line went unpaid;
- ``partially_paid`` otherwise: a line paid nothing, an OA/PI reduction, an unexplained rest.

A payment without a matching claim is ``unmatched``; an ambiguous or demographic-only match is
``needs_review``. Flags add what a person should know: ``overpayment`` (paid more than
charged), ``reconciliation_difference``, ``unknown_status``, ``negative_payment``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from handlers.ledger.codes import (
    DENIAL_NEUTRAL_CARCS,
    PRIOR_PAYER_CARC,
    AdjustmentGroup,
    ClaimStatus,
    claim_status,
)
from handlers.ledger.matching import MatchResult, MatchStatus
from handlers.ledger.reconciliation import ZERO, ClaimReconciliation
from router.redox import ClaimPayment

__all__ = ["Classification", "Outcome", "classify", "denial_reasons", "prior_payer_amount"]


class Outcome(enum.Enum):
    PAID_IN_FULL = "paid_in_full"
    PARTIALLY_PAID = "partially_paid"
    DENIED = "denied"
    PATIENT_RESPONSIBILITY = "patient_responsibility"
    REVERSED = "reversed"
    FORWARDED = "forwarded"
    NOT_OUR_CLAIM = "not_our_claim"
    PREDETERMINATION = "predetermination"
    UNMATCHED = "unmatched"
    NEEDS_REVIEW = "needs_review"


_BY_STATUS = {
    ClaimStatus.REVERSAL: Outcome.REVERSED,
    ClaimStatus.PREDETERMINATION: Outcome.PREDETERMINATION,
    ClaimStatus.NOT_OUR_CLAIM: Outcome.NOT_OUR_CLAIM,
    ClaimStatus.FORWARDED: Outcome.FORWARDED,
    ClaimStatus.DENIED: Outcome.DENIED,
}


@dataclass(frozen=True, slots=True)
class Classification:
    outcome: Outcome
    status: ClaimStatus
    reason: str
    flags: tuple[str, ...]


def prior_payer_amount(rec: ClaimReconciliation) -> Decimal:
    """What an earlier payer paid or wrote off, as this payer reports it (CARC 23, OA or CO)."""
    return sum(
        (
            a.amount
            for a in rec.adjustments
            if a.carc == PRIOR_PAYER_CARC and a.group is not AdjustmentGroup.PR
        ),
        Decimal("0.00"),
    )


def denial_reasons(rec: ClaimReconciliation) -> tuple[list[str], Decimal]:
    """The denial CARCs of a payment and the amount they adjust (PR and pricing codes aside)."""
    codes: list[str] = []
    amount = ZERO
    for a in rec.adjustments:
        if a.group is AdjustmentGroup.PR or a.carc in DENIAL_NEUTRAL_CARCS or a.amount == ZERO:
            continue
        amount += a.amount
        code = f"{a.group.value}-{a.carc}" if a.carc else a.group.value
        if code not in codes:
            codes.append(code)
    return codes, amount


def _zero_pay(rec: ClaimReconciliation, tolerance: Decimal) -> tuple[Outcome, str]:
    codes, denied = denial_reasons(rec)
    charged = rec.charged
    if codes and charged is not None and charged > ZERO and denied >= charged - tolerance:
        return Outcome.DENIED, f"nothing paid: {', '.join(codes)} on the whole charge"
    if rec.patient_responsibility > ZERO:
        return (
            Outcome.PATIENT_RESPONSIBILITY,
            "nothing paid: adjudicated, the patient owes "
            f"{format(rec.patient_responsibility, 'f')} (deductible, coinsurance, co-payment)",
        )
    prior = prior_payer_amount(rec)
    if prior > ZERO and not codes:
        return Outcome.PAID_IN_FULL, "nothing left to pay after the prior payer (CARC 23)"
    if codes:
        return Outcome.DENIED, f"nothing paid: {', '.join(codes)}"
    return Outcome.DENIED, "processed with nothing paid and no reason given"


def _processed(
    claim: ClaimPayment, rec: ClaimReconciliation, tolerance: Decimal
) -> tuple[Outcome, str]:
    if rec.paid < ZERO:
        if rec.charged is not None and rec.charged < ZERO:
            return Outcome.REVERSED, "every amount negative: a reversal"
        return Outcome.NEEDS_REVIEW, "negative payment without a reversal status"
    if rec.paid == ZERO:
        return _zero_pay(rec, tolerance)
    if rec.charged is None:
        return Outcome.PARTIALLY_PAID, "paid, but the charged amount is missing"
    if rec.paid >= rec.charged:
        return Outcome.PAID_IN_FULL, "paid at least the charged amount"
    unpaid_lines = [
        s for s in claim.services if (s.charged_amount or ZERO) > ZERO and s.payment_amount == ZERO
    ]
    if unpaid_lines:
        return Outcome.PARTIALLY_PAID, f"{len(unpaid_lines)} service line(s) paid nothing"
    prior = prior_payer_amount(rec)
    settled = rec.adjusted_in(AdjustmentGroup.PR, AdjustmentGroup.CO)
    settled += sum(
        (
            a.amount
            for a in rec.adjustments
            if a.carc == PRIOR_PAYER_CARC
            and a.group not in (AdjustmentGroup.PR, AdjustmentGroup.CO)
        ),
        ZERO,
    )
    reduced = rec.adjusted - settled
    if reduced > tolerance:
        return Outcome.PARTIALLY_PAID, "reduced by other or payer-initiated adjustments"
    written_off = settled
    if not any(a.group is AdjustmentGroup.PR for a in rec.adjustments):
        written_off += rec.patient_responsibility
    if rec.charged - rec.paid - written_off > tolerance:
        return Outcome.PARTIALLY_PAID, "part of the charge is neither paid nor adjusted"
    if prior > ZERO:
        return Outcome.PAID_IN_FULL, "paid what the prior payer left, the rest the patient's"
    return Outcome.PAID_IN_FULL, "paid, with the rest patient responsibility or contractual"


def classify(
    claim: ClaimPayment,
    reconciliation: ClaimReconciliation,
    match: MatchResult,
    *,
    tolerance: Decimal = ZERO,
) -> Classification:
    """The outcome of one claim payment (module docstring)."""
    status = claim_status(claim.status)
    flags: list[str] = []
    if status is ClaimStatus.UNKNOWN:
        flags.append("unknown_status")
    if not reconciliation.balanced:
        flags.append("reconciliation_difference")
    charged = reconciliation.charged
    if charged is not None and charged > ZERO and reconciliation.paid > charged:
        flags.append("overpayment")
    negative_charge = charged is not None and charged < ZERO
    if reconciliation.paid < ZERO and not negative_charge and status is not ClaimStatus.REVERSAL:
        flags.append("negative_payment")
    if match.status is MatchStatus.UNMATCHED:
        return Classification(Outcome.UNMATCHED, status, match.reason, tuple(flags))
    if match.status is MatchStatus.NEEDS_REVIEW:
        return Classification(Outcome.NEEDS_REVIEW, status, match.reason, tuple(flags))
    if status in _BY_STATUS:
        outcome = _BY_STATUS[status]
        return Classification(outcome, status, f"payer status: {status.value}", tuple(flags))
    outcome, reason = _processed(claim, reconciliation, tolerance)
    return Classification(outcome, status, reason, tuple(flags))
