"""The machine-readable claim (``claimflow claim show ID --json``) and its text view.

``ClaimView`` (schema ``claimflow.claim-view.v1``, JSON Schema in
docs/schemas/claim-view.v1.json) is one claim as billing staff work it: the claim as billed
(no patient identifiers), its money as a whole and per payer, every payment with its state and
links (a reversal and the payment it undoes, a duplicate and its original), the payments
waiting for review that may belong to it, its follow-ups and its timeline.

The text view collapses runs of identical timeline events (``\u00d7 2,000``), so that a claim
with thousands of review items stays readable.

Regenerate the schema: ``python -m handlers.ledger.claim_view > docs/schemas/claim-view.v1.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from handlers.ledger.claim_money import claim_money
from handlers.ledger.messages import money
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import AppliedPayment, Claim, ParkedPayment, PaymentReceipt
from handlers.ledger.tables import FollowUp as FollowUpRow
from handlers.ledger.tables import TimelineEvent as TimelineEventRow

__all__ = [
    "CLAIM_VIEW_SCHEMA",
    "CLAIM_VIEW_SCHEMA_FILE",
    "ClaimView",
    "claim_view",
    "claim_view_json_schema",
    "render_claim_view",
]

CLAIM_VIEW_SCHEMA = "claimflow.claim-view.v1"
CLAIM_VIEW_SCHEMA_FILE = "claim-view.v1.json"
_BASE_ID = "https://github.com/claimflow/claimflow/blob/main/docs/schemas/"

PaymentState = Literal[
    "posted", "reversed", "reversal", "held", "duplicate", "recorded", "review", "parked"
]
_POSITIONS = {1: "primary", 2: "secondary", 3: "tertiary"}
TIMES = "\u00d7"  # the multiplication sign of "TIMES 2,000"


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClaimSummary(_View):
    id: int = Field(description="The ledger's claim id.")
    claim_number: str = Field(description="Our claim number (CLP01 / SubmissionNumber).")
    status: str = Field(
        description="submitted, paid_in_full, partially_paid, patient_responsibility, denied, "
        "forwarded, not_our_claim, reversed or overpaid; always agrees with the money."
    )
    payer_id: str | None
    payer_name: str | None
    service_start: date | None
    service_end: date | None
    submitted_on: date | None
    source: str


class Money(_View):
    charged: Decimal
    paid: Decimal = Field(description="Every payer's payments, reversals netted.")
    patient_share: Decimal = Field(
        description="What the latest adjudicating payer says the patient owes (PR)."
    )
    adjusted: Decimal = Field(
        description="Write-offs (CO, OA, PI, CR), without the prior payer's impact (CARC 23)."
    )
    open: Decimal = Field(description="charged - paid - patient_share - adjusted.")
    credit_balance: bool = Field(description="open < 0: the claim received more than it may.")


class PayerMoney(_View):
    payer: str = Field(description="The payer's key: its identifier, else its folded name.")
    name: str | None
    position: Literal["primary", "secondary", "tertiary"]
    latest: bool = Field(description="The latest adjudicating payer: its PR is the share.")
    payments: int
    paid: Decimal
    patient_responsibility: Decimal = Field(description="What this payer says the patient owes.")
    adjusted: Decimal = Field(description="This payer's write-offs.")
    prior_payer: Decimal = Field(description="What it reports an earlier payer took (CARC 23).")
    adjustments_by_group: dict[str, Decimal] = Field(
        description="Every adjustment of this payer's payments, summed by group (CO, PR, OA...)."
    )


class Payment(_View):
    message_id: str
    state: PaymentState = Field(
        description="posted; reversed (undone by a reversal); reversal (undoes another); held "
        "(kept off the money for a person: possible duplicate, reversal without original, "
        "negative payment); duplicate (the same notification again); recorded "
        "(predetermination); review/parked (matching)."
    )
    outcome: str | None
    payer: str | None
    payer_position: str | None
    control_number: str | None
    status_text: str | None = Field(description="The payer's claim status (CLP02) as sent.")
    paid: Decimal | None
    patient_responsibility: Decimal | None
    adjusted: Decimal | None
    prior_payer: Decimal | None
    match_method: str | None
    match_confidence: Decimal | None
    received_at: datetime | None
    posted_at: datetime | None
    reverses: str | None = Field(description="Message id of the payment this reversal undoes.")
    reversed_by: str | None = Field(description="Message id of the reversal that undid it.")
    duplicate_of: str | None = Field(
        description="Message id of the earlier payment this one repeats (exact or possible)."
    )
    hold_reason: str | None = Field(
        description="possible_duplicate, reversal_without_original or negative_payment."
    )
    note: str | None


class ReviewCandidate(_View):
    message_id: str
    reason: str = Field(description="unmatched or needs_review.")
    candidates: list[int] = Field(description="Ledger claim ids, ranked at the last matching.")
    note: str | None
    parked_at: datetime
    resolved_at: datetime | None


class FollowUp(_View):
    command_id: str
    action: Literal["status_check", "attachment", "work_by_hand"]
    rule: str
    reason: str
    trigger_message_id: str
    created_at: datetime


class TimelineEvent(_View):
    at: datetime
    kind: str
    summary: str
    message_id: str | None


class ClaimView(_View):
    schema_name: Literal["claimflow.claim-view.v1"] = Field(
        "claimflow.claim-view.v1", alias="schema"
    )
    claim: ClaimSummary
    money: Money
    payers: list[PayerMoney]
    payments: list[Payment]
    review_candidates: list[ReviewCandidate] = Field(
        description="Payments still waiting for review that name this claim as a candidate."
    )
    follow_ups: list[FollowUp]
    timeline: list[TimelineEvent]

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _posted(row: AppliedPayment, by_id: dict[int, AppliedPayment]) -> Payment:
    if row.outcome == "reversed":
        state: PaymentState = "reversal"
    elif row.reversed_by_id is not None:
        state = "reversed"
    else:
        state = "posted"
    reverses = by_id.get(row.reverses_id) if row.reverses_id is not None else None
    reversed_by = by_id.get(row.reversed_by_id) if row.reversed_by_id is not None else None
    return Payment(
        message_id=row.message_id,
        state=state,
        outcome=row.outcome,
        payer=row.payer_name or row.payer_key,
        payer_position=_POSITIONS.get(row.payer_rank),
        control_number=row.control_number,
        status_text=row.status_text,
        paid=row.paid_amount,
        patient_responsibility=row.patient_responsibility,
        adjusted=row.adjusted_amount,
        prior_payer=row.prior_payer_amount,
        match_method=row.match_method,
        match_confidence=row.match_confidence,
        received_at=None,
        posted_at=row.applied_at,
        reverses=reverses.message_id if reverses else None,
        reversed_by=reversed_by.message_id if reversed_by else None,
        duplicate_of=None,
        hold_reason=None,
        note=None,
    )


def _unposted(receipt: PaymentReceipt, parked: ParkedPayment | None) -> Payment:
    held = parked is not None and parked.reason not in ("unmatched", "needs_review")
    state: PaymentState
    if receipt.state == "duplicate":
        state = "duplicate"
    elif held:
        state = "held"
    elif receipt.state in ("recorded", "review", "parked"):
        state = receipt.state  # type: ignore[assignment]
    else:
        state = "review"
    return Payment(
        message_id=receipt.message_id,
        state=state,
        outcome=receipt.outcome or None,
        payer=None,
        payer_position=None,
        control_number=None,
        status_text=None,
        paid=receipt.paid_amount,
        patient_responsibility=None,
        adjusted=None,
        prior_payer=None,
        match_method=None,
        match_confidence=None,
        received_at=receipt.received_at,
        posted_at=None,
        reverses=None,
        reversed_by=None,
        duplicate_of=receipt.duplicate_of or (parked.related_message_id if parked else None),
        hold_reason=parked.reason if held and parked else None,
        note=parked.note if parked else None,
    )


async def claim_view(
    ledger: ClaimLedger,
    claim: Claim,
    *,
    history: tuple[Sequence[TimelineEventRow], Sequence[FollowUpRow]] | None = None,
) -> ClaimView:
    """Everything the ledger knows about one claim, read in one transaction.

    ``history``: the claim's timeline events and follow-ups when the caller has just read them
    (the worklist's claim page), so they are not read twice.
    """
    if history is None:
        events, _, follow_ups, _ = await ledger.history(claim.id)
    else:
        events, follow_ups = list(history[0]), list(history[1])
    async with ledger.unit() as unit:
        posted = await unit.posted_payments(claim.id)
        receipts = await unit.receipts_for_claim(claim.id)
        parked = await unit.parked_for_claim_view(claim.id, claim.claim_key, claim.patient_last_key)
    by_id = {row.id: row for row in posted}
    received = {r.message_id: r.received_at for r in receipts}
    payments = [
        p.model_copy(update={"received_at": received.get(p.message_id)})
        for p in (_posted(row, by_id) for row in posted)
    ]
    posted_ids = {row.message_id for row in posted}
    parked_by_id = {p.message_id: p for p in parked}
    payments += [
        _unposted(r, parked_by_id.get(r.message_id))
        for r in receipts
        if r.message_id not in posted_ids
    ]
    the_money = claim_money(claim.charged_amount, posted)
    return ClaimView(
        claim=ClaimSummary(
            id=claim.id,
            claim_number=claim.claim_number,
            status=claim.status,
            payer_id=claim.payer_id,
            payer_name=claim.payer_name,
            service_start=claim.service_start,
            service_end=claim.service_end,
            submitted_on=claim.submitted_on,
            source=claim.source,
        ),
        money=Money(
            charged=the_money.charged,
            paid=the_money.paid,
            patient_share=the_money.patient_share,
            adjusted=the_money.adjusted,
            open=the_money.open,
            credit_balance=the_money.open < 0,
        ),
        payers=[
            PayerMoney(
                payer=m.payer,
                name=m.name,
                position=_POSITIONS.get(m.rank, "primary"),
                latest=m.latest,
                payments=m.payments,
                paid=m.paid,
                patient_responsibility=m.patient_responsibility,
                adjusted=m.adjusted,
                prior_payer=m.prior_payer,
                adjustments_by_group=m.adjustments_by_group,
            )
            for m in the_money.payers
        ],
        payments=payments,
        review_candidates=[
            ReviewCandidate(
                message_id=p.message_id,
                reason=p.reason,
                candidates=list(p.candidates or []),
                note=p.note,
                parked_at=p.parked_at,
                resolved_at=p.resolved_at,
            )
            for p in parked
            if p.reason in ("unmatched", "needs_review") and p.resolved_at is None
        ],
        follow_ups=[
            FollowUp(
                command_id=f.command_id,
                action=f.action,
                rule=f.rule,
                reason=f.reason,
                trigger_message_id=f.trigger_message_id,
                created_at=f.created_at,
            )
            for f in follow_ups
        ],
        timeline=[
            TimelineEvent(at=e.at, kind=e.kind, summary=e.summary, message_id=e.message_id)
            for e in events
        ],
    )


def render_claim_view(view: ClaimView) -> str:
    """The text view: header, money per payer, and the timeline with repeats collapsed."""
    c, m = view.claim, view.money
    lines = [
        f"Claim {c.claim_number}  (ledger id {c.id})",
        f"  status:  {c.status.replace('_', ' ')}",
        f"  payer:   {c.payer_name or c.payer_id or 'unknown'}",
        f"  money:   charged {money(m.charged)} = paid {money(m.paid)}"
        f" + patient share {money(m.patient_share)}"
        f" + adjusted {money(m.adjusted)} + open {money(m.open)}"
        + ("  (credit balance)" if m.credit_balance else ""),
    ]
    for p in view.payers:
        latest = ", latest: sets the patient's share" if p.latest else ""
        prior = f", prior payer {money(p.prior_payer)}" if p.prior_payer else ""
        lines.append(
            f"    {p.position:<9} {p.name or p.payer}: paid {money(p.paid)}, patient "
            f"{money(p.patient_responsibility)}, adjusted {money(p.adjusted)}{prior}{latest}"
        )
    if c.service_start:
        end = c.service_end or c.service_start
        lines.append(f"  service: {c.service_start.isoformat()} to {end.isoformat()}")
    held = sum(1 for p in view.payments if p.state == "held")
    lines.append(
        f"  follow-ups: {len(view.follow_ups)}   held for review: {held}   "
        f"review candidates: {len(view.review_candidates)}"
    )
    lines.append("")
    width = max((len(e.kind) for e in view.timeline), default=8)
    for first, count in collapse(view.timeline):
        at = first.at.strftime("%Y-%m-%d %H:%M:%SZ")
        times = f"  {TIMES} {count:,}" if count > 1 else ""
        lines.append(f"{at}  {first.kind:<{width}}  {first.summary}{times}")
    return "\n".join(lines)


def collapse(events: list[TimelineEvent]) -> list[tuple[TimelineEvent, int]]:
    """Runs of events with the same kind and words, as (first event, how many)."""
    out: list[tuple[TimelineEvent, int]] = []
    for event in events:
        if out and (out[-1][0].kind, out[-1][0].summary) == (event.kind, event.summary):
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((event, 1))
    return out


def claim_view_json_schema() -> dict[str, Any]:
    body = ClaimView.model_json_schema(by_alias=True, mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": _BASE_ID + CLAIM_VIEW_SCHEMA_FILE,
        **body,
        "title": "claimflow claim view (claimflow claim show ID --json)",
    }


if __name__ == "__main__":  # pragma: no cover - regenerates the published schema
    print(json.dumps(claim_view_json_schema(), indent=2, ensure_ascii=False))
