"""The partner handlers' own tables: one row per follow-up command, with its state.

They live in the ledger's database (``DatabaseSettings.url``) but in their own metadata and
their own Alembic chain (``handlers/followups/state/migrations``, version table
``alembic_version_followups``): the partner handlers never read or write the ledger's tables.

``status_checks`` (one row per ``StatusCheckRequest.command_id``)::

    requested ──(intent)──▶ submitting ──POST answered──▶ submitted ──200──▶ answered
        ▲  │                    └──sent, no answer──▶ unknown  │  └─deadline──▶ timed_out
        │  └── refused / incomplete claim ──▶ failed             │
        └─────────────── 404: Integrex forgot the id ────────────┘

``attachment_submissions`` (one row per submission, keyed by its attachment control number,
derived from the command id and its LOINC codes; each attachment carries its own ACN)::

    intent_recorded ──claimed──▶ sending ──POST answered──▶ sent ──poll──▶ accepted | rejected
         │   ▲                    │   │                      └─deadline──▶ (stays sent: pending)
         │   └─ not sent (token, ─┘   ├─POST refused (400) ─▶ rejected
         │      429, 503, ...)        └─crash / unconfirmed ───▶ needs_review
         └─ documents missing or invalid (never sent) ─────▶ failed

Both carry a durable timer (:mod:`handlers.followups.state.timers`): ``command`` (what to send;
dropped once the final result is published), ``traceparent`` (the trace its steps continue),
``lane``, ``due_at`` (when to look next; ``NULL``:
nothing to do), ``deadline_at`` (the command's whole retry budget), ``lease_token`` (which
poller holds the row), ``polls``, ``failed_calls`` and ``last_error``.
``partner_request_budgets`` counts requests per partner and UTC day for the daily budget.

A row is the only authority on whether a POST may be made: see
handlers/followups/attachment/handler.py.
Rows hold ids, states and our own results; the command (with the PHI the partner needs) is kept
only while its request is outstanding, and never reaches a log line.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Index, Integer, String, false, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["AttachmentRow", "Base", "PartnerRequestBudgetRow", "StatusCheckRow", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Metadata of the partner handlers' tables only (not the ledger's)."""


class StatusCheckRow(Base):
    __tablename__ = "status_checks"
    __table_args__ = (
        Index("ix_status_checks_lane_due_at", "lane", "due_at"),
        # The worklist's "partner answered" queue: only the rows that need a person, by age.
        Index(
            "ix_status_checks_needs_person",
            "updated_at",
            "command_id",
            postgresql_where=text("needs_person"),
            sqlite_where=text("needs_person"),
        ),
    )

    command_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    claim_id: Mapped[str] = mapped_column(String(80))
    submission_number: Mapped[str] = mapped_column(String(80), index=True)
    state: Mapped[str] = mapped_column(String(20))
    integrex_request_id: Mapped[str | None] = mapped_column(String(80))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Whether the state and result ask billing staff to act
    #: (``handlers.followups.status_check.store.needs_person``), written with every state.
    needs_person: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The durable timer (handlers/followups/state/timers.py): what to send, when to look next.
    command: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    lane: Mapped[str] = mapped_column(String(12), default="production")
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_token: Mapped[str | None] = mapped_column(String(36))
    polls: Mapped[int] = mapped_column(Integer, default=0)
    failed_calls: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    #: W3C traceparent of the message that created the request: its timer's steps continue it.
    traceparent: Mapped[str | None] = mapped_column(String(55))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AttachmentRow(Base):
    __tablename__ = "attachment_submissions"
    __table_args__ = (Index("ix_attachment_submissions_lane_due_at", "lane", "due_at"),)

    attachment_control_number: Mapped[str] = mapped_column(String(50), primary_key=True)
    command_id: Mapped[str] = mapped_column(String(64), index=True)
    loinc_codes: Mapped[str] = mapped_column(String(400))
    claim_id: Mapped[str] = mapped_column(String(80))
    submission_number: Mapped[str] = mapped_column(String(80), index=True)
    request_number: Mapped[str] = mapped_column(String(80), index=True)
    solicited: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(20))
    availity_request_id: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The durable timer (handlers/followups/state/timers.py): what to send, when to look next.
    command: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    lane: Mapped[str] = mapped_column(String(12), default="production")
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_token: Mapped[str | None] = mapped_column(String(36))
    polls: Mapped[int] = mapped_column(Integer, default=0)
    failed_calls: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    #: The last status Availity answered (not final yet): reported with a pending result.
    last_status: Mapped[str | None] = mapped_column(String(40))
    #: W3C traceparent of the message that created the request: its timer's steps continue it.
    traceparent: Mapped[str | None] = mapped_column(String(55))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PartnerRequestBudgetRow(Base):
    """Requests sent to one partner on one UTC day, shared by every replica."""

    __tablename__ = "partner_request_budgets"

    partner: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)
