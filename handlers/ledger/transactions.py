"""The transaction-level check, once every claim of a PaymentBatch delivery has arrived.

Claims of one batch travel on different partitions (keyed by claim number), so no single
message sees a whole transaction. Each claim payment counts itself in its delivery's row
(``LedgerUnit.count_delivery``, ordered by the row lock); the one that counts the last claim
checks every transaction of the delivery: TotalPaymentAmount against the sum of the claim
payments. A difference is flagged, published, written on each matched claim's timeline and
handed to the follow-up rules that have a ``transaction`` condition. A delivery whose claims
were all duplicates of earlier ones is not checked again.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from handlers.ledger.messages import TransactionReconciliationResult, difference_items, money
from handlers.ledger.outbox import enqueue
from handlers.ledger.reconciliation import Difference, reconcile_transaction
from handlers.ledger.store import LedgerUnit
from handlers.ledger.tables import PaymentReceipt, TransactionResult
from handlers.runtime.message import derive_message_id
from router.messages import ClaimPaymentMessage
from router.redox import TransactionHeader

if TYPE_CHECKING:
    from handlers.ledger.posting import Poster

__all__ = ["check_delivery"]


async def check_delivery(
    unit: LedgerUnit, poster: Poster, message: ClaimPaymentMessage
) -> tuple[Difference, ...]:
    """Check the delivery's transactions if ``message`` was its last claim; their differences."""
    delivery = message.delivery.log_id
    counted = await unit.count_delivery(delivery, message.position.claims_in_batch)
    if counted != message.position.claims_in_batch:
        return ()
    receipts = await unit.delivery_receipts(delivery)
    if all(r.state == "duplicate" for r in receipts):
        return ()
    by_transaction: dict[int, list[PaymentReceipt]] = defaultdict(list)
    for receipt in receipts:
        by_transaction[receipt.transaction_index].append(receipt)
    found: list[Difference] = []
    for index, members in sorted(by_transaction.items()):
        first = members[0]
        header = TransactionHeader(
            id=first.transaction_id,
            total_payment_amount=first.transaction_total,
            credit_or_debit=first.credit_or_debit,
        )
        check = reconcile_transaction(
            header, [r.paid_amount for r in members], tolerance=poster.tolerance
        )
        found.extend(check.differences)
        items = difference_items(check.differences)
        now = poster.now()
        unit.add(
            TransactionResult(
                delivery_id=delivery,
                transaction_index=index,
                transaction_id=first.transaction_id,
                total_amount=first.transaction_total,
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
                transaction_id=first.transaction_id,
                total_payment_amount=first.transaction_total,
                credit_or_debit=first.credit_or_debit,
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
            f"transaction {first.transaction_id or index}: total {money(first.transaction_total)} "
            f"differs from the sum of its {check.claims} claim payments {money(check.payments)}"
        )
        for receipt in members:
            if receipt.state != "applied" or receipt.claim_id is None:
                continue
            claim = await unit.claim(receipt.claim_id)
            unit.event(claim.id, "transaction", text, message_id=receipt.message_id)
            if receipt.message_id == message.message_id:
                source = message
            else:
                source = ClaimPaymentMessage.model_validate_json(receipt.payload)
            await poster.transaction_decisions(unit, claim, source, balanced=False)
    return tuple(found)
