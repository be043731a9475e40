"""A person's follow-up decisions: ask for a claim status check now; release an attachment.

**Request a status check now** goes the ledger's follow-up way (``handlers/ledger/
follow_ups.py``): a ``FollowUp`` row, a ``follow-up`` event on the claim's timeline and a
``StatusCheckRequest`` on ``status_check_requests`` through the outbox, exactly what the ledger
publishes when a rule decides one, with the rule ``worklist-request`` and the person's words as
the reason. Its command id is derived from the claim and the version the person saw, so asking
twice from the same page (a double click, a retried form) publishes one command; asking on a
claim that changed meanwhile is refused with the new state.

**Mark an attachment sent or not sent** is the only way out of ``needs_review`` (an attachment
that may or may not have reached Availity): the transition is made in the partner handlers'
table (:func:`worklist.followup_state.release_attachment`), conditional on the version the
person saw, with the command rebuilt from the ledger so that the attachment handler polls its
status (sent) or sends it again (not sent).

Both go on the claim's timeline (who, when, why), onto ``<prefix>worklist.decisions.v1`` and
into the access log, in the same transaction as the change itself.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from handlers.ledger.followup_decisions import follow_up_claim
from handlers.ledger.outbox import enqueue
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger, LedgerUnit
from handlers.ledger.tables import AppliedPayment, Claim, FollowUp, utcnow
from router.followups import AttachmentRequest, StatusCheckRequest, command_id
from worklist.audit import Access, AccessLog
from worklist.errors import (
    AttachmentChangedError,
    ClaimNotFoundError,
    InvalidDecisionError,
    StaleDecisionError,
)
from worklist.followup_state import (
    ATTACHMENT_UNKNOWN_STATE,
    attachment_for_release,
    release_attachment,
)
from worklist.messages import (
    AttachmentMarkedMessage,
    StatusCheckRequestedMessage,
    WorklistTopics,
)
from worklist.people import Person
from worklist.read_model import claim_version

__all__ = [
    "MAX_WHY_LENGTH",
    "PERSON_RULE",
    "StatusCheckRequested",
    "mark_attachment",
    "request_status_check",
]

PERSON_RULE = "worklist-request"
"""The rule name of a follow-up a person asked for (the ledger's rules have their own names)."""
MAX_WHY_LENGTH = 500


def _why(text: str | None) -> str:
    words = " ".join((text or "").split())
    if not words:
        raise InvalidDecisionError("why", "say why (it goes on the claim's timeline)")
    if len(words) > MAX_WHY_LENGTH:
        raise InvalidDecisionError("why", f"at most {MAX_WHY_LENGTH} characters")
    return words


async def _lock_claim(unit: LedgerUnit, claim_id: int) -> Claim:
    """The claim, locked for this transaction (a no-op write first, as notes do)."""
    locked = await unit.session.execute(
        update(Claim)
        .where(Claim.id == claim_id)
        .values(updated_at=Claim.updated_at)
        .execution_options(synchronize_session=False)
    )
    claim = await unit.session.scalar(select(Claim).where(Claim.id == claim_id))
    if not getattr(locked, "rowcount", 0) or claim is None:
        raise ClaimNotFoundError(f"There is no claim {claim_id} in the ledger.")
    return claim


async def _control_number(unit: LedgerUnit, claim_id: int) -> str | None:
    """The payer's claim number from the claim's latest payment, as the ledger echoes it."""
    found: str | None = await unit.session.scalar(
        select(AppliedPayment.control_number)
        .where(AppliedPayment.claim_id == claim_id, AppliedPayment.control_number.is_not(None))
        .order_by(AppliedPayment.id.desc())
        .limit(1)
    )
    return found


class StatusCheckRequested:
    """The command id, and whether this request published it (False: asked already)."""

    def __init__(self, command_id: str, new: bool) -> None:
        self.command_id = command_id
        self.new = new


async def request_status_check(
    ledger: ClaimLedger,
    poster: Poster,
    access_log: AccessLog,
    topics: WorklistTopics,
    *,
    claim_id: int,
    seen_version: str,
    why: str,
    person: Person,
    access: Access,
) -> StatusCheckRequested:
    """Publish a claim status check for ``claim_id`` now; idempotent per version seen."""
    reason = _why(why)
    decision_id = str(uuid.uuid4())
    async with ledger.unit() as unit:
        claim = await _lock_claim(unit, claim_id)
        cid = command_id(
            claim.claim_number, "status_check", PERSON_RULE, f"worklist:{claim_id}:{seen_version}"
        )
        if await unit.follow_up_exists(cid):
            return StatusCheckRequested(cid, new=False)  # the same request, already published
        current = await claim_version(await unit.session.connection(), claim_id)
        if current != seen_version:
            raise StaleDecisionError(claim_id, current or "", what="status check request")
        now = unit.now
        unit.add(
            FollowUp(
                command_id=cid,
                claim_id=claim.id,
                action="status_check",
                rule=PERSON_RULE,
                reason=f"asked by {person.name}: {reason}",
                trigger_message_id=decision_id,
                created_at=now,
            )
        )
        unit.event(
            claim.id,
            "follow-up",
            f"claim status check requested now by {person.name}: {reason} [rule {PERSON_RULE}]",
            message_id=decision_id,
        )
        command = StatusCheckRequest(
            command_id=cid,
            reason=reason,
            rule=PERSON_RULE,
            trigger_message_id=decision_id,
            requested_at=now,
            test=False,
            claim=follow_up_claim(claim, await _control_number(unit, claim.id)),
        )
        await enqueue(
            unit,
            topic=poster.topics(False).status_check_requests,
            key=claim.claim_number,
            message_id=cid,
            model=command,
            test=False,
        )
        await enqueue(
            unit,
            topic=topics.decisions,
            key=claim.claim_number,
            message_id=decision_id,
            model=StatusCheckRequestedMessage(
                message_id=decision_id,
                command_id=cid,
                claim_id=str(claim.id),
                claim_number=claim.claim_number,
                decided_by=person.subject,
                decided_by_name=person.name,
                decided_at=now,
                version_seen=seen_version,
                why=reason,
            ),
            test=False,
        )
        await access_log.record_in(unit, access)
    return StatusCheckRequested(cid, new=True)


async def mark_attachment(
    ledger: ClaimLedger,
    access_log: AccessLog,
    topics: WorklistTopics,
    *,
    control_number: str,
    seen_version: str,
    sent: bool,
    availity_request_id: int | None,
    why: str,
    person: Person,
    access: Access,
    deadline_seconds: float,
) -> str:
    """Release an attachment whose outcome is unknown; the decision's id."""
    reason = _why(why)
    if sent and availity_request_id is None:
        raise InvalidDecisionError(
            "availity_request_id", "give the request id Availity shows for this attachment"
        )
    decision_id = str(uuid.uuid4())
    async with ledger.unit() as unit:
        connection = await unit.session.connection()
        row = await attachment_for_release(connection, control_number)
        if row is None:
            raise InvalidDecisionError(
                "attachment_control_number", f"there is no attachment {control_number}"
            )
        if row.state != ATTACHMENT_UNKNOWN_STATE or row.version != seen_version:
            raise AttachmentChangedError(control_number, row.state)
        claim = (await unit.claims_by_number([row.claim_number])).get(row.claim_number)
        if claim is None:
            raise ClaimNotFoundError(f"There is no claim {row.claim_number} in the ledger.")
        follow_up = await unit.session.get(FollowUp, row.command_id)
        now = utcnow()
        command = AttachmentRequest(
            command_id=row.command_id,
            reason=follow_up.reason if follow_up else "attachment released by a person",
            rule=follow_up.rule if follow_up else PERSON_RULE,
            trigger_message_id=follow_up.trigger_message_id if follow_up else decision_id,
            requested_at=follow_up.created_at if follow_up else now,
            test=row.lane == "test",
            claim=follow_up_claim(claim, await _control_number(unit, claim.id)),
            loinc_codes=list(row.loinc_codes),
            solicited=row.solicited,
            payer_request_number=row.request_number if row.solicited else None,
        )
        moved = await release_attachment(
            connection,
            control_number,
            sent=sent,
            command=command.model_dump(mode="json", by_alias=True),
            now=now,
            deadline_seconds=deadline_seconds,
            availity_request_id=availity_request_id,
        )
        if not moved:
            raise AttachmentChangedError(control_number, None)
        after = "sent" if sent else "intent_recorded"
        what = (
            f"marked sent (Availity request {availity_request_id}); its status is polled again"
            if sent
            else "marked not sent; it is sent again"
        )
        unit.event(
            claim.id,
            "attachment",
            f"attachment {control_number} {what} — by {person.name}: {reason}",
            message_id=decision_id,
        )
        await enqueue(
            unit,
            topic=topics.decisions,
            key=claim.claim_number,
            message_id=decision_id,
            model=AttachmentMarkedMessage(
                message_id=decision_id,
                attachment_control_number=control_number,
                command_id=row.command_id,
                claim_id=str(claim.id),
                claim_number=claim.claim_number,
                marked="sent" if sent else "not_sent",
                availity_request_id=availity_request_id if sent else None,
                state_before=row.state,
                state_after=after,
                decided_by=person.subject,
                decided_by_name=person.name,
                decided_at=now,
                version_seen=seen_version,
                why=reason,
            ),
            test=False,
        )
        await access_log.record_in(unit, access)
    return decision_id
