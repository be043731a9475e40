"""From an attachment command and its documents to Availity's submission body.

One command is one submission: one payload (one attachment) per LOINC code, each with its
documents base64-encoded and the code as its ``reasonCodes`` entry.

Attachment Control Numbers (the reference: "for unsolicited attachments, use a unique Attachment
Control Number per attachment submitted; for solicited attachments, use the payer Attachment
Control Number for every attachment submitted"):

* the submission's own key, :func:`attachment_control_number`, is derived from the command id
  and its LOINC codes, so a re-delivered or duplicated command names the same submission; our
  rows are keyed by it in both flows;
* unsolicited -- each attachment carries its own ACN in ``payloads[].requestNumber``: the key
  and the attachment's position (``CF…-1``, ``CF…-2``); ``encounter.requestNumber`` is the first
  attachment's (:func:`attachment_control_numbers`);
* solicited -- every attachment, and the encounter, carry the payer's control number from the
  277RFAI.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from claimflow.settings import AvailitySettings
from handlers.followups.documents import Document
from handlers.followups.partners.availity import AttachmentSubmission, parse_submission
from router.followups import AttachmentRequest

__all__ = [
    "attachment_control_number",
    "attachment_control_numbers",
    "build_submission",
    "request_number_of",
]

_ACN_PREFIX = "CF"


def attachment_control_number(command: AttachmentRequest) -> str:
    """``CF`` and 24 hex digits: the same for the same command id and set of LOINC codes."""
    codes = ",".join(sorted(set(command.loinc_codes)))
    digest = hashlib.sha256(f"{command.command_id}|{codes}".encode()).hexdigest()
    return f"{_ACN_PREFIX}{digest[:24].upper()}"


def attachment_control_numbers(command: AttachmentRequest, control_number: str) -> list[str]:
    """The ACN of each attachment (one per LOINC code, in order); the payer's if solicited."""
    codes = list(dict.fromkeys(command.loinc_codes))
    if command.solicited:
        return [command.payer_request_number or ""] * len(codes)
    return [f"{control_number}-{position}" for position in range(1, len(codes) + 1)]


def request_number_of(command: AttachmentRequest, control_number: str) -> str | None:
    """What goes in ``encounter.requestNumber`` (``None``: solicited without the payer's)."""
    if command.solicited:
        return command.payer_request_number or None
    return attachment_control_numbers(command, control_number)[0]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def build_submission(
    command: AttachmentRequest,
    documents: list[Document],
    *,
    request_number: str,
    settings: AvailitySettings,
    control_number: str | None = None,
) -> AttachmentSubmission:
    """The validated submission; ``AvailityInvalidSubmissionError`` names what is missing."""
    claim = command.claim
    codes = list(dict.fromkeys(command.loinc_codes))
    numbers = (
        attachment_control_numbers(command, control_number)
        if control_number is not None
        else [request_number] * len(codes)
    )
    account = claim.patient_account_number or claim.submission_number
    payloads = [
        {
            "requestNumber": number,
            "reasonCodes": [{"codeType": "LOINC", "value": code}],
            "contents": [
                {
                    "contentType": {"type": d.content_type[0], "subtype": d.content_type[1]},
                    "filename": d.filename,
                    "data": base64.b64encode(d.data).decode("ascii"),
                }
                for d in documents
                if d.loinc_code == code
            ],
        }
        for code, number in zip(codes, numbers, strict=True)
    ]
    body: dict[str, Any] = {
        "submitter": {"id": settings.submitter_id, "state": settings.submitter_state},
        "payer": {"id": claim.payer_id},
        "product": {"type": "CLAIM", "category": "MEDICAL"},
        "patient": {
            "firstName": claim.patient_first_name,
            "lastName": claim.patient_last_name,
            "dateOfBirth": _iso(claim.patient_dob),
            "memberNumber": claim.subscriber_id,
            "accountNumber": account,
        },
        "subscriber": {
            "firstName": claim.subscriber_first_name or claim.patient_first_name,
            "lastName": claim.subscriber_last_name or claim.patient_last_name,
            "dateOfBirth": _iso(claim.subscriber_dob or claim.patient_dob),
            "memberNumber": claim.subscriber_id,
            "accountNumber": account,
        },
        "provider": {
            "lastName": claim.billing_provider_name,
            "npi": claim.billing_provider_npi,
            "taxId": claim.billing_provider_tax_id,
        },
        "encounter": {
            "claimNumber": claim.payer_control_number or claim.submission_number,
            "serviceFrom": _iso(claim.service_from),
            "serviceTo": _iso(claim.service_to),
            "submitDate": _iso(claim.submitted_on),
            "serviceChargeAmount": (
                str(claim.charged_amount) if claim.charged_amount is not None else None
            ),
            "requestNumber": request_number,
        },
        "payloads": payloads,
        "solicited": command.solicited,
    }
    return parse_submission(_without_none(body))


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value
