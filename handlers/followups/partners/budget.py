"""A partner's request budget: per second in this process, per UTC day across every replica.

Partners sell plans with two limits (Availity's Demo plan: 5 requests a second and 500 a day;
over either, 429). The follow-up poller asks :meth:`RequestBudget.reserve` before each partner
call: ``0`` means go (one request is counted), a positive number is how many seconds to wait.
A request at the budget is not dropped and not sent: its timer is pushed by that wait (to the
next free slot in the second, or to the next UTC midnight for the day).

The day's count lives in the database (:class:`DailyCounter`), so replicas share one budget and a
restart does not reset it. ``claimflow_partner_budget_remaining`` exposes what is left;
k8s/base/alerts.yaml fires before it runs out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from handlers.followups.partners.metrics import PartnerMetrics

__all__ = ["DailyCounter", "RequestBudget"]


class DailyCounter(Protocol):
    """Shared per-day request counts (``handlers.followups.state.budgets``)."""

    async def take(self, partner: str, day: date, limit: int) -> int | None:
        """Count one request if ``limit`` allows; the count after it, or ``None`` if full."""
        ...


class RequestBudget:
    def __init__(
        self,
        *,
        partner: str,
        per_second: float,
        per_day: int | None,
        counter: DailyCounter,
        metrics: PartnerMetrics,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.partner = partner
        self._rate = per_second
        self._per_day = per_day
        self._counter = counter
        self._metrics = metrics
        self._clock = clock
        self._now = today
        self._tokens = 1.0
        self._updated = clock()
        metrics.budget_limit.labels(partner=partner, window="second").set(per_second)
        if per_day is not None:
            metrics.budget_limit.labels(partner=partner, window="day").set(per_day)
            metrics.budget_remaining.labels(partner=partner, window="day").set(per_day)

    async def reserve(self) -> float:
        """Seconds to wait before the next request (``0``: go; one request is counted)."""
        now = self._clock()
        self._tokens = min(1.0, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens < 1.0:
            self._metrics.budget_waits.labels(partner=self.partner, window="second").inc()
            return (1.0 - self._tokens) / self._rate
        self._tokens -= 1.0  # taken before the await, so concurrent callers see it
        if self._per_day is not None:
            moment = self._now()
            used = await self._counter.take(self.partner, moment.date(), self._per_day)
            remaining = self._metrics.budget_remaining.labels(partner=self.partner, window="day")
            if used is None:
                self._tokens += 1.0  # nothing is sent: give the second's slot back
                remaining.set(0)
                self._metrics.budget_waits.labels(partner=self.partner, window="day").inc()
                midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time())
                return (midnight.replace(tzinfo=UTC) - moment).total_seconds() + 1.0
            remaining.set(self._per_day - used)
        return 0.0
