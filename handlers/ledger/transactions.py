"""The transaction-level check, once every claim of a PaymentBatch delivery has arrived.

Claims of one batch travel on different partitions (keyed by claim number), so no single
message sees a whole transaction. Each claim payment counts itself in its delivery's row
(``LedgerUnit.count_delivery``, ordered by the row lock); the one that counts the last claim
checks every transaction of the delivery: TotalPaymentAmount against the sum of the claim
payments. A difference is flagged, published, written on each matched claim's timeline and
handed to the follow-up rules that have a ``transaction`` condition. A delivery whose claims
were all duplicates of earlier ones is not checked again.

A unit that posts a poll's worth of claims (the handler's batch path) counts them per delivery
when it ends, in one step (``count_deferred``): the delivery's row is locked from then
to the commit only, not from its first claim in the unit, so that partitions and replicas
posting other claims of the delivery run side by side. The unit whose count passes the
delivery's number of claims checks it, as the claim that counts last does otherwise.

The sums are streamed from the receipts a chunk of narrow rows at a time
(``LedgerUnit.delivery_totals``), and the claims of an unbalanced transaction a chunk at a
time: a delivery of 100,000 claims is never held in memory at once.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Protocol

from handlers.ledger.followup_rules import Decision
from handlers.ledger.messages import TransactionReconciliationResult, difference_items, money
from handlers.ledger.outbox import enqueue
from handlers.ledger.reconciliation import Difference, reconcile_transaction
from handlers.ledger.store import DeferredCount, LedgerUnit
from handlers.ledger.tables import Claim, TransactionResult
from handlers.runtime.message import derive_message_id
from router.messages import ClaimPaymentMessage
from router.redox import TransactionHeader
from router.topics import TopicSet

__all__ = ["TransactionPoster", "check_delivery", "check_transactions", "count_deferred"]


class TransactionPoster(Protocol):
    """What the check needs of the poster (``handlers.ledger.posting.Poster``, which calls it):
    a protocol, so that this module does not import posting back."""

    tolerance: Decimal

    def topics(self, test: bool) -> TopicSet: ...

    async def transaction_decisions(
        self, unit: LedgerUnit, claim: Claim, message: ClaimPaymentMessage, *, balanced: bool
    ) -> list[Decision]: ...


async def check_delivery(
    unit: LedgerUnit, poster: TransactionPoster, message: ClaimPaymentMessage
) -> tuple[Difference, ...]:
    """Check the delivery's transactions if ``message`` was its last claim; their differences.

    In a unit that counts deliveries when it ends (``LedgerUnit.defer_delivery_counts``) the
    claim is only noted here; ``count_deferred`` counts and ``check_transactions`` checks."""
    if unit.defers_delivery_counts:
        unit.count_later(message)
        return ()
    counted = await unit.count_delivery(message.delivery.log_id, message.position.claims_in_batch)
    if counted != message.position.claims_in_batch:
        return ()
    return await _check(unit, poster, message)


async def count_deferred(unit: LedgerUnit, counted: DeferredCount) -> bool:
    """Count a unit's claims of one delivery at once: were they its last claims (the count
    went past the delivery's number of claims while adding them)? Then the unit checks the
    delivery (``check_transactions``), as the claim that counts last does otherwise."""
    message = counted.last
    claims = message.position.claims_in_batch
    after = await unit.count_delivery(message.delivery.log_id, claims, by=counted.claims)
    return after - counted.claims < claims <= after


async def check_transactions(
    unit: LedgerUnit, poster: TransactionPoster, message: ClaimPaymentMessage
) -> tuple[Difference, ...]:
    """Check every transaction of ``message``'s delivery, whose last claims are counted."""
    return await _check(unit, poster, message)


async def _check(
    unit: LedgerUnit, poster: TransactionPoster, message: ClaimPaymentMessage
) -> tuple[Difference, ...]:
    delivery = message.delivery.log_id
    totals = await unit.delivery_totals(delivery)
    if all(t.duplicates == t.claims for t in totals):
        return ()
    found: list[Difference] = []
    for transaction in totals:
        index = transaction.index
        header = TransactionHeader(
            id=transaction.transaction_id,
            total_payment_amount=transaction.total,
            credit_or_debit=transaction.credit_or_debit,
        )
        check = reconcile_transaction(header, [transaction.paid], tolerance=poster.tolerance)
        check = replace(check, claims=transaction.claims)
        found.extend(check.differences)
        items = difference_items(check.differences)
        now = unit.now
        unit.add(
            TransactionResult(
                delivery_id=delivery,
                transaction_index=index,
                transaction_id=transaction.transaction_id,
                total_amount=transaction.total,
                payments_amount=check.payments,
                balanced=check.balanced,
                differences=[i.model_dump(mode="json") for i in items],
                created_at=now,
            )
        )
        result_id = derive_message_id(f"{delivery}/{index}", "transaction-reconciliation")
        await enqueue(
            unit,
            topic=poster.topics(message.delivery.test).reconciliations,
            key=delivery,
            message_id=result_id,
            model=TransactionReconciliationResult(
                message_id=result_id,
                test=message.delivery.test,
                delivery_id=delivery,
                transaction_index=index,
                transaction_id=transaction.transaction_id,
                total_payment_amount=transaction.total,
                credit_or_debit=transaction.credit_or_debit,
                payments_amount=check.payments,
                claims=check.claims,
                balanced=check.balanced,
                differences=items,
                decided_at=now,
            ),
            test=message.delivery.test,
        )
        if check.balanced:
            continue
        text = (
            f"transaction {transaction.transaction_id or index}: total "
            f"{money(transaction.total)} differs from the sum of its {check.claims} claim "
            f"payments {money(check.payments)}"
        )
        async for receipts in unit.applied_receipts(delivery, index):
            for receipt in receipts:
                assert receipt.claim_id is not None
                claim = await unit.claim(receipt.claim_id)
                unit.event(claim.id, "transaction", text, message_id=receipt.message_id)
                if receipt.message_id == message.message_id:
                    source = message
                else:
                    source = ClaimPaymentMessage.model_validate_json(receipt.payload)
                await poster.transaction_decisions(unit, claim, source, balanced=False)
            await unit.flush()  # the chunk's timeline rows and commands, not all at once
    return tuple(found)
