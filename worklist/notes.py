"""``add_note``: a decision recorded on a claim's timeline, refused if the claim changed.

The form carries the claim version the person saw (:func:`worklist.read_model.claim_version`).
Inside one ledger transaction the claim is locked first (a no-op ``UPDATE``: the row lock on
PostgreSQL, the write lock on SQLite), its version is read again and, if it moved, the note is
refused with :class:`~worklist.errors.StaleDecisionError`. Otherwise the note goes on the
timeline (who, when, why), onto ``<prefix>worklist.decisions.v1`` through the outbox, and into the
access log, all in the same transaction. Two people noting the same version: one wins, the
other is told.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from handlers.ledger.outbox import enqueue
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import Claim, utcnow
from worklist.audit import Access, AccessLog
from worklist.errors import ClaimNotFoundError, InvalidDecisionError, StaleDecisionError
from worklist.messages import ClaimNoteMessage, WorklistTopics
from worklist.people import Person
from worklist.read_model import claim_version

__all__ = ["MAX_NOTE_LENGTH", "add_note"]

MAX_NOTE_LENGTH = 1000


def _clean(note: str) -> str:
    text = " ".join(note.split())
    if not text:
        raise InvalidDecisionError("note", "write what you decided and why")
    if len(text) > MAX_NOTE_LENGTH:
        raise InvalidDecisionError("note", f"at most {MAX_NOTE_LENGTH} characters")
    return text


async def add_note(
    ledger: ClaimLedger,
    access_log: AccessLog,
    topics: WorklistTopics,
    *,
    claim_id: int,
    seen_version: str,
    note: str,
    person: Person,
    access: Access,
) -> str:
    """Record ``note`` on the claim; the decision id. Raises ``StaleDecisionError`` and others."""
    text = _clean(note)
    decision_id = str(uuid.uuid4())
    async with ledger.unit() as unit:
        # A write that changes nothing, to take the claim's lock before reading its version:
        # the row lock on PostgreSQL, the database's write lock on SQLite (whose reads before
        # a first write run outside any transaction).
        locked = await unit.session.execute(
            update(Claim)
            .where(Claim.id == claim_id)
            .values(updated_at=Claim.updated_at)
            .execution_options(synchronize_session=False)
        )
        claim_number = await unit.session.scalar(
            select(Claim.claim_number).where(Claim.id == claim_id)
        )
        if not getattr(locked, "rowcount", 0) or claim_number is None:
            raise ClaimNotFoundError(f"There is no claim {claim_id} in the ledger.")
        current = await claim_version(await unit.session.connection(), claim_id)
        if current != seen_version:
            raise StaleDecisionError(claim_id, current or "")
        unit.event(claim_id, "note", f"Note by {person.name}: {text}", message_id=decision_id)
        await enqueue(
            unit,
            topic=topics.decisions,
            key=claim_number,
            message_id=decision_id,
            model=ClaimNoteMessage(
                message_id=decision_id,
                claim_id=str(claim_id),
                claim_number=claim_number,
                decided_by=person.subject,
                decided_by_name=person.name,
                decided_at=utcnow(),
                version_seen=seen_version,
                note=text,
            ),
            test=False,
        )
        await access_log.record_in(unit, access)
    return decision_id
