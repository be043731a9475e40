"""What Integrex's ``categoryCode`` and ``statusCode`` mean (X12 277 code lists).

Integrex passes through the payer's X12 claim status: the *category* (code list 507, e.g. ``A4``)
says where the claim stands, the *status* (code list 508, e.g. ``35``) says why. Category codes
and their groups follow docs/partner-api-notes.md. The status list is partial -- the codes this
flow reasons about; any other code maps to ``None`` and Integrex's own ``statusDescription``
remains the text to show.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "CategoryGroup",
    "ClaimStatusCategory",
    "category_meaning",
    "status_meaning",
]


class CategoryGroup(enum.Enum):
    """What a category code asks of us."""

    RECEIVED = "received"  # accepted / in the payer's system: wait
    REJECTED = "rejected"  # fix and resubmit
    NOT_FOUND = "not_found"
    PENDING = "pending"
    FINALIZED = "finalized"
    REQUEST_FOR_INFORMATION = "request_for_information"  # send documents (Availity attachment)
    ERROR = "error"  # the inquiry itself failed; ask again later
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ClaimStatusCategory:
    code: str
    group: CategoryGroup
    meaning: str


_CATEGORIES: dict[str, tuple[CategoryGroup, str]] = {
    "A0": (CategoryGroup.RECEIVED, "Acknowledgement/Forwarded"),
    "A1": (CategoryGroup.RECEIVED, "Acknowledgement/Receipt"),
    "A2": (CategoryGroup.RECEIVED, "Acknowledgement/Acceptance into adjudication system"),
    "A5": (CategoryGroup.RECEIVED, "Acknowledgement/Split claim"),
    "A3": (CategoryGroup.REJECTED, "Acknowledgement/Returned as unprocessable claim"),
    "A6": (CategoryGroup.REJECTED, "Acknowledgement/Rejected for missing information"),
    "A7": (CategoryGroup.REJECTED, "Acknowledgement/Rejected for invalid information"),
    "A8": (CategoryGroup.REJECTED, "Acknowledgement/Rejected for relational field in error"),
    "A4": (CategoryGroup.NOT_FOUND, "Acknowledgement/Not Found"),
    "D0": (CategoryGroup.NOT_FOUND, "Data Search Unsuccessful"),
    "P0": (CategoryGroup.PENDING, "Pending: Adjudication/Details"),
    "P1": (CategoryGroup.PENDING, "Pending/In Process"),
    "P2": (CategoryGroup.PENDING, "Pending/Payer Review"),
    "P3": (CategoryGroup.PENDING, "Pending/Provider Requested Information"),
    "P4": (CategoryGroup.PENDING, "Pending/Patient Requested Information"),
    "P5": (CategoryGroup.PENDING, "Pending/Payer Administrative/System hold"),
    "F0": (CategoryGroup.FINALIZED, "Finalized"),
    "F1": (CategoryGroup.FINALIZED, "Finalized/Payment"),
    "F2": (CategoryGroup.FINALIZED, "Finalized/Denial"),
    "F3": (CategoryGroup.FINALIZED, "Finalized/Revised"),
    "F4": (CategoryGroup.FINALIZED, "Finalized/Adjudication Complete - No payment forthcoming"),
    "R0": (CategoryGroup.REQUEST_FOR_INFORMATION, "Requests for additional information/General"),
    "R1": (CategoryGroup.REQUEST_FOR_INFORMATION, "Requests for additional information/Entity"),
    "R3": (CategoryGroup.REQUEST_FOR_INFORMATION, "Requests for additional information/Claim/Line"),
    "R4": (
        CategoryGroup.REQUEST_FOR_INFORMATION,
        "Requests for additional information/Documentation",
    ),
    "R5": (CategoryGroup.REQUEST_FOR_INFORMATION, "Request for more specific detail"),
    "R9": (CategoryGroup.REQUEST_FOR_INFORMATION, "Request for medical necessity information"),
    "R10": (CategoryGroup.REQUEST_FOR_INFORMATION, "Request for appeal information"),
    "R11": (CategoryGroup.REQUEST_FOR_INFORMATION, "Request for pre-payment review information"),
    "R13": (CategoryGroup.REQUEST_FOR_INFORMATION, "Documentation received was unreadable"),
    "R14": (CategoryGroup.REQUEST_FOR_INFORMATION, "Documentation received was not requested"),
    "R16": (CategoryGroup.REQUEST_FOR_INFORMATION, "Request for eligibility information"),
    "E0": (CategoryGroup.ERROR, "Response not possible - error on submitted request data"),
    "E1": (CategoryGroup.ERROR, "Response not possible - System Status"),
    "E2": (CategoryGroup.ERROR, "Information Holder is not responding; resubmit at a later time"),
    "E3": (CategoryGroup.ERROR, "Correction required - relational fields in error"),
    "E4": (CategoryGroup.ERROR, "Trading partner agreement specific requirement not met"),
}

_STATUSES: dict[str, str] = {
    "0": "Cannot provide further status electronically",
    "1": "For more detailed information, see remittance advice",
    "2": "More detailed information in letter",
    "3": "Claim has been adjudicated and is awaiting payment cycle",
    "19": "Entity acknowledges receipt of claim/encounter",
    "20": "Accepted for processing",
    "21": "Missing or invalid information",
    "35": "Claim/encounter not found",
    "54": "Duplicate of a previously processed claim/line",
    "65": "Claim/line has been paid",
}


def category_meaning(code: str | None) -> ClaimStatusCategory:
    """The category of ``code``; unknown or missing codes are ``CategoryGroup.UNKNOWN``."""
    normalized = (code or "").strip().upper()
    group, meaning = _CATEGORIES.get(normalized, (CategoryGroup.UNKNOWN, "Unknown category code"))
    return ClaimStatusCategory(code=normalized, group=group, meaning=meaning)


def status_meaning(code: str | None) -> str | None:
    """The X12 meaning of a claim status code, or ``None`` when this list does not know it."""
    normalized = (code or "").strip()
    if normalized.isdigit():
        normalized = str(int(normalized))
    return _STATUSES.get(normalized)
