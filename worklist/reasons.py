"""Why an item is on a queue, in the words a biller uses (no patient identifiers)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from worklist.queues import QueueKind

__all__ = ["difference_words", "money_text", "reason_for"]

_CHECKS = {
    "claim_balance": "charged is not paid + adjustments",
    "patient_responsibility": "patient responsibility is not the PR adjustments",
    "service_balance": "a service line's charge is not its payment + adjustments",
    "service_paid": "service lines' payments do not add up to the claim payment",
    "service_charged": "service lines' charges do not add up to the claim charge",
    "transaction_total": "the check total is not the sum of its claim payments",
}


_HOLDS = {
    "possible_duplicate": "possible duplicate of an earlier payment; post it or mark it a "
    "duplicate",
    "reversal_without_original": "a reversal whose original payment the ledger does not have",
    "negative_payment": "a negative payment that names no reversal (a recoupment?)",
}


def money_text(value: Decimal | str | None) -> str:
    """``1,234.50``; a negative amount as ``-1,234.50``; unknown as an em dash."""
    if value is None:
        return "—"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return "—"
    return f"{amount:,.2f}"


def difference_words(differences: Sequence[dict[str, Any]] | None) -> str:
    """``claim: charged is not paid + adjustments (expected 100.00, found 90.00)``; …"""
    words = []
    for difference in differences or []:
        check = str(difference.get("check", ""))
        what = _CHECKS.get(check, check.replace("_", " "))
        where = difference.get("where") or "claim"
        expected = money_text(difference.get("expected"))
        actual = money_text(difference.get("actual"))
        words.append(f"{where}: {what} (expected {expected}, found {actual})")
    return "; ".join(words) or "amounts do not add up"


def reason_for(kind: QueueKind, amount_text: Any, detail: Any) -> str:
    """The reason shown on a queue row; ``detail`` is the source's extra column."""
    if kind is QueueKind.NEEDS_REVIEW:
        candidates, hold, note = detail if isinstance(detail, tuple) else (detail, None, None)
        if hold in _HOLDS:
            return f"Held off the claim's money: {_HOLDS[hold]}" + (f" ({note})." if note else ".")
        count = len(candidates) if isinstance(candidates, list) else 0
        if count > 1:
            return f"Could be any of {count} claims; choose the one this payment pays."
        if count == 1:
            return "Matched one claim by patient details only; confirm it is the right claim."
        return "The ledger could not decide which claim this payment pays."
    if kind is QueueKind.UNMATCHED:
        return "No claim on file with this claim number; it posts when the claim arrives."
    if kind is QueueKind.DENIED:
        status = f" ({detail})" if detail else ""
        return f"The payer denied the claim{status}; decide: appeal, correct or write off."
    if kind is QueueKind.OVERPAID:
        charged, credit = detail if isinstance(detail, tuple) else (detail, None)
        return (
            f"Credit balance {money_text(credit)}: paid {money_text(amount_text)} against "
            f"{money_text(charged)} charged; refund or apply the credit."
        )
    if kind is QueueKind.UNBALANCED:
        return "Amounts do not add up: " + difference_words(detail)
    if kind is QueueKind.TRANSACTION_TOTAL:
        return (
            f"Check total {money_text(amount_text)}, but its claim payments add up to "
            f"{money_text(detail)}."
        )
    return ""
