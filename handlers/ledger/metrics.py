"""The ledger's Prometheus metrics: what it decided about each payment, and what waits for people.

``claimflow_ledger_payments_total{state,outcome}`` counts claim payments as posted (after the
commit): ``state`` is what the ledger did (``applied``, ``recorded``, ``review``, ``parked``,
``duplicate``, ``redelivered``), ``outcome`` the 835 outcome it recognised (``paid_in_full``,
``denied``, ``unmatched``, ``needs_review``, ...; ``none`` when there is none).
``claimflow_ledger_parked_payments{reason}`` is the review queue: unresolved payments waiting
for a person (``needs_review``, holds) or for their claim (``unmatched``), refreshed by the
handler every ``REFRESH_SECONDS``. Labels are closed sets; no claim number or payment value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.ledger.tables import ParkedPayment

__all__ = ["REFRESH_SECONDS", "LedgerMetrics"]

REFRESH_SECONDS = 15.0


class LedgerMetrics:
    """The ledger handler's metrics on the process's registry (a private one without it)."""

    def __init__(self, *, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.payments = Counter(
            "claimflow_ledger_payments",
            "Claim payments posted, by what the ledger did (state) and the 835 outcome.",
            ["state", "outcome"],
            registry=self.registry,
        )
        self.parked = Gauge(
            "claimflow_ledger_parked_payments",
            "Unresolved parked payments (the review queue), by reason.",
            ["reason"],
            registry=self.registry,
        )
        self._reasons: set[str] = {"needs_review", "unmatched"}
        for reason in self._reasons:  # zero, not "no data", before the first refresh
            self.parked.labels(reason).set(0)

    def posted(self, fields: Mapping[str, Any]) -> None:
        """Count one handled message, from the fields its log line carries."""
        if fields.get("kind") != "claim_payment":
            return
        state = str(fields.get("state") or "none")
        self.payments.labels(state, str(fields.get("outcome") or "none")).inc()

    async def refresh_parked(self, engine: AsyncEngine) -> None:
        """Read the open parked payments by reason (one GROUP BY on an indexed table)."""
        query = (
            select(ParkedPayment.reason, func.count())
            .where(ParkedPayment.resolved_at.is_(None))
            .group_by(ParkedPayment.reason)
        )
        async with engine.connect() as connection:
            counts = {str(reason): int(n) for reason, n in (await connection.execute(query)).all()}
        for reason in self._reasons - counts.keys():
            self.parked.labels(reason).set(0)
        for reason, count in counts.items():
            self.parked.labels(reason).set(count)
        self._reasons |= counts.keys()
