"""Review a payment: the decisions a person makes on a payment the ledger could not post.

A payment waits for review as a parked row (``handlers/ledger/tables.py``: ``needs_review``,
``unmatched`` or held off a claim's money). A person decides one of:

- **post** it to a claim they chose: through the ledger's posting rules
  (:meth:`handlers.ledger.posting.Poster.post_parked_to_claim`), never around them;
- **not ours**: a refund or recoupment is needed; nothing is posted;
- **duplicate** of an earlier payment: recorded as such, nothing is posted;
- **write off** with a reason code: nothing is posted, the code says why;
- **park** with a note: it keeps waiting, with the note.

No lost updates: each decision carries the item's version as the person saw it
(:func:`item_version`). Inside one ledger transaction the parked row is locked first (a no-op
``UPDATE``), its version read again, and a decision on a changed item is refused with
:class:`ReviewChangedError` and the new state. Two people deciding the same item: one wins.
Each decision goes on the claim's timeline (who, when, why, figures before and after), onto
``<prefix>worklist.decisions.v1`` through the outbox, and into the access log, all in the
same transaction.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select, update

from handlers.ledger.messages import money
from handlers.ledger.outbox import enqueue
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger, LedgerUnit
from handlers.ledger.tables import Claim, ParkedPayment, PaymentReceipt, utcnow
from worklist.audit import Access, AccessLog
from worklist.errors import InvalidDecisionError, WorklistError
from worklist.messages import ClaimFigures, ReviewDecisionMessage, WorklistTopics
from worklist.people import Person

__all__ = [
    "MAX_NOTE_LENGTH",
    "ReviewAction",
    "ReviewChangedError",
    "ReviewDecision",
    "ReviewItemNotFoundError",
    "decide",
    "item_version",
    "waiting_reasons",
]

ReviewAction = Literal["post", "not_ours", "duplicate", "write_off", "park"]
_WAITING = ("needs_review", "unmatched", "possible_duplicate")
_HELD_NOT_POSTABLE = ("reversal_without_original", "negative_payment")
MAX_NOTE_LENGTH = 1000


class ReviewItemNotFoundError(WorklistError):
    status_code = 404
    title = "No such payment waiting for review"


class ReviewChangedError(WorklistError):
    status_code = 409
    title = "The payment changed"

    def __init__(self, message_id: str, current_version: str | None) -> None:
        super().__init__(
            "This payment changed after you opened it (someone decided it, or the ledger "
            "matched it again), so your decision was not saved. Its current state is shown; "
            "decide again if it still applies."
        )
        self.message_id = message_id
        self.current_version = current_version


@dataclass(frozen=True, slots=True)
class ReviewDecision:
    action: ReviewAction
    seen_version: str
    claim_id: int | None = None
    reason_code: str | None = None
    duplicate_of: str | None = None
    note: str | None = None


def item_version(parked: ParkedPayment) -> str:
    """What a person saw of a review item: changes when it is re-ranked, held or decided."""
    seen = [
        parked.id,
        parked.reason,
        list(parked.candidates or []),
        parked.claim_id,
        parked.note,
        parked.resolved_at.isoformat() if parked.resolved_at else None,
    ]
    return hashlib.sha256(json.dumps(seen).encode()).hexdigest()[:16]


def _figures(claim: Claim) -> ClaimFigures:
    return ClaimFigures(
        charged=claim.charged_amount,
        paid=claim.paid_amount,
        patient_share=claim.patient_responsibility,
        adjusted=claim.adjusted_amount,
        open=claim.charged_amount
        - claim.paid_amount
        - claim.patient_responsibility
        - claim.adjusted_amount,
    )


def _figures_text(figures: ClaimFigures) -> str:
    return (
        f"paid {money(figures.paid)}, patient share {money(figures.patient_share)}, adjusted "
        f"{money(figures.adjusted)}, open {money(figures.open)}"
    )


def _clean(field: str, text: str | None, *, required: bool) -> str | None:
    value = " ".join((text or "").split())
    if not value:
        if required:
            raise InvalidDecisionError(field, "say why")
        return None
    if len(value) > MAX_NOTE_LENGTH:
        raise InvalidDecisionError(field, f"at most {MAX_NOTE_LENGTH} characters")
    return value


def _check(decision: ReviewDecision, parked: ParkedPayment) -> None:
    if decision.action == "post":
        if decision.claim_id is None:
            raise InvalidDecisionError("claim", "choose the claim this payment pays")
        if parked.reason in _HELD_NOT_POSTABLE:
            raise InvalidDecisionError(
                "action",
                "a reversal or negative payment needs the payment it undoes on the claim; "
                "decide not ours, write off or park instead",
            )
    if decision.action == "duplicate" and not decision.duplicate_of:
        raise InvalidDecisionError("duplicate_of", "name the earlier payment it repeats")
    if decision.action == "write_off" and not (decision.reason_code or "").strip():
        raise InvalidDecisionError("reason_code", "give the write-off's reason code")


async def decide(
    ledger: ClaimLedger,
    poster: Poster,
    access_log: AccessLog,
    topics: WorklistTopics,
    *,
    message_id: str,
    decision: ReviewDecision,
    person: Person,
    access: Access,
) -> str:
    """Record ``decision`` on the payment ``message_id``; the decision's id."""
    note = _clean("note", decision.note, required=decision.action in ("park", "not_ours"))
    decision_id = str(uuid.uuid4())
    async with ledger.unit() as unit:
        # A write that changes nothing takes the item's lock before its version is read again.
        locked = await unit.session.execute(
            update(ParkedPayment)
            .where(ParkedPayment.message_id == message_id)
            .values(parked_at=ParkedPayment.parked_at)
            .execution_options(synchronize_session=False)
        )
        parked = await unit.parked(message_id)
        if not getattr(locked, "rowcount", 0) or parked is None:
            raise ReviewItemNotFoundError(f"No payment {message_id} waits for review.")
        await unit.session.refresh(parked)
        current = item_version(parked)
        if parked.resolved_at is not None or current != decision.seen_version:
            raise ReviewChangedError(message_id, current)
        _check(decision, parked)
        claim_id = decision.claim_id or parked.claim_id or next(iter(parked.candidates or []), None)
        claim = await _claim(unit, claim_id)
        if decision.action == "post" and claim is None:
            raise InvalidDecisionError("claim", f"there is no claim {decision.claim_id}")
        before = _figures(claim) if claim else None
        words = await _apply(unit, poster, parked, decision, person, note, claim)
        after = _figures(claim) if claim else None
        if claim is not None and before is not None and after is not None:
            unit.event(
                claim.id,
                "review_decision",
                f"{words} — by {person.name}"
                + (f": {note}" if note else "")
                + f"; before: {_figures_text(before)}; after: {_figures_text(after)}",
                message_id=decision_id,
            )
        await enqueue(
            unit,
            topic=topics.decisions,
            key=claim.claim_number if claim else message_id,
            message_id=decision_id,
            model=ReviewDecisionMessage(
                message_id=decision_id,
                payment_message_id=message_id,
                action=decision.action,
                claim_id=str(claim.id) if claim else None,
                claim_number=claim.claim_number if claim else None,
                decided_by=person.subject,
                decided_by_name=person.name,
                decided_at=utcnow(),
                version_seen=decision.seen_version,
                reason_code=decision.reason_code,
                duplicate_of=decision.duplicate_of,
                note=note,
                before=before,
                after=after,
            ),
            test=False,
        )
        await access_log.record_in(unit, access)
    return decision_id


