"""The partner handlers' state as the worklist reads and releases it: the one module that knows it.

The status-check and attachment handlers keep one row per command in their own tables
(``handlers/followups/state/tables.py``, in the ledger's database): ``status_checks`` and
``attachment_submissions``. The worklist reads them for two queues and the claim page, and
writes one transition a person decides: an attachment whose outcome is unknown
(``needs_review``: a POST that may have reached Availity) is marked

* **sent** (the person found it at Availity, with its request id): ``needs_review`` →
  ``sent``, its command rebuilt from the ledger, due now, so the handler polls its status;
* **not sent**: ``needs_review`` → ``intent_recorded``, its command rebuilt, due now with a
  fresh deadline, so the handler sends it again (same attachment control number).

Every other import of the handlers' internals stays out of the worklist: when those tables
move, this module is the only one to follow.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    Select,
    cast,
    exists,
    func,
    insert,
    literal,
    not_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import aliased

from handlers.followups.state import upgrade
from handlers.followups.state.tables import AttachmentRow, StatusCheckRow
from handlers.followups.status_check.store import needs_person
from handlers.ledger.tables import Claim, UTCDateTime

__all__ = [
    "ATTACHMENT_UNKNOWN_STATE",
    "AttachmentToRelease",
    "PartnerAnswer",
    "answer_words",
    "attachment_for_release",
    "attachment_version",
    "attachment_version_of",
    "attachments_unknown",
    "insert_attachments",
    "insert_status_checks",
    "partner_answered",
    "partner_answers_for",
    "release_attachment",
    "upgrade_partner_tables",
]

ATTACHMENT_UNKNOWN_STATE = "needs_review"
"""The attachment state whose outcome nobody knows: released only by a person."""
_ATTACHMENT_ANSWERED = ("rejected", "failed")
_STATUS_CHECK_ENDED_UNANSWERED = ("failed", "timed_out", "unknown")


def _open_balance() -> ColumnElement[Any]:
    def amount(column: Any) -> ColumnElement[Any]:
        return func.coalesce(cast(column, Numeric(18, 2)), 0)

    return (
        amount(Claim.charged_amount)
        - amount(Claim.paid_amount)
        - amount(Claim.patient_responsibility)
        - amount(Claim.adjusted_amount)
    )


def _claim_columns() -> list[Any]:
    return [
        Claim.id.label("claim_id"),
        Claim.payer_name.label("payer"),
        Claim.charged_amount.label("amount_text"),
        _open_balance().label("amount_sort"),
        Claim.paid_amount.label("paid_text"),
        Claim.patient_responsibility.label("patient_text"),
        Claim.adjusted_amount.label("adjusted_text"),
    ]


def _status_checks_needing_action() -> Select[Any]:
    row = StatusCheckRow
    newer = aliased(StatusCheckRow)
    return (
        select(
            (literal("status-check:") + row.command_id).label("item_id"),
            row.submission_number.label("claim_number"),
            *_claim_columns(),
            type_coerce(row.updated_at, UTCDateTime).label("at"),
            row.lane.label("lane"),
            literal("status_check").label("what"),
            row.state.label("state"),
            type_coerce(row.result, _json_type()).label("detail"),
        )
        .select_from(row)
        .outerjoin(Claim, Claim.claim_number == row.submission_number)
        .where(
            # Decided by the status-check store with every state it writes (needs_person).
            row.needs_person,
            # Only the claim's newest status check: asking again replaces the answer.
            not_(
                exists().where(
                    newer.submission_number == row.submission_number,
                    newer.created_at > row.created_at,
                )
            ),
        )
    )


def _attachments(*states: str) -> Select[Any]:
    row = AttachmentRow
    return (
        select(
            (literal("attachment:") + row.attachment_control_number).label("item_id"),
            row.submission_number.label("claim_number"),
            *_claim_columns(),
            type_coerce(row.updated_at, UTCDateTime).label("at"),
            row.lane.label("lane"),
            literal("attachment").label("what"),
            row.state.label("state"),
            type_coerce(row.result, _json_type()).label("detail"),
        )
        .select_from(row)
        .outerjoin(Claim, Claim.claim_number == row.submission_number)
        .where(row.state.in_(states))
    )


def _json_type() -> Any:
    return StatusCheckRow.__table__.c.result.type


def partner_answered() -> Select[Any]:
    """Status checks whose answer needs a person, and attachments rejected or never sent."""
    both = union_all(_status_checks_needing_action(), _attachments(*_ATTACHMENT_ANSWERED))
    return select(*both.subquery("answers").c)


def attachments_unknown() -> Select[Any]:
    """Attachments that may or may not have reached the payer (``needs_review``)."""
    return _attachments(ATTACHMENT_UNKNOWN_STATE)


def answer_words(what: str, state: str, detail: Any) -> str:
    """Why a partner's answer is on a queue, in a biller's words (no patient details)."""
    result: dict[str, Any] = detail if isinstance(detail, dict) else {}
    if what == "attachment":
        violations = [str(v) for v in result.get("violations") or []]
        problems = ""
        if violations:
            more = f" and {len(violations) - 1} more" if len(violations) > 1 else ""
            problems = f" ({violations[0].split(': ', 1)[-1]}{more})"
        if state == ATTACHMENT_UNKNOWN_STATE:
            return (
                "Attachment may or may not have reached the payer"
                + problems
                + "; check at Availity and mark it sent or not sent."
            )
        if state == "failed":
            return "Attachment was never sent" + problems + "; fix the documents and ask again."
        return "The payer rejected the attachment" + problems + "; correct it and send again."
    if state in _STATUS_CHECK_ENDED_UNANSWERED:
        words = {
            "failed": "could not be asked",
            "timed_out": "got no answer in time",
            "unknown": "may have been sent but was never answered",
        }[state]
        return f"The claim status check {words}; request a status check again."
    if result.get("outcome") == "not_found":
        return "The payer does not know this claim (status check); resubmit or call the payer."
    parts = [
        f"{code} {meaning}".strip()
        for code, meaning in (
            (result.get("category_code") or "", result.get("category_meaning") or ""),
            (result.get("status_code") or "", result.get("status_meaning") or ""),
        )
        if code or meaning
    ]
    said = "; ".join(parts) or "no status given"
    if result.get("needs_documents"):
        return f"The payer asks for documents ({said}); send an attachment."
    return f"The payer answered the status check: {said}; decide the next step."


@dataclass(frozen=True, slots=True)
class PartnerAnswer:
    """One partner request for a claim, as its handler keeps it, for the claim page."""

    what: str
    key: str
    state: str
    updated_at: datetime
    words: str
    version: str
    availity_request_id: int | None = None

    @property
    def outcome_unknown(self) -> bool:
        return self.what == "attachment" and self.state == ATTACHMENT_UNKNOWN_STATE


def attachment_version(
    acn: str, state: str, updated_at: datetime | None, attempts: int, request_id: int | None
) -> str:
    """What a person saw of an attachment row: changes with every write of its handler."""
    seen = [acn, state, updated_at.isoformat() if updated_at else None, attempts, request_id]
    return hashlib.sha256(json.dumps(seen).encode()).hexdigest()[:16]


async def partner_answers_for(
    connection: AsyncConnection, claim_number: str
) -> list[PartnerAnswer]:
    """The claim's status checks and attachments, newest first (two queries)."""
    found: list[PartnerAnswer] = []
    checks = await connection.execute(
        select(
            StatusCheckRow.command_id,
            StatusCheckRow.state,
            type_coerce(StatusCheckRow.updated_at, UTCDateTime),
            StatusCheckRow.result,
        ).where(StatusCheckRow.submission_number == claim_number)
    )
    for command_id, state, at, result in checks:
        words = answer_words("status_check", state, result)
        if state not in _STATUS_CHECK_ENDED_UNANSWERED and result is None:
            words = f"Claim status check {state.replace('_', ' ')}; no answer yet."
        found.append(PartnerAnswer("status_check", command_id, state, at, words, state))
    attachments = await connection.execute(
        select(
            AttachmentRow.attachment_control_number,
            AttachmentRow.state,
            type_coerce(AttachmentRow.updated_at, UTCDateTime),
            AttachmentRow.result,
            AttachmentRow.attempts,
            AttachmentRow.availity_request_id,
            AttachmentRow.updated_at,
        ).where(AttachmentRow.submission_number == claim_number)
    )
    for acn, state, at, result, attempts, request_id, raw_at in attachments:
        if state in (*_ATTACHMENT_ANSWERED, ATTACHMENT_UNKNOWN_STATE):
            words = answer_words("attachment", state, result)
        elif state == "accepted":
            words = "The payer accepted the attachment."
        else:
            words = f"Attachment {state.replace('_', ' ')}; no final answer yet."
        version = attachment_version(acn, state, raw_at, attempts, request_id)
        found.append(PartnerAnswer("attachment", acn, state, at, words, version, request_id))
    found.sort(key=lambda answer: answer.updated_at, reverse=True)
    return found


