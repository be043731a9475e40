"""What the worklist publishes (through the ledger's outbox): decisions and access records.

Topics ``<prefix>worklist.decisions.v1`` and ``<prefix>worklist.access.v1`` (router/topics.py's
contract; the worklist is people's work, so it writes the production lane). Access records carry
identifiers only: who (the identity provider's subject), what, which claim ids, when, from
where.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from router.topics import TopicSet

__all__ = [
    "AccessRecordMessage",
    "AttachmentMarkedMessage",
    "ClaimFigures",
    "ClaimNoteMessage",
    "ReviewDecisionMessage",
    "StatusCheckRequestedMessage",
    "WorklistTopics",
]


class _Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class WorklistTopics(BaseModel):
    model_config = ConfigDict(frozen=True)

    prefix: str = "claimflow."

    @property
    def decisions(self) -> str:
        return TopicSet(prefix=self.prefix).worklist_decisions

    @property
    def access(self) -> str:
        return TopicSet(prefix=self.prefix).worklist_access


class ClaimNoteMessage(_Contract):
    schema_name: Literal["claimflow.worklist-note.v1"] = Field(
        "claimflow.worklist-note.v1", alias="schema"
    )
    message_id: str = Field(description="The decision's id.")
    claim_id: str
    claim_number: str
    decided_by: str = Field(description="The identity provider's subject of the person.")
    decided_by_name: str
    decided_at: datetime
    version_seen: str = Field(description="The claim version the person decided on.")
    note: str


class AccessRecordMessage(_Contract):
    schema_name: Literal["claimflow.worklist-access.v1"] = Field(
        "claimflow.worklist-access.v1", alias="schema"
    )
    message_id: str
    at: datetime
    actor: str = Field(description="The identity provider's subject (or 'anonymous').")
    action: str = Field(description="view_queues, view_queue, view_claim, add_note, sign_in…")
    outcome: Literal["allowed", "refused"]
    target: str = Field(description="What was asked for: a queue name or claim:<ledger id>.")
    claim_ids: list[int] = Field(description="Ledger ids of the claims shown or changed.")
    client_address: str | None
    request_id: str


class ClaimFigures(_Contract):
    """A claim's money at one moment: charged = paid + patient share + adjusted + open."""

    charged: Decimal
    paid: Decimal
    patient_share: Decimal
    adjusted: Decimal
    open: Decimal


class ReviewDecisionMessage(_Contract):
    schema_name: Literal["claimflow.worklist-review-decision.v1"] = Field(
        "claimflow.worklist-review-decision.v1", alias="schema"
    )
    message_id: str = Field(description="The decision's id.")
    payment_message_id: str = Field(description="The claim payment message decided on.")
    action: Literal["post", "not_ours", "duplicate", "write_off", "park"]
    claim_id: str | None = Field(description="The claim the decision is recorded on.")
    claim_number: str | None
    decided_by: str = Field(description="The identity provider's subject (or the CLI's user).")
    decided_by_name: str
    decided_at: datetime
    version_seen: str = Field(description="The review item's version the person decided on.")
    reason_code: str | None = Field(description="The write-off's reason code (e.g. CARC).")
    duplicate_of: str | None = Field(description="Message id of the payment this one repeats.")
    note: str | None
    before: ClaimFigures | None
    after: ClaimFigures | None


class StatusCheckRequestedMessage(_Contract):
    """A person asked Integrex about a claim now (the command went to status_check_requests)."""

    schema_name: Literal["claimflow.worklist-status-check-request.v1"] = Field(
        "claimflow.worklist-status-check-request.v1", alias="schema"
    )
    message_id: str = Field(description="The decision's id.")
    command_id: str = Field(description="The StatusCheckRequest's command id.")
    claim_id: str
    claim_number: str
    decided_by: str
    decided_by_name: str
    decided_at: datetime
    version_seen: str = Field(description="The claim version the person decided on.")
    why: str


class AttachmentMarkedMessage(_Contract):
    """A person released an attachment whose outcome was unknown: sent, or not sent."""

    schema_name: Literal["claimflow.worklist-attachment-marked.v1"] = Field(
        "claimflow.worklist-attachment-marked.v1", alias="schema"
    )
    message_id: str = Field(description="The decision's id.")
    attachment_control_number: str
    command_id: str
    claim_id: str
    claim_number: str
    marked: Literal["sent", "not_sent"]
    availity_request_id: int | None = Field(description="The Availity id the person found.")
    state_before: str
    state_after: str
    decided_by: str
    decided_by_name: str
    decided_at: datetime
    version_seen: str = Field(description="The attachment's version the person decided on.")
    why: str
