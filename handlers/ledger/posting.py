"""Posting: what the ledger does with a claim payment, or with a claim that arrives.

:meth:`Poster.post_payment` runs inside one ``LedgerUnit`` (one database transaction):

1. idempotency: a message id seen before changes nothing; a payment whose content was seen
   before under another id (the payer sent the same remittance twice) is recorded as a
   duplicate and changes nothing else;
2. reconcile (exact Decimal), match, classify;
3. a matched payment is posted to its claim (a reversal undoes the payment it reverses), an
   ambiguous one parked for review, an unmatched one parked until its claim arrives;
4. the follow-up rules decide; the result and the commands go to the outbox;
5. when the last claim of a delivery arrives, each transaction's total is checked.

:meth:`Poster.add_claim` adds a claim and posts the parked payments that were waiting for it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from handlers.followup.rules import Decision, FollowUpFacts, RuleSet
from handlers.ledger.codes import AdjustmentGroup
from handlers.ledger.follow_ups import FollowUpContext, FollowUps
from handlers.ledger.intake import NewClaim
from handlers.ledger.matching import (
    MatchMethod,
    MatchResult,
    MatchStatus,
    PaymentKeys,
    match_payment,
    normalise_key,
    normalise_name,
)
from handlers.ledger.messages import Amounts, ClaimReconciliationResult, difference_items, money
from handlers.ledger.outbox import enqueue
from handlers.ledger.outcome import Classification, Outcome, classify
from handlers.ledger.reconciliation import ClaimReconciliation, Difference, reconcile_claim
from handlers.ledger.store import LedgerUnit
from handlers.ledger.tables import (
    AppliedPayment,
    Claim,
    ParkedPayment,
    PaymentReceipt,
    Reconciliation,
    utcnow,
)
from handlers.ledger.transactions import check_delivery
from handlers.runtime.message import derive_message_id
from router.messages import ClaimPaymentMessage
from router.topics import TopicSet

__all__ = ["Poster", "PostingResult", "fingerprint"]

_PAYER_REQUEST_TYPES = ("tracking", "attachment", "request")


def fingerprint(message: ClaimPaymentMessage) -> str:
    """The content of a claim payment, whatever delivery brought it."""
    t = message.transaction
    content = {
        "transaction": [t.id, t.tracking_number, money(t.total_payment_amount), t.credit_or_debit],
        "payer": [(i.id, i.id_type) for i in (t.submitter.identifiers if t.submitter else [])],
        "claim": message.claim.model_dump(mode="json", by_alias=True),
    }
    canonical = json.dumps(content, sort_keys=True, default=str).encode()
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True, slots=True)
class PostingResult:
    message_id: str
    state: str  # applied, recorded, review, parked, duplicate, redelivered
    outcome: Outcome | None = None
    claim_id: int | None = None
    match: MatchResult | None = None
    reconciliation: ClaimReconciliation | None = None
    follow_ups: tuple[Decision, ...] = field(default=())
    transaction_differences: tuple[Difference, ...] = field(default=())


def _payer_request_number(message: ClaimPaymentMessage) -> str | None:
    for ref in message.claim.reference_numbers:
        kind = (ref.id_type or "").lower()
        if ref.id and any(word in kind for word in _PAYER_REQUEST_TYPES):
            return ref.id
    return None


class Poster:
    """The ledger's rules for payments and claims; stateless apart from its configuration."""

    def __init__(
        self,
        *,
        rules: RuleSet,
        tolerance: Decimal = Decimal("0"),
        topic_prefix: str = "claimflow.",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.tolerance = tolerance
        self.topic_prefix = topic_prefix
        self.follow_ups = FollowUps(rules, topic_prefix=topic_prefix)
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    def topics(self, test: bool) -> TopicSet:
        return TopicSet(prefix=self.topic_prefix, lane="test" if test else "production")

    async def post_payment(
        self, unit: LedgerUnit, message: ClaimPaymentMessage, *, again: bool = False
    ) -> PostingResult:
        mid = message.message_id
        receipt = await unit.receipt(mid)
        if receipt is not None and not again:
            return PostingResult(mid, "redelivered", claim_id=receipt.claim_id)
        if receipt is None:
            print_ = unit.fingerprint(message)
            original = await unit.original_with_fingerprint(print_)
            receipt = self._receipt(message, print_)
            if original is not None:
                return await self._duplicate(unit, message, receipt, original)
        rec = reconcile_claim(message.claim, tolerance=self.tolerance)
        match = await match_payment(PaymentKeys.from_message(message), unit)
        cls = classify(message.claim, rec, match, tolerance=self.tolerance)
        receipt.paid_amount = rec.paid
        receipt.outcome = cls.outcome.value
        receipt.claim_id = match.claim_id if match.matched else None
        claim = await unit.claim(match.claim_id) if match.claim_id is not None else None
        if claim is not None and match.matched and cls.outcome is not Outcome.NEEDS_REVIEW:
            receipt.state = await self._apply(unit, claim, message, rec, cls, match)
        else:
            receipt.state = await self._park(unit, message, match, cls)
        if again:
            parked = await unit.parked(mid)
            if parked is not None and receipt.state in ("applied", "recorded"):
                parked.resolved_at = self.now()
        else:
            unit.add(receipt)
        await self._record_result(unit, message, rec, cls, match, claim)
        decisions: list[Decision] = []
        if claim is not None and match.matched:
            decisions = await self._decide(unit, claim, message, rec, cls, match)
            decisions += await self._late_transaction_rules(unit, claim, message, again=again)
        tx_diffs: tuple[Difference, ...] = ()
        if not again:
            tx_diffs = await check_delivery(unit, self, message)
        return PostingResult(
            mid,
            receipt.state,
            cls.outcome,
            receipt.claim_id,
            match,
            rec,
            tuple(decisions),
            tx_diffs,
        )

    def _receipt(self, message: ClaimPaymentMessage, print_: str) -> PaymentReceipt:
        t = message.transaction
        return PaymentReceipt(
            message_id=message.message_id,
            fingerprint=print_,
            delivery_id=message.delivery.log_id,
            transaction_index=message.position.transaction,
            transaction_id=t.id,
            transaction_total=t.total_payment_amount,
            credit_or_debit=t.credit_or_debit,
            claims_in_batch=message.position.claims_in_batch,
            paid_amount=Decimal("0"),
            state="new",
            outcome="",
            payload=message.model_dump_json(by_alias=True),
            received_at=self.now(),
        )

    async def _duplicate(
        self,
        unit: LedgerUnit,
        message: ClaimPaymentMessage,
        receipt: PaymentReceipt,
        original: PaymentReceipt,
    ) -> PostingResult:
        receipt.state = "duplicate"
        receipt.duplicate_of = original.message_id
        receipt.outcome = original.outcome
        receipt.paid_amount = original.paid_amount
        receipt.claim_id = original.claim_id
        unit.add(receipt)
        if original.claim_id is not None:
            unit.event(
                original.claim_id,
                "duplicate",
                "the same payment notification arrived again; nothing changed",
                message_id=message.message_id,
            )
        await check_delivery(unit, self, message)
        return PostingResult(message.message_id, "duplicate", claim_id=original.claim_id)

    async def _apply(
        self,
        unit: LedgerUnit,
        claim: Claim,
        message: ClaimPaymentMessage,
        rec: ClaimReconciliation,
        cls: Classification,
        match: MatchResult,
    ) -> str:
        c = message.claim
        mid = message.message_id
        if c.control_number:
            await unit.remember_control_number(claim.id, c.control_number)
        how = f"matched by {match.method.value.replace('_', ' ')} (confidence {match.confidence})"
        payer = message.transaction.submitter.name if message.transaction.submitter else None
        by = f" by {payer}" if payer else ""
        ref = f", payer claim {c.control_number}" if c.control_number else ""
        if cls.outcome is Outcome.PREDETERMINATION:
            unit.event(
                claim.id,
                "predetermination",
                f"predetermination only{by}: priced, not paid ({money(rec.paid)}){ref}; {how}",
                message_id=mid,
            )
            return "recorded"
        pr_lines = rec.adjusted_in(AdjustmentGroup.PR)
        other_adjusted = rec.adjusted - pr_lines
        applied = AppliedPayment(
            message_id=mid,
            claim_id=claim.id,
            control_number=c.control_number,
            status_text=c.status,
            outcome=cls.outcome.value,
            charged_amount=c.charged_amount,
            paid_amount=rec.paid,
            patient_responsibility=rec.patient_responsibility,
            adjusted_amount=other_adjusted,
            adjustments=[
                {
                    "service": a.service,
                    "group": a.group.value,
                    "carc": a.carc,
                    "reason": a.reason,
                    "amount": money(a.amount),
                }
                for a in rec.adjustments
            ],
            match_method=match.method.value,
            match_confidence=match.confidence,
            paid_at=_at(message.payment_date_time),
            applied_at=self.now(),
        )
        unit.add(applied)
        if cls.outcome is Outcome.REVERSED:
            await unit.flush()  # the reversal's id, and the payments it may reverse
            earlier = await unit.reversible_payment(claim.id, c.control_number, rec.paid)
            if earlier is not None:
                earlier.reversed_by_id = applied.id
                applied.reverses_id = earlier.id
                what = f"reverses payment #{earlier.id} of {money(earlier.paid_amount)}"
            else:
                what = "reverses no payment found in the ledger"
            unit.event(
                claim.id,
                "reversed",
                f"reversal{by}: {money(rec.paid)} ({what}){ref}; {how}",
                message_id=mid,
            )
        else:
            words = cls.outcome.value.replace("_", " ")
            unit.event(
                claim.id,
                "paid" if rec.paid else "decided",
                f"{words}{by}: paid {money(rec.paid)} of {money(c.charged_amount)}, patient "
                f"responsibility {money(rec.patient_responsibility)}{ref}; {how}",
                message_id=mid,
            )
        if rec.adjustments:
            unit.event(claim.id, "adjusted", _adjustments_text(rec), message_id=mid)
        claim.paid_amount += rec.paid
        claim.patient_responsibility += rec.patient_responsibility
        claim.adjusted_amount += other_adjusted
        claim.status = cls.outcome.value
        claim.updated_at = self.now()
        return "applied"

    async def _park(
        self,
        unit: LedgerUnit,
        message: ClaimPaymentMessage,
        match: MatchResult,
        cls: Classification,
    ) -> str:
        reason = "unmatched" if match.status is MatchStatus.UNMATCHED else "needs_review"
        parked = await unit.parked(message.message_id)
        if parked is None:
            unit.add(
                ParkedPayment(
                    message_id=message.message_id,
                    reason=reason,
                    submission_key=normalise_key(message.claim.submission_number),
                    control_key=normalise_key(message.claim.control_number),
                    candidates=list(match.candidates),
                    payload=message.model_dump_json(by_alias=True),
                    parked_at=self.now(),
                )
            )
        else:
            parked.reason = reason
            parked.candidates = list(match.candidates)
        for claim_id in match.candidates:
            if not await unit.has_event(claim_id, message.message_id):
                unit.event(
                    claim_id,
                    "review",
                    f"a payment may belong to this claim and waits for review: {cls.reason}",
                    message_id=message.message_id,
                )
        return "parked" if reason == "unmatched" else "review"

    async def _record_result(
        self,
        unit: LedgerUnit,
        message: ClaimPaymentMessage,
        rec: ClaimReconciliation,
        cls: Classification,
        match: MatchResult,
        claim: Claim | None,
    ) -> None:
        mid = message.message_id
        matched_claim = claim if match.matched else None
        unit.add(
            Reconciliation(
                message_id=mid,
                claim_id=matched_claim.id if matched_claim else None,
                outcome=cls.outcome.value,
                match_status=match.status.value,
                match_method=match.method.value,
                match_confidence=match.confidence,
                balanced=rec.balanced,
                differences=[d.model_dump(mode="json") for d in difference_items(rec.differences)],
                flags=list(cls.flags),
                created_at=self.now(),
            )
        )
        if matched_claim is not None and cls.outcome is not Outcome.PREDETERMINATION:
            if rec.balanced:
                text = "reconciled: charged = paid + patient responsibility + adjustments"
            else:
                text = "reconciliation differences: " + "; ".join(
                    f"{d.check} at {d.where}: expected {money(d.expected)}, "
                    f"got {money(d.actual)} ({money(d.amount)})"
                    for d in rec.differences
                )
                if rec.missing:
                    text += f"; missing {', '.join(rec.missing)}"
            unit.event(matched_claim.id, "reconciled", text, message_id=mid)
        result_id = derive_message_id(mid, f"reconciliation:{cls.outcome.value}")
        result = ClaimReconciliationResult(
            message_id=result_id,
            trigger_message_id=mid,
            test=message.delivery.test,
            claim_id=str(matched_claim.id) if matched_claim else None,
            claim_number=matched_claim.claim_number if matched_claim else None,
            submission_number=message.claim.submission_number,
            control_number=message.claim.control_number,
            payer_status=message.claim.status,
            outcome=cls.outcome.value,
            reason=cls.reason,
            flags=list(cls.flags),
            match_status=match.status.value,
            match_method=match.method.value,
            match_confidence=match.confidence,
            candidates=len(match.candidates),
            balanced=rec.balanced,
            amounts=Amounts(
                charged=rec.charged,
                paid=rec.paid,
                patient_responsibility=rec.patient_responsibility,
                adjusted=rec.adjusted,
            ),
            differences=difference_items(rec.differences),
            decided_at=self.now(),
        )
        key = message.claim.submission_number or message.claim.control_number or mid
        await enqueue(
            unit,
            topic=self.topics(message.delivery.test).reconciliations,
            key=key,
            message_id=result_id,
            model=result,
            test=message.delivery.test,
        )

    async def _decide(
        self,
        unit: LedgerUnit,
        claim: Claim,
        message: ClaimPaymentMessage,
        rec: ClaimReconciliation,
        cls: Classification,
        match: MatchResult,
        transaction_balanced: bool | None = None,
    ) -> list[Decision]:
        facts = FollowUpFacts(
            outcome=cls.outcome.value,
            status=cls.status,
            carcs=rec.carcs,
            rarcs=rec.rarcs,
            reasons=tuple(a.reason for a in rec.adjustments if a.reason),
            match=match.status.value,
            reconciled=rec.balanced,
            transaction_balanced=transaction_balanced,
        )
        ctx = FollowUpContext(
            trigger_message_id=message.message_id,
            test=message.delivery.test,
            control_number=message.claim.control_number,
            tracking_number=message.transaction.tracking_number,
            payer_request_number=_payer_request_number(message),
            now=self.now(),
        )
        return await self.follow_ups.record(unit, claim, facts, ctx)

    async def _late_transaction_rules(
        self, unit: LedgerUnit, claim: Claim, message: ClaimPaymentMessage, *, again: bool
    ) -> list[Decision]:
        """A parked payment matched after its transaction was checked gets its rules now."""
        if not again:
            return []
        result = await unit.transaction_result(
            message.delivery.log_id, message.position.transaction
        )
        if result is None:
            return []
        return await self.transaction_decisions(unit, claim, message, balanced=result.balanced)

    async def transaction_decisions(
        self, unit: LedgerUnit, claim: Claim, message: ClaimPaymentMessage, *, balanced: bool
    ) -> list[Decision]:
        """The rules with a ``transaction`` condition, for one matched claim of it."""
        rec = reconcile_claim(message.claim, tolerance=self.tolerance)
        receipt = await unit.receipt(message.message_id)
        match = MatchResult(MatchStatus.MATCHED, MatchMethod.NONE, Decimal("0"), claim.id, (), "")
        cls = classify(message.claim, rec, match, tolerance=self.tolerance)
        if receipt is not None and receipt.outcome:
            cls = Classification(Outcome(receipt.outcome), cls.status, cls.reason, cls.flags)
        return await self._decide(
            unit, claim, message, rec, cls, match, transaction_balanced=balanced
        )

    async def add_claim(
        self, unit: LedgerUnit, new: NewClaim, *, source: str, message_id: str | None = None
    ) -> tuple[Claim, list[PostingResult]]:
        """Add a claim (or note a resubmission) and post the payments parked for it."""
        existing = (await unit.claims_by_number([new.claim_number])).get(new.claim_number)
        if existing is not None:
            if message_id and not await unit.has_event(existing.id, message_id):
                unit.event(
                    existing.id, "resubmitted", f"submitted again ({source})", message_id=message_id
                )
            return existing, []
        now = self.now()
        claim = Claim(
            **new.model_dump(),
            claim_key=normalise_key(new.claim_number),
            patient_last_key=normalise_name(new.patient_last_name) or None,
            paid_amount=Decimal("0.00"),
            patient_responsibility=Decimal("0.00"),
            adjusted_amount=Decimal("0.00"),
            status="submitted",
            source=source,
            created_at=now,
            updated_at=now,
        )
        unit.add(claim)
        await unit.flush()
        unit.event(
            claim.id,
            "submitted",
            f"claim {claim.claim_number} submitted, charged {money(claim.charged_amount)}"
            + (f", payer {claim.payer_name}" if claim.payer_name else "")
            + f" ({source})",
            message_id=message_id,
        )
        posted = []
        for parked in await unit.parked_for_claim(claim.claim_key):
            message = ClaimPaymentMessage.model_validate_json(parked.payload)
            result = await self.post_payment(unit, message, again=True)
            posted.append(result)
            if result.state in ("applied", "recorded"):
                unit.event(
                    claim.id,
                    "matched",
                    f"a payment parked since {parked.parked_at:%Y-%m-%d %H:%M:%SZ}, before the "
                    "claim was known, is matched now",
                    message_id=message.message_id,
                )
        return claim, posted


def _at(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _adjustments_text(rec: ClaimReconciliation) -> str:
    parts = []
    for a in rec.adjustments:
        code = f" {a.carc}" if a.carc else ""
        where = "claim" if a.service is None else f"line {a.service + 1}"
        text = a.reason.strip() if a.reason else "no reason given"
        reason = "" if text == a.carc else f" {text}"
        parts.append(f"{a.group.value}{code}{reason} {money(a.amount)} ({where})")
    return "adjusted: " + "; ".join(parts)
