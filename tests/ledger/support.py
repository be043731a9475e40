"""Running corpus cases through the ledger, as the handler does: one unit per message."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from handlers.ledger.posting import Poster, PostingResult
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import Reconciliation, TransactionResult
from router.messages import ClaimPaymentMessage, split_payment_batch
from router.redox import PaymentBatch
from tests.ledger.corpus import Batch, Case, Claims


def payment_messages(
    payload: dict[str, Any], log_id: str | None = None
) -> list[ClaimPaymentMessage]:
    batch = PaymentBatch.model_validate(payload)
    log = log_id or batch.meta.log_id or "no-log-id"
    return [
        ClaimPaymentMessage.model_validate_json(m.value)
        for m in split_payment_batch(batch, log_id=log)
    ]


async def run_steps(ledger: ClaimLedger, poster: Poster, case: Case) -> list[PostingResult]:
    results: list[PostingResult] = []
    for step in case.steps:
        if isinstance(step, Claims):
            async with ledger.unit() as unit:
                for new in step.claims:
                    _, posted = await poster.add_claim(unit, new, source="corpus")
                    results.extend(posted)
        elif isinstance(step, Batch):
            for message in payment_messages(step.payload, step.log_id):
                async with ledger.unit() as unit:
                    results.append(await poster.post_payment(unit, message))
    return results


async def transaction_checks(ledger: ClaimLedger) -> list[str | None]:
    async with ledger.unit() as unit:
        rows = await unit.session.scalars(select(TransactionResult).order_by(TransactionResult.id))
        return [None if row.balanced else str(row.differences[0]["difference"]) for row in rows]


async def reconciliations(ledger: ClaimLedger) -> list[Reconciliation]:
    async with ledger.unit() as unit:
        rows = await unit.session.scalars(select(Reconciliation).order_by(Reconciliation.id))
        return list(rows)
