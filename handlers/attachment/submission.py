"""From an attachment command and its documents to Availity's submission body.

One command is one submission: one payload per LOINC code, each with its documents
base64-encoded and the code as its ``reasonCodes`` entry.

``encounter.requestNumber``:

* unsolicited -- our own attachment control number (ACN), unique per submission and derived from
  the command id and its LOINC codes (:func:`attachment_control_number`), so a re-delivered or
  duplicated command names the same submission;
* solicited -- the payer's control number from the 277RFAI, which every attachment answering
  that request carries. It cannot tell our submissions apart, so our rows are keyed by the ACN in
  both flows.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from claimflow.settings import AvailitySettings
from handlers.documents import Document
from handlers.partners.availity import AttachmentSubmission, parse_submission
from router.followups import AttachmentRequest

__all__ = ["attachment_control_number", "build_submission", "request_number_of"]

_ACN_PREFIX = "CF"


def attachment_control_number(command: AttachmentRequest) -> str:
    """``CF`` and 24 hex digits: the same for the same command id and set of LOINC codes."""
    codes = ",".join(sorted(set(command.loinc_codes)))
    digest = hashlib.sha256(f"{command.command_id}|{codes}".encode()).hexdigest()
    return f"{_ACN_PREFIX}{digest[:24].upper()}"


def request_number_of(command: AttachmentRequest, control_number: str) -> str | None:
    """What goes in ``encounter.requestNumber`` (``None``: solicited without the payer's)."""
    if command.solicited:
        return command.payer_request_number or None
    return control_number


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def build_submission(
    command: AttachmentRequest,
    documents: list[Document],
    *,
    request_number: str,
    settings: AvailitySettings,
) -> AttachmentSubmission:
    """The validated submission; ``AvailityInvalidSubmissionError`` names what is missing."""
    claim = command.claim
    account = claim.patient_account_number or claim.submission_number
    payloads = [
        {
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
        for code in dict.fromkeys(command.loinc_codes)
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
