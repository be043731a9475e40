"""The partner handlers' own tables: one row per follow-up command, with its state.

They live in the ledger's database (``DatabaseSettings.url``) but in their own metadata and
their own Alembic chain (``handlers/followup_state/migrations``, version table
``alembic_version_followups``): the partner handlers never read or write the ledger's tables.

``status_checks`` (one row per ``StatusCheckRequest.command_id``)::

    requested ──POST claim-info──▶ submitted ──poll──▶ answered
        │        (integrex id       │   │
        │         recorded)         │   └─deadline──▶ timed_out
        └──────── rejected ─────────┴──────────────▶ failed

``attachment_submissions`` (one row per attachment control number, derived from the command id
and its LOINC codes)::

    intent_recorded ──claimed──▶ sending ──POST answered──▶ sent ──poll──▶ accepted | rejected
         │                        │   │                      └─deadline──▶ (stays sent)
         │                        │   └─POST refused (400) ─▶ rejected
         │                        └─crash / unconfirmed ───▶ needs_review
         └─ documents missing or invalid (never sent) ─────▶ failed

A row is the only authority on whether a POST may be made: see handlers/attachment/handler.py.
Rows hold ids, states and our own results (no partner free text); the PHI the partners need
stays in the commands and is never stored here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["AttachmentRow", "Base", "StatusCheckRow", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Metadata of the partner handlers' tables only (not the ledger's)."""


class StatusCheckRow(Base):
    __tablename__ = "status_checks"

    command_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    claim_id: Mapped[str] = mapped_column(String(80))
    submission_number: Mapped[str] = mapped_column(String(80), index=True)
    state: Mapped[str] = mapped_column(String(20))
    integrex_request_id: Mapped[str | None] = mapped_column(String(80))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AttachmentRow(Base):
    __tablename__ = "attachment_submissions"

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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
