"""Posting: what the ledger does with a claim payment, or with a claim that arrives.

:meth:`Poster.post_payment` runs inside one ``LedgerUnit`` (one database transaction):

1. idempotency: a message id seen before changes nothing; a payment whose content was seen
   before under another id (the payer sent the same remittance twice) is recorded as a
   duplicate and changes nothing else;
2. reconcile (exact Decimal), match, classify;
3. a matched payment is posted to its claim (a reversal undoes the payment it names), unless
   it must be *held* for a person: a possible duplicate (same payer, payer claim number,
   amounts and service lines as a payment standing on the claim, under another check), a
   reversal of a payment the ledger does not have, a negative payment without a reversal. An
   ambiguous match is parked for review, an unmatched payment parked until its claim arrives;
4. the claim's money is recomputed from its posted payments (``claim_money``: per payer, the
   patient's share as the latest adjudicating payer says, open balance, status; a credit
   balance is flagged);
5. the follow-up rules decide; the result and the commands go to the outbox;
6. when the last claim of a delivery arrives, each transaction's total is checked.

:meth:`Poster.add_claim` adds a claim and matches again every payment parked unmatched or for
review that it may resolve: posted once its claim is on file, review candidates re-ranked.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import orjson

from handlers.ledger.claim_money import claim_money
from handlers.ledger.codes import AdjustmentGroup, adjustment_group, carc_code, payer_rank
from handlers.ledger.followup_decisions import FollowUpContext, FollowUps
from handlers.ledger.followup_rules import Decision, FollowUpFacts, RuleSet
from handlers.ledger.intake import NewClaim
from handlers.ledger.matching import (
    MatchMethod,
    MatchResult,
    MatchStatus,
    PaymentKeys,
    fold_name,
    match_payment,
    normalise_key,
)
from handlers.ledger.messages import Amounts, ClaimReconciliationResult, difference_items, money
from handlers.ledger.outbox import enqueue
from handlers.ledger.outcome import Classification, Outcome, classify, prior_payer_amount
from handlers.ledger.reconciliation import ClaimReconciliation, Difference, reconcile_claim
from handlers.ledger.store import LedgerUnit
from handlers.ledger.tables import (
    AppliedPayment,
    Claim,
    ParkedPayment,
    Reconciliation,
)
from handlers.ledger.transactions import check_delivery
from handlers.ledger.unit_cache import NewReceipt, PostedRow, ReceiptRow
from handlers.runtime.message import derive_message_id
from router.messages import ClaimPaymentMessage
from router.topics import TopicSet

__all__ = ["Poster", "PostingResult", "fingerprint", "payer_of", "payment_key"]

_PAYER_REQUEST_TYPES = ("tracking", "attachment", "request")


def fingerprint(message: ClaimPaymentMessage) -> str:
    """The content of a claim payment, whatever delivery brought it: its transaction, payer
    and claim as canonical JSON (sorted keys, compact: orjson's, a tenth of ``json.dumps``'s
    time; receipts from before migration 0007 were recomputed to it), hashed."""
    t = message.transaction
    content = {
        "transaction": [t.id, t.tracking_number, money(t.total_payment_amount), t.credit_or_debit],
        "payer": [(i.id, i.id_type) for i in (t.submitter.identifiers if t.submitter else [])],
        "claim": message.claim.model_dump(mode="json", by_alias=True),
    }
    canonical = orjson.dumps(content, default=str, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def payer_of(message: ClaimPaymentMessage) -> tuple[str | None, str | None]:
    """The paying payer's key (its first identifier, else its folded name) and name."""
    submitter = message.transaction.submitter
    if submitter is None:
        return None, None
    ident = next((i.id for i in submitter.identifiers if i.id), None)
    key = normalise_key(ident) if ident else fold_name(submitter.name)
    return key or None, submitter.name


def _amount(value: Decimal | None) -> str:
    return "-" if value is None else format(value.normalize(), "f")


def payment_key(message: ClaimPaymentMessage, payer: str | None) -> str:
    """Payer, payer claim number (else our claim number), amounts and service lines: the
    content two payments share when one may be a duplicate of the other, whatever check or
    EFT trace carried them."""
    c = message.claim

    def adjustments(items: Sequence[object]) -> list[list[str]]:
        out = []
        for a in items:
            amount = getattr(a, "amount", None)
            reason = getattr(a, "reason", None)
            group = adjustment_group(getattr(a, "type", None)).value
            out.append(
                [group, carc_code(reason) or (reason or "").strip().upper(), _amount(amount)]
            )
        return sorted(out)

    content = [
        payer or "",
        normalise_key(c.control_number) or normalise_key(c.submission_number),
        _amount(c.charged_amount),
        _amount(c.payment_amount),
        _amount(c.patient_responsibility_amount),
        adjustments(c.adjustments),
        [
            [_amount(s.charged_amount), _amount(s.payment_amount), adjustments(s.adjustments)]
            for s in c.services
        ],
    ]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


