"""Partner answers on the claim's timeline: Integrex status checks and Availity attachments.

The status-check and attachment handlers publish a ``StatusCheckResult`` or an
``AttachmentResult`` per command; the ledger writes each on its claim's timeline once (by
message id), found by the command it answers, else by the ledger claim id, else by the claim
number. A result for a claim the ledger does not know is ignored.
"""

from __future__ import annotations

from handlers.ledger.store import LedgerUnit
from handlers.ledger.tables import Claim, FollowUp
from router.followups import AttachmentResult, StatusCheckResult

__all__ = ["record_partner_result"]


def _status_text(result: StatusCheckResult) -> str:
    if result.outcome != "answered":
        words = result.outcome.replace("_", " ")
        return f"claim status check {words}" + (f": {result.detail}" if result.detail else "")
    parts = [
        f"{code} {meaning}".strip()
        for code, meaning in (
            (result.category_code or "", result.category_meaning or ""),
            (result.status_code or "", result.status_meaning or ""),
        )
        if code or meaning
    ]
    text = "claim status check answered: " + ("; ".join(parts) or "no status given")
    return text + ("; the payer asks for documents" if result.needs_documents else "")


def _attachment_text(result: AttachmentResult) -> str:
    text = f"attachment {result.outcome}: control number {result.attachment_control_number}"
    if result.status:
        text += f", status {result.status}"
    if result.violations:
        text += f", {len(result.violations)} validation problem(s)"
    return text


async def record_partner_result(
    unit: LedgerUnit, result: StatusCheckResult | AttachmentResult, message_id: str
) -> int | None:
    """The claim the result was written on, or None when the ledger does not know it."""
    follow_up = await unit.session.get(FollowUp, result.command_id)
    claim_id = follow_up.claim_id if follow_up is not None else None
    if claim_id is None and result.claim_id.isdigit():
        claim = await unit.session.get(Claim, int(result.claim_id))
        if claim is not None and claim.claim_number == result.submission_number:
            claim_id = claim.id
    if claim_id is None:
        claims = await unit.claims_by_number([result.submission_number])
        by_number = claims.get(result.submission_number)
        claim_id = by_number.id if by_number is not None else None
    if claim_id is None or await unit.has_event(claim_id, message_id):
        return claim_id
    if isinstance(result, StatusCheckResult):
        unit.event(claim_id, "status-check", _status_text(result), message_id=message_id)
    else:
        unit.event(claim_id, "attachment", _attachment_text(result), message_id=message_id)
    return claim_id
