"""What the review page shows: a payment waiting for review and its candidate claims, ranked,
each compared field by field with the payment (keys, demographics, dates, amounts, lines).

Agreement is judged the way the ledger matches: claim numbers through the normalised key,
names after Unicode folding, dates and money exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.ledger.matching import PaymentKeys, fold_name, normalise_key
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import Claim, ParkedPayment
from router.messages import ClaimPaymentMessage
from worklist.reasons import money_text
from worklist.review import item_version

__all__ = ["Comparison", "FieldComparison", "ReviewView", "load_review"]

Agreement = Literal["agrees", "differs", "unknown"]


@dataclass(frozen=True, slots=True)
class FieldComparison:
    label: str
    payment: str
    claim: str
    agreement: Agreement


@dataclass(frozen=True, slots=True)
class Comparison:
    rank: int | None
    claim: Claim
    fields: list[FieldComparison]
    searched: bool = False

    @property
    def agreeing(self) -> int:
        return sum(1 for f in self.fields if f.agreement == "agrees")


@dataclass(frozen=True, slots=True)
class ReviewView:
    parked: ParkedPayment
    version: str
    claim_number: str | None
    payer: str | None
    paid: Decimal | None
    lines: int
    line_charges: Decimal | None
    postable: bool
    comparisons: list[Comparison]
    search: str
    search_missed: bool


def _text(value: object) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, Decimal):
        return money_text(value)
    return str(value)


def _compare(
    label: str, paid: object, claimed: object, same: bool | None = None
) -> FieldComparison:
    if paid in (None, "", ()) or claimed in (None, ""):
        agreement: Agreement = "unknown"
    else:
        agreement = "agrees" if (same if same is not None else paid == claimed) else "differs"
    return FieldComparison(label, _text(paid), _text(claimed), agreement)


def compare(
    keys: PaymentKeys, payer: str | None, line_charges: Decimal | None, claim: Claim
) -> list[FieldComparison]:
    """Field by field, the payment beside the claim."""
    members = ", ".join(keys.member_ids) or None
    return [
        _compare(
            "Claim number",
            keys.submission_number,
            claim.claim_number,
            normalise_key(keys.submission_number) == normalise_key(claim.claim_number),
        ),
        _compare("Payer", payer, claim.payer_name, fold_name(payer) == fold_name(claim.payer_name)),
        _compare(
            "Patient last name",
            keys.patient_last_name,
            claim.patient_last_name,
            fold_name(keys.patient_last_name) == fold_name(claim.patient_last_name),
        ),
        _compare(
            "Patient first name",
            keys.patient_first_name,
            claim.patient_first_name,
            fold_name(keys.patient_first_name) == fold_name(claim.patient_first_name),
        ),
        _compare("Date of birth", keys.patient_dob, claim.patient_dob),
        _compare(
            "Member id",
            members,
            claim.member_id,
            claim.member_id in keys.member_ids if claim.member_id else None,
        ),
        _compare("Service from", keys.service_start, claim.service_start),
        _compare("Service to", keys.service_end, claim.service_end),
        _compare("Charged", keys.charged_amount, claim.charged_amount),
        _compare("Service lines' charges", line_charges, claim.charged_amount),
    ]


async def load_review(engine: AsyncEngine, item_id: int, search: str = "") -> ReviewView | None:
    """The review item ``item_id`` (a parked payment) with its candidates and a searched claim."""
    ledger = ClaimLedger(engine)
    async with ledger.unit() as unit:
        parked = await unit.session.scalar(select(ParkedPayment).where(ParkedPayment.id == item_id))
        if parked is None:
            return None
        ids = list(parked.candidates or [])
        if parked.claim_id is not None and parked.claim_id not in ids:
            ids.insert(0, parked.claim_id)
        found = {
            c.id: c for c in await unit.session.scalars(select(Claim).where(Claim.id.in_(ids)))
        }
    searched = await ledger.find_claim(search.strip()) if search.strip() else None
    try:
        message: ClaimPaymentMessage | None = ClaimPaymentMessage.model_validate_json(
            parked.payload
        )
    except ValueError:
        message = None
    keys = PaymentKeys.from_message(message) if message else PaymentKeys(None, None)
    services: Sequence[object] = message.claim.services if message else ()
    charges = [getattr(s, "charged_amount", None) for s in services]
    line_charges = (
        sum((c for c in charges if isinstance(c, Decimal)), Decimal("0")) if charges else None
    )
    submitter = message.transaction.submitter if message else None
    payer = submitter.name if submitter else None
    claims = [found[i] for i in ids if i in found]
    comparisons = [
        Comparison(rank, claim, compare(keys, payer, line_charges, claim))
        for rank, claim in enumerate(claims, 1)
    ]
    if searched is not None and searched.id not in found:
        comparisons.append(
            Comparison(None, searched, compare(keys, payer, line_charges, searched), searched=True)
        )
    return ReviewView(
        parked=parked,
        version=item_version(parked),
        claim_number=keys.submission_number,
        payer=payer,
        paid=message.claim.payment_amount if message else None,
        lines=len(services),
        line_charges=line_charges,
        postable=message is not None
        and parked.reason not in ("reversal_without_original", "negative_payment"),
        comparisons=comparisons,
        search=search,
        search_missed=bool(search.strip()) and searched is None,
    )
