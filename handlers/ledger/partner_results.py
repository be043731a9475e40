"""Partner answers on the claim's timeline: Integrex status checks and Availity attachments.

The status-check and attachment handlers publish a ``StatusCheckResult`` or an
``AttachmentResult`` per command; the ledger writes each on its claim's timeline once (by
message id), found by the command it answers, else by the ledger claim id, else by the claim
number. A result for a claim the ledger does not know is ignored.

The partner handlers only report; what follows from an answer is decided here, by the same
rules as every other follow-up (``handlers.ledger.followup_rules``, the rules with a
``status_category`` or ``status_code`` condition): a payer asking for documentation (R4) gets an
attachment with the rule's LOINC codes, recorded as one ``FollowUp`` row whose trigger is the
status check it answers, one timeline event and one command in the outbox.
"""

from __future__ import annotations

from datetime import datetime

from handlers.ledger.followup_decisions import FollowUpContext, FollowUps
from handlers.ledger.followup_rules import Decision, FollowUpFacts
from handlers.ledger.store import LedgerUnit
from handlers.ledger.tables import Claim, FollowUp
from router.followups import AttachmentResult, StatusCheckResult
from router.messages import ClaimPaymentMessage

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
    unit: LedgerUnit,
    result: StatusCheckResult | AttachmentResult,
    message_id: str,
    *,
    follow_ups: FollowUps,
    test: bool,
    now: datetime,
) -> int | None:
    """The claim the result was written on, or None when the ledger does not know it.

    A status answer is also handed to the follow-up rules (``follow_ups``); ``test`` is the lane
    of the result (its ``redox-test`` header), which the decided commands keep.
    """
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
        await _decide_after_answer(
            unit, claim_id, result, follow_up, follow_ups=follow_ups, test=test, now=now
        )
    else:
        unit.event(claim_id, "attachment", _attachment_text(result), message_id=message_id)
    return claim_id


async def _decide_after_answer(
    unit: LedgerUnit,
    claim_id: int,
    result: StatusCheckResult,
    asked: FollowUp | None,
    *,
    follow_ups: FollowUps,
    test: bool,
    now: datetime,
) -> list[Decision]:
    """The follow-ups the rules decide from a payer's answer (none unless it answered)."""
    if result.outcome != "answered" or not result.category_code:
        return []
    claim = await unit.claim(claim_id)
    # The payment that led to the status check names the payer's claim number and the trace.
    receipt = await unit.receipt(asked.trigger_message_id) if asked is not None else None
    payment = (
        ClaimPaymentMessage.model_validate_json(receipt.payload) if receipt is not None else None
    )
    facts = FollowUpFacts.of_status_answer(
        result.category_code, [result.status_code] if result.status_code else []
    )
    context = FollowUpContext(
        trigger_message_id=result.command_id,
        test=test,
        control_number=payment.claim.control_number if payment is not None else None,
        tracking_number=payment.transaction.tracking_number if payment is not None else None,
        payer_request_number=None,  # a status answer is no 277RFAI: the attachment is unsolicited
        now=now,
    )
    return await follow_ups.record(unit, claim, facts, context)