async def _claim(unit: LedgerUnit, claim_id: int | None) -> Claim | None:
    if claim_id is None:
        return None
    return await unit.session.scalar(select(Claim).where(Claim.id == claim_id))


async def _apply(
    unit: LedgerUnit,
    poster: Poster,
    parked: ParkedPayment,
    decision: ReviewDecision,
    person: Person,
    note: str | None,
    claim: Claim | None,
) -> str:
    """Carry out the decision; the words for the claim's timeline."""
    receipt = await unit.receipt(parked.message_id)
    paid = money(receipt.paid_amount) if receipt is not None else "?"
    if decision.action == "post":
        assert claim is not None
        result = await poster.post_parked_to_claim(
            unit, parked.message_id, claim, decided_by=person.name
        )
        await unit.flush()
        await unit.session.refresh(claim)
        return f"payment of {paid} posted to this claim after review ({result.state})"
    parked.resolved_at = utcnow()
    parked.note = note or parked.note
    if decision.action == "park":
        parked.resolved_at = None
        return f"payment of {paid} parked again for review"
    if decision.action == "not_ours":
        _set_state(receipt, "not_ours")
        return f"payment of {paid} is not ours: refund or recoupment needed"
    if decision.action == "duplicate":
        _set_state(receipt, "duplicate")
        if receipt is not None:
            receipt.duplicate_of = decision.duplicate_of
        return f"payment of {paid} is a duplicate of payment {decision.duplicate_of}; not posted"
    code = (decision.reason_code or "").strip()
    _set_state(receipt, "written_off")
    return f"payment of {paid} written off, reason code {code}; not posted"


def _set_state(receipt: PaymentReceipt | None, state: str) -> None:
    if receipt is not None:
        receipt.state = state


def waiting_reasons() -> tuple[str, ...]:
    """Parked reasons a person decides on."""
    return (*_WAITING, *_HELD_NOT_POSTABLE)
