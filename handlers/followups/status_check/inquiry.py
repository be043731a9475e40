"""From a status-check command to Integrex's inquiry, and from Integrex's answer to our result.

The inquiry carries what the quick start's sample carries, taken from the ledger's claim
snapshot: patient (name, date of birth), subscriber (member id, name), billing provider (NPI,
name, tax id), the service start as ``admitDate``, the claim's charges, the payer, and two
tracking ids -- our claim number (``trackingId1``, echoed back as ``internalAccountNumber``) and
the payment's trace number or the payer's claim number (``trackingId2``).

A result reports what the payer said: its category and status codes, and ``needs_documents``
when the category asks the provider for information (any ``R`` category, or ``P3`` "waiting on
information requested from the provider"). It decides nothing: whether an answer calls for an
attachment, and with which LOINC documents, is the ledger's rules' decision
(``handlers.ledger.followup_rules``), made when the ledger records the result.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError

from handlers.followups.partners.integrex import ClaimInfo, ClaimStatusRequest
from handlers.followups.partners.integrex_codes import CategoryGroup
from router.followups import StatusCheckRequest, StatusCheckResult

__all__ = ["IncompleteClaimError", "inquiry_for", "result_from"]


class IncompleteClaimError(ValueError):
    """The claim snapshot lacks what an inquiry needs; the message lists field names only."""


def inquiry_for(command: StatusCheckRequest) -> ClaimStatusRequest:
    claim = command.claim
    values = {
        "patient_dob": claim.patient_dob,
        "patient_first_name": claim.patient_first_name,
        "patient_last_name": claim.patient_last_name,
        "subscriber_id": claim.subscriber_id,
        "subscriber_first_name": claim.subscriber_first_name or claim.patient_first_name,
        "subscriber_last_name": claim.subscriber_last_name or claim.patient_last_name,
        "billing_provider_npi": claim.billing_provider_npi,
        "billing_provider_name": claim.billing_provider_name,
        "tax_id": claim.billing_provider_tax_id,
        "admit_date": claim.service_from,
        "total_charges": claim.charged_amount,
        "payer_id": claim.payer_id,
        "payer_name": claim.payer_name,
        "tracking_id1": claim.submission_number,
        "tracking_id2": command.tracking_number or claim.payer_control_number,
    }
    try:
        return ClaimStatusRequest.model_validate(values)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        raise IncompleteClaimError(
            f"the claim lacks what a status inquiry needs: {', '.join(fields)}"
        ) from None


def _claim_level(entries: list[ClaimInfo]) -> ClaimInfo | None:
    """The claim-level entry (``svcLine`` 0 or absent), else the first one."""
    for entry in entries:
        if not entry.svc_line:
            return entry
    return entries[0] if entries else None


def result_from(
    command: StatusCheckRequest,
    request_id: str,
    entries: list[ClaimInfo],
    *,
    at: datetime,
) -> StatusCheckResult:
    claim = command.claim
    entry = _claim_level(entries)
    if entry is None:
        return StatusCheckResult(
            command_id=command.command_id,
            claim_id=claim.claim_id,
            submission_number=claim.submission_number,
            outcome="not_found",
            integrex_request_id=request_id,
            detail="Integrex answered without a claim status",
            answered_at=at,
        )
    category = entry.category
    needs_documents = (
        category.group is CategoryGroup.REQUEST_FOR_INFORMATION or category.code == "P3"
    )
    if category.group is CategoryGroup.NOT_FOUND:
        outcome, detail = "not_found", "the payer does not find the claim"
    elif category.group is CategoryGroup.ERROR:
        outcome, detail = "failed", "the payer could not answer the inquiry; ask again later"
    else:
        outcome, detail = "answered", None
    if needs_documents:
        detail = "the payer asks for information"
    return StatusCheckResult(
        command_id=command.command_id,
        claim_id=claim.claim_id,
        submission_number=claim.submission_number,
        outcome=outcome,
        integrex_request_id=request_id,
        category_code=category.code or None,
        category_meaning=category.meaning,
        status_code=entry.status_code,
        status_meaning=entry.status_meaning,
        needs_documents=needs_documents,
        detail=detail,
        answered_at=at,
    )