_HOLD_WORDS = {
    "possible_duplicate": "possible duplicate",
    "reversal_without_original": "reversal of a payment the ledger does not have",
    "negative_payment": "negative payment without a reversal",
}


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
    ) -> None:
        self.tolerance = tolerance
        self.topic_prefix = topic_prefix
        self.follow_ups = FollowUps(rules, topic_prefix=topic_prefix)

    def topics(self, test: bool) -> TopicSet:
        return TopicSet(prefix=self.topic_prefix, lane="test" if test else "production")

    async def post_payment(
        self, unit: LedgerUnit, message: ClaimPaymentMessage, *, again: bool = False
    ) -> PostingResult:
        mid = message.message_id
        receipt = await unit.current_receipt(mid)
        if receipt is not None and not again:
            return PostingResult(mid, "redelivered", claim_id=receipt.claim_id)
        if receipt is None:
            print_ = unit.fingerprint(message)
            original = await unit.original_with_fingerprint(print_)
            receipt = self._receipt(unit, message, print_)
            if original is not None:
                return await self._duplicate(unit, message, receipt, original)
        rec = reconcile_claim(message.claim, tolerance=self.tolerance)
        match = await match_payment(PaymentKeys.from_message(message), unit)
        cls = classify(message.claim, rec, match, tolerance=self.tolerance)
        receipt.paid_amount = rec.paid
        receipt.outcome = cls.outcome.value
        receipt.claim_id = match.claim_id if match.matched else None
        claim = await unit.claim(match.claim_id) if match.claim_id is not None else None
        flags = list(cls.flags)
        if claim is not None and match.matched and cls.outcome is not Outcome.NEEDS_REVIEW:
            receipt.state = await self._apply(unit, claim, message, rec, cls, match, flags)
        elif claim is not None and match.matched:
            receipt.state = await self._hold(
                unit, message, claim, "negative_payment", note=cls.reason
            )
        else:
            receipt.state = await self._park(unit, message, match, cls)
        if receipt.state == "review" and cls.outcome is not Outcome.NEEDS_REVIEW:
            held = next((_HOLD_WORDS[f] for f in flags if f in _HOLD_WORDS), "a person decides")
            cls = dataclasses.replace(
                cls, outcome=Outcome.NEEDS_REVIEW, reason=f"held for review: {held}"
            )
            receipt.outcome = cls.outcome.value
        cls = dataclasses.replace(cls, flags=tuple(flags))
        if again:
            parked = await unit.parked(mid)
            if parked is not None and receipt.state in ("applied", "recorded"):
                parked.resolved_at = unit.now
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

    async def post_parked_to_claim(
        self, unit: LedgerUnit, message_id: str, claim: Claim, *, decided_by: str
    ) -> PostingResult:
        """Post a payment parked for review (or held) to the claim a person chose.

        The same apply path as a matched payment, with the person as the match: the money,
        the claim's timeline, the reconciliation result and the follow-up rules all follow. A
        possible duplicate is posted because the person says it is not one; a reversal still
        needs its original (it stays held, state ``review``).
        """
        parked = await unit.parked(message_id)
        receipt = await unit.receipt(message_id)
        if parked is None or parked.resolved_at is not None or receipt is None:
            raise LookupError(f"no payment waiting for review with message id {message_id}")
        message = ClaimPaymentMessage.model_validate_json(parked.payload)
        rec = reconcile_claim(message.claim, tolerance=self.tolerance)
        match = MatchResult(
            MatchStatus.MATCHED,
            MatchMethod.CHOSEN_BY_PERSON,
            Decimal("1.00"),
            claim.id,
            (claim.id,),
            f"chosen by {decided_by}",
        )
        cls = classify(message.claim, rec, match, tolerance=self.tolerance)
        flags = list(cls.flags)
        receipt.state = await self._apply(
            unit, claim, message, rec, cls, match, flags, chosen_by_person=True
        )
        receipt.paid_amount = rec.paid
        receipt.outcome = cls.outcome.value
        receipt.claim_id = claim.id
        if receipt.state in ("applied", "recorded"):
            parked.resolved_at = unit.now
        cls = dataclasses.replace(cls, flags=tuple(flags))
        await self._record_result(unit, message, rec, cls, match, claim)
        decisions = await self._decide(unit, claim, message, rec, cls, match)
        return PostingResult(
            message_id, receipt.state, cls.outcome, claim.id, match, rec, tuple(decisions)
        )

    def _receipt(self, unit: LedgerUnit, message: ClaimPaymentMessage, print_: str) -> NewReceipt:
        t = message.transaction
        return NewReceipt(
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
            payload=unit.payload(message),
            received_at=unit.now,
        )

    async def _duplicate(
        self,
        unit: LedgerUnit,
        message: ClaimPaymentMessage,
        receipt: NewReceipt,
        original: ReceiptRow,
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
        flags: list[str],
        *,
        chosen_by_person: bool = False,
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
        payer_key, payer_name = payer_of(message)
        key: str | None = None
        earlier: PostedRow | None = None
        if cls.outcome is Outcome.REVERSED:
            earlier = await unit.reversible_payment(claim.id, c.control_number, rec.paid)
            if earlier is None:
                flags.append("reversal_without_original")
                return await self._hold(
                    unit,
                    message,
                    claim,
                    "reversal_without_original",
                    note=f"a reversal of {money(rec.paid)}{by}{ref} names no payment posted "
                    "to this claim; held so that paid and the patient's share never go below "
                    "zero",
                )
        else:
            key = payment_key(message, payer_key)
            same = await unit.posted_with_payment_key(claim.id, key)
            if same is not None and same.message_id != mid and not chosen_by_person:
                flags.append("possible_duplicate")
                return await self._hold(
                    unit,
                    message,
                    claim,
                    "possible_duplicate",
                    related=same.message_id,
                    note=f"same payer, payer claim number, amounts and service lines as "
                    f"payment #{same.id} (message {same.message_id}, paid "
                    f"{money(same.paid_amount)}) already posted",
                )
        prior = prior_payer_amount(rec)
        pr_lines = rec.adjusted_in(AdjustmentGroup.PR)
        other_adjusted = rec.adjusted - pr_lines - prior
        applied = unit.new_payment(
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
            applied_at=unit.now,
            payer_key=payer_key,
            payer_name=payer_name,
            payer_rank=payer_rank(c.status),
            prior_payer_amount=prior,
            payment_key=key,
        )
        if cls.outcome is Outcome.REVERSED and earlier is not None:
            if isinstance(applied, AppliedPayment):
                await unit.flush()  # the reversal's id, for the links both ways
            earlier.reversed_by_id = applied.id
            applied.reverses_id = earlier.id
            what = f"reverses payment #{earlier.id} of {money(earlier.paid_amount)}"
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
        await self._settle(unit, claim, flags, mid)
        return "applied"

    async def _settle(self, unit: LedgerUnit, claim: Claim, flags: list[str], mid: str) -> None:
        """Recompute the claim's money from its posted payments; flag a credit balance."""
        money_ = claim_money(claim.charged_amount, await unit.payments_on_claim(claim.id))
        claim.paid_amount = money_.paid
        claim.patient_responsibility = money_.patient_share
        claim.adjusted_amount = money_.adjusted
        claim.status = money_.status(claim.status, self.tolerance)
        claim.updated_at = unit.now
        payers = "; ".join(
            f"{m.name or m.payer} ({_RANK_WORDS.get(m.rank, f'payer {m.rank}')}) paid "
            f"{money(m.paid)}, patient {money(m.patient_responsibility)}, adjusted "
            f"{money(m.adjusted)}"
            + (f", prior payer {money(m.prior_payer)}" if m.prior_payer else "")
            for m in money_.payers
        )
        unit.event(
            claim.id,
            "balance",
            f"balance: charged {money(money_.charged)} = paid {money(money_.paid)} + patient "
            f"share {money(money_.patient_share)} + adjusted {money(money_.adjusted)} + open "
            f"{money(money_.open)}; status {claim.status.replace('_', ' ')}"
            + (f"; per payer: {payers}" if payers else ""),
            message_id=mid,
        )
        if money_.open < -self.tolerance:
            flags.append("credit_balance")
            unit.event(
                claim.id,
                "overpaid",
                f"credit balance {money(-money_.open)}: the payments exceed what the claim may "
                "receive",
                message_id=mid,
            )

    async def _park_row(
        self,
        unit: LedgerUnit,
        message: ClaimPaymentMessage,
        reason: str,
        candidates: Sequence[int],
        *,
        claim_id: int | None = None,
        related: str | None = None,
        note: str | None = None,
    ) -> None:
        demographics = message.patient.demographics if message.patient else None
        last = fold_name(demographics.last_name if demographics else None) or None
        parked = await unit.parked(message.message_id)
        if parked is None:
            unit.add(
                ParkedPayment(
                    message_id=message.message_id,
                    reason=reason,
                    submission_key=normalise_key(message.claim.submission_number),
                    control_key=normalise_key(message.claim.control_number),
                    candidates=list(candidates),
                    payload=unit.payload(message),
                    parked_at=unit.now,
                    patient_last_key=last,
                    claim_id=claim_id,
                    related_message_id=related,
                    note=note,
                )
            )
        else:
            parked.reason = reason
            parked.candidates = list(candidates)
            parked.patient_last_key = last
            parked.claim_id = claim_id
            parked.related_message_id = related
            parked.note = note

    async def _hold(
        self,
        unit: LedgerUnit,
        message: ClaimPaymentMessage,
        claim: Claim,
        reason: str,
        *,
        note: str,
        related: str | None = None,
    ) -> str:
        """Keep a matched payment off the claim's money until a person decides."""
        await self._park_row(
            unit, message, reason, [claim.id], claim_id=claim.id, related=related, note=note
        )
        unit.event(
            claim.id,
            "held",
            f"payment held for review, not posted ({_HOLD_WORDS[reason]}): {note}",
            message_id=message.message_id,
        )
        return "review"

    async def _park(
        self,
        unit: LedgerUnit,
        message: ClaimPaymentMessage,
        match: MatchResult,
        cls: Classification,
    ) -> str:
        reason = "unmatched" if match.status is MatchStatus.UNMATCHED else "needs_review"
        await self._park_row(unit, message, reason, match.candidates, note=match.reason)
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
        unit.insert(
            Reconciliation,
            {
                "message_id": mid,
                "claim_id": matched_claim.id if matched_claim else None,
                "outcome": cls.outcome.value,
                "match_status": match.status.value,
                "match_method": match.method.value,
                "match_confidence": match.confidence,
                "balanced": rec.balanced,
                "differences": [
                    d.model_dump(mode="json") for d in difference_items(rec.differences)
                ],
                "flags": list(cls.flags),
                "created_at": unit.now,
            },
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
            decided_at=unit.now,
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
            flags=frozenset(cls.flags),
        )
        ctx = FollowUpContext(
            trigger_message_id=message.message_id,
            test=message.delivery.test,
            control_number=message.claim.control_number,
            tracking_number=message.transaction.tracking_number,
            payer_request_number=_payer_request_number(message),
            now=unit.now,
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
        receipt = await unit.current_receipt(message.message_id)
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
        now = unit.now
        claim = Claim(
            **new.model_dump(),
            claim_key=normalise_key(new.claim_number),
            patient_last_key=fold_name(new.patient_last_name) or None,
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
        parked = await unit.parked_to_match_again(claim.claim_key, claim.patient_last_key)
        posted = await self.match_parked_again(unit, parked, {claim.id})
        return claim, posted

    async def match_parked_again(
        self, unit: LedgerUnit, parked: Sequence[ParkedPayment], new_claims: Collection[int]
    ) -> list[PostingResult]:
        """Post again payments parked unmatched or for review, now that new claims are on file.

        Rule 6: once its claim is on file a payment is posted, whatever it was parked for;
        the others are re-ranked. A payment that lands on one of the new claims says so on
        that claim's timeline.
        """
        posted = []
        for row in parked:
            was = "unmatched" if row.reason == "unmatched" else "waiting for review"
            message = ClaimPaymentMessage.model_validate_json(row.payload)
            result = await self.post_payment(unit, message, again=True)
            posted.append(result)
            if result.state in ("applied", "recorded") and result.claim_id in new_claims:
                assert result.claim_id is not None
                unit.event(
                    result.claim_id,
                    "matched",
                    f"a payment parked since {row.parked_at:%Y-%m-%d %H:%M:%SZ} ({was}) is "
                    "matched now that this claim is on file",
                    message_id=message.message_id,
                )
        return posted


_RANK_WORDS = {1: "primary", 2: "secondary", 3: "tertiary"}


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
