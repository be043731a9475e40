"""The ledger's metrics: payments counted by what the ledger did, and the review queue's size."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.ledger.metrics import LedgerMetrics
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import ParkedPayment


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def _parked(message_id: str, reason: str, *, resolved: bool = False) -> ParkedPayment:
    return ParkedPayment(
        message_id=message_id,
        reason=reason,
        submission_key="k",
        control_key="k",
        candidates=[],
        payload="{}",
        parked_at=datetime.now(UTC),
        resolved_at=datetime.now(UTC) if resolved else None,
    )


async def test_the_review_queue_gauge_counts_unresolved_parked_payments_by_reason(
    ledger_engine: AsyncEngine,
) -> None:
    registry = CollectorRegistry()
    metrics = LedgerMetrics(registry=registry)
    assert _value(registry, "claimflow_ledger_parked_payments", reason="needs_review") == 0
    async with ClaimLedger(ledger_engine).unit() as unit:
        for row in (
            _parked("p-1", "needs_review"),
            _parked("p-2", "needs_review"),
            _parked("p-3", "unmatched"),
            _parked("p-4", "needs_review", resolved=True),
        ):
            unit.add(row)
    await metrics.refresh_parked(ledger_engine)
    assert _value(registry, "claimflow_ledger_parked_payments", reason="needs_review") == 2
    assert _value(registry, "claimflow_ledger_parked_payments", reason="unmatched") == 1


def test_payments_are_counted_by_state_and_835_outcome_and_other_messages_not() -> None:
    registry = CollectorRegistry()
    metrics = LedgerMetrics(registry=registry)
    metrics.posted({"kind": "claim_payment", "state": "applied", "outcome": "partially_paid"})
    metrics.posted({"kind": "claim_payment", "state": "parked", "outcome": None})
    metrics.posted({"kind": "claim_submission", "claim_id": 7})
    name = "claimflow_ledger_payments_total"
    assert _value(registry, name, state="applied", outcome="partially_paid") == 1
    assert _value(registry, name, state="parked", outcome="none") == 1
    assert sum(s.value for m in registry.collect() for s in m.samples if s.name == name) == 2