@dataclass(frozen=True, slots=True)
class AttachmentToRelease:
    acn: str
    state: str
    command_id: str
    claim_number: str
    loinc_codes: tuple[str, ...]
    solicited: bool
    request_number: str
    lane: str
    version: str
    availity_request_id: int | None


async def attachment_for_release(
    connection: AsyncConnection, acn: str
) -> AttachmentToRelease | None:
    """The attachment row, locked for this transaction (a no-op write first), or None."""
    row = AttachmentRow
    locked = await connection.execute(
        update(row).where(row.attachment_control_number == acn).values(attempts=row.attempts)
    )
    if not getattr(locked, "rowcount", 0):
        return None
    found = (
        await connection.execute(
            select(
                row.attachment_control_number,
                row.state,
                row.command_id,
                row.submission_number,
                row.loinc_codes,
                row.solicited,
                row.request_number,
                row.lane,
                row.updated_at,
                row.attempts,
                row.availity_request_id,
            ).where(row.attachment_control_number == acn)
        )
    ).one()
    return AttachmentToRelease(
        acn=found.attachment_control_number,
        state=found.state,
        command_id=found.command_id,
        claim_number=found.submission_number,
        loinc_codes=tuple(code for code in found.loinc_codes.split(",") if code),
        solicited=bool(found.solicited),
        request_number=found.request_number,
        lane=found.lane,
        version=attachment_version(
            found.attachment_control_number,
            found.state,
            found.updated_at,
            found.attempts,
            found.availity_request_id,
        ),
        availity_request_id=found.availity_request_id,
    )


