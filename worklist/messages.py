"""What the worklist publishes (through the ledger's outbox): decisions and access records.

Topics ``<prefix>worklist.decisions.v1`` and ``<prefix>worklist.access.v1`` (router/topics.py's
contract; the worklist is people's work, so it writes the production lane). Access records carry
identifiers only: who (the identity provider's subject), what, which claim ids, when, from
where.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from router.topics import TopicSet

__all__ = ["AccessRecordMessage", "ClaimNoteMessage", "WorklistTopics"]


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
