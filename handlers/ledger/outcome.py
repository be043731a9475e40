"""What a claim payment means for the claim: the outcome the ledger records and acts on.

The payer's status (CLP02) decides first: a reversal, a predetermination, "not our claim", a
forward to another payer and a denial are what they say. A claim *processed* by the payer is:

- ``denied`` when nothing was paid (a zero payment may be a final decision);
- ``paid_in_full`` when every cent charged is paid, the patient's responsibility (PR) or a
  contractual write-off (CO), and no service line went unpaid;
- ``partially_paid`` otherwise: a line paid nothing, an OA/PI reduction, an unexplained rest;
- ``needs_review`` when the payment is negative without a reversal status (a recoupment).

A payment without a matching claim is ``unmatched``; an ambiguous or demographic-only match is
``needs_review``. Flags add what a person should know: ``overpayment`` (paid more than
charged), ``reconciliation_difference``, ``unknown_status``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from handlers.ledger.codes import AdjustmentGroup, ClaimStatus, claim_status
from handlers.ledger.matching import MatchResult, MatchStatus
from handlers.ledger.reconciliation import ZERO, ClaimReconciliation
from router.redox import ClaimPayment

__all__ = ["Classification", "Outcome", "classify"]


class Outcome(enum.Enum):
    PAID_IN_FULL = "paid_in_full"
    PARTIALLY_PAID = "partially_paid"
    DENIED = "denied"
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


def _processed(
    claim: ClaimPayment, rec: ClaimReconciliation, tolerance: Decimal
) -> tuple[Outcome, str]:
    if rec.paid < ZERO:
        return Outcome.NEEDS_REVIEW, "negative payment without a reversal status"
    if rec.paid == ZERO:
        return Outcome.DENIED, "processed with nothing paid"
    if rec.charged is None:
        return Outcome.PARTIALLY_PAID, "paid, but the charged amount is missing"
    if rec.paid >= rec.charged:
        return Outcome.PAID_IN_FULL, "paid at least the charged amount"
    unpaid_lines = [
        s for s in claim.services if (s.charged_amount or ZERO) > ZERO and s.payment_amount == ZERO
    ]
    if unpaid_lines:
        return Outcome.PARTIALLY_PAID, f"{len(unpaid_lines)} service line(s) paid nothing"
    reduced = rec.adjusted - rec.adjusted_in(AdjustmentGroup.PR, AdjustmentGroup.CO)
    if reduced > tolerance:
        return Outcome.PARTIALLY_PAID, "reduced by other or payer-initiated adjustments"
    written_off = rec.adjusted_in(AdjustmentGroup.PR, AdjustmentGroup.CO)
    if not any(a.group is AdjustmentGroup.PR for a in rec.adjustments):
        written_off += rec.patient_responsibility
    if rec.charged - rec.paid - written_off > tolerance:
        return Outcome.PARTIALLY_PAID, "part of the charge is neither paid nor adjusted"
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
    if match.status is MatchStatus.UNMATCHED:
        return Classification(Outcome.UNMATCHED, status, match.reason, tuple(flags))
    if match.status is MatchStatus.NEEDS_REVIEW:
        return Classification(Outcome.NEEDS_REVIEW, status, match.reason, tuple(flags))
    if status in _BY_STATUS:
        outcome = _BY_STATUS[status]
        return Classification(outcome, status, f"payer status: {status.value}", tuple(flags))
    outcome, reason = _processed(claim, reconciliation, tolerance)
    return Classification(outcome, status, reason, tuple(flags))
