"""Follow-up commands and their results: the messages between the ledger and the partners.

Part of the topic contract the router owns (like router/messages.py), so that every team
reading these topics depends on router/ alone.

The ledger handler publishes a ``StatusCheckRequest`` on ``TopicSet.status_check_requests`` or
an ``AttachmentRequest`` on ``TopicSet.attachment_requests``; the status-check and attachment
handlers answer with ``StatusCheckResult`` / ``AttachmentResult`` on the results topics, which
the ledger records on the claim's timeline. Messages are keyed by the claim's submission number.

``command_id`` is stable: derived from the claim, the action, the reason and the message that
triggered it, so a command re-published after a crash is recognised as the same command. These
messages carry PHI (the partners need names and dates of birth): they stay inside the cluster,
and no field of them is ever logged.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AttachmentRequest",
    "AttachmentResult",
    "FollowUpClaim",
    "StatusCheckRequest",
    "StatusCheckResult",
    "command_id",
]

_COMMAND_NAMESPACE = uuid.UUID("0b8f3c52-8a0e-4f57-9d1e-3c2b6a4e7d10")


def command_id(claim_number: str, action: str, reason: str, trigger_id: str) -> str:
    """The same command for the same claim, action, reason and trigger, on every retry."""
    return str(uuid.uuid5(_COMMAND_NAMESPACE, f"{claim_number}|{action}|{reason}|{trigger_id}"))


class _Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class FollowUpClaim(_Contract):
    """What a partner needs to know about the claim, as the ledger has it."""

    claim_id: str = Field(description="The ledger's id of the claim.")
    submission_number: str = Field(description="The provider's claim number (CLP01).")
    payer_control_number: str | None = Field(None, description="The payer's claim number.")
    payer_id: str | None = None
    payer_name: str | None = None
    patient_first_name: str | None = None
    patient_last_name: str | None = None
    patient_dob: date | None = None
    patient_account_number: str | None = None
    subscriber_id: str | None = Field(None, description="Member id of the subscriber.")
    subscriber_first_name: str | None = None
    subscriber_last_name: str | None = None
    subscriber_dob: date | None = None
    billing_provider_npi: str | None = None
    billing_provider_tax_id: str | None = None
    billing_provider_name: str | None = None
    service_from: date | None = None
    service_to: date | None = None
    submitted_on: date | None = None
    charged_amount: Decimal | None = None


class StatusCheckRequest(_Contract):
    """Ask Integrex what happened to a claim."""

    schema_name: Literal["claimflow.status-check-request.v1"] = Field(
        "claimflow.status-check-request.v1", alias="schema"
    )
    command_id: str
    reason: str = Field(description="Why: the rule that fired, e.g. 'denied', 'unmatched'.")
    rule: str = Field(description="The name of the follow-up rule that decided it.")
    trigger_message_id: str = Field(description="The claim message that led to this command.")
    requested_at: datetime
    test: bool = Field(False, description="Meta.Test traffic: Integrex env T.")
    claim: FollowUpClaim
    tracking_number: str | None = Field(None, description="Payment trace number, if any.")

    model_config = ConfigDict(populate_by_name=True)


class AttachmentRequest(_Contract):
    """Send the payer the documents it needs for a claim, through Availity."""

    schema_name: Literal["claimflow.attachment-request.v1"] = Field(
        "claimflow.attachment-request.v1", alias="schema"
    )
    command_id: str
    reason: str
    rule: str
    trigger_message_id: str
    requested_at: datetime
    test: bool = False
    claim: FollowUpClaim
    loinc_codes: list[str] = Field(min_length=1, description="Documents to send, by LOINC.")
    solicited: bool = Field(description="True when answering a payer's request (277RFAI).")
    payer_request_number: str | None = Field(
        None, description="The payer's attachment control number (solicited flow)."
    )
    due_date: date | None = None

    model_config = ConfigDict(populate_by_name=True)


class StatusCheckResult(_Contract):
    """What Integrex answered (or why it could not be asked)."""

    schema_name: Literal["claimflow.status-check-result.v1"] = Field(
        "claimflow.status-check-result.v1", alias="schema"
    )
    command_id: str
    claim_id: str
    submission_number: str
    outcome: Literal["answered", "not_found", "failed", "timed_out"]
    integrex_request_id: str | None = None
    category_code: str | None = None
    category_meaning: str | None = None
    status_code: str | None = None
    status_meaning: str | None = None
    needs_documents: bool = Field(False, description="The payer asked for more information.")
    detail: str | None = Field(None, description="Our own words; never a partner's raw text.")
    answered_at: datetime

    model_config = ConfigDict(populate_by_name=True)


class AttachmentResult(_Contract):
    """What became of an attachment submission."""

    schema_name: Literal["claimflow.attachment-result.v1"] = Field(
        "claimflow.attachment-result.v1", alias="schema"
    )
    command_id: str
    claim_id: str
    submission_number: str
    outcome: Literal["accepted", "rejected", "failed", "pending"]
    availity_request_id: int | None = None
    attachment_control_number: str
    status: str | None = None
    violations: list[str] = Field(
        default_factory=list, description="'path: message' of each parameterViolation."
    )
    finished_at: datetime

    model_config = ConfigDict(populate_by_name=True)