async def attachment_version_of(connection: AsyncConnection, acn: str) -> str | None:
    """The attachment's version now (no lock), or None when there is no such attachment."""
    row = AttachmentRow
    found = (
        await connection.execute(
            select(row.state, row.updated_at, row.attempts, row.availity_request_id).where(
                row.attachment_control_number == acn
            )
        )
    ).first()
    if found is None:
        return None
    return attachment_version(
        acn, found.state, found.updated_at, found.attempts, found.availity_request_id
    )


async def release_attachment(
    connection: AsyncConnection,
    acn: str,
    *,
    sent: bool,
    command: dict[str, Any],
    now: datetime,
    deadline_seconds: float,
    availity_request_id: int | None,
) -> bool:
    """``needs_review`` → ``sent`` (poll its status) or ``intent_recorded`` (send it again).

    Conditional on the row still being ``needs_review``; the command (what the handler sends
    or polls for) is rebuilt by the caller from the ledger. True if the row moved.
    """
    values: dict[str, Any] = {
        "command": command,
        "result": None,
        "due_at": now,
        "deadline_at": now + timedelta(seconds=deadline_seconds),
        "lease_token": None,
        "failed_calls": 0,
        "polls": 0,
        "last_error": None,
        "updated_at": now,
    }
    if sent:
        values.update(state="sent", availity_request_id=availity_request_id)
    else:
        values.update(state="intent_recorded", availity_request_id=None, last_status=None)
    moved = await connection.execute(
        update(AttachmentRow)
        .where(
            AttachmentRow.attachment_control_number == acn,
            AttachmentRow.state == ATTACHMENT_UNKNOWN_STATE,
        )
        .values(**values)
    )
    return bool(getattr(moved, "rowcount", 0) == 1)


async def upgrade_partner_tables(engine: AsyncEngine) -> None:
    """Create or migrate the partner handlers' tables (their own Alembic chain)."""
    await upgrade(engine)


async def insert_status_checks(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Write ``status_checks`` rows as the status-check handler does (demo, benchmarks).

    ``needs_person`` is decided as the handler's store decides it, from state and result.
    """
    if rows:
        decided = [
            {"needs_person": needs_person(row["state"], row.get("result")), **row} for row in rows
        ]
        await connection.execute(insert(StatusCheckRow), decided)


async def insert_attachments(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Write ``attachment_submissions`` rows as the attachment handler does (demo, benchmarks)."""
    if rows:
        await connection.execute(insert(AttachmentRow), rows)
