"""A partner's request budget: per second in the process, per UTC day across replicas."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from handlers.followups.partners.budget import RequestBudget
from handlers.followups.partners.metrics import PartnerMetrics


class DayCounter:
    """The shared daily count, in memory (the real one is a database table)."""

    def __init__(self) -> None:
        self.used: dict[tuple[str, date], int] = {}

    async def take(self, partner: str, day: date, limit: int) -> int | None:
        used = self.used.get((partner, day), 0)
        if used >= limit:
            return None
        self.used[partner, day] = used + 1
        return used + 1


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_callers_share_one_request_a_second() -> None:
    clock = Clock()
    budget = RequestBudget(
        partner="availity",
        per_second=1,
        per_day=None,
        counter=DayCounter(),
        metrics=PartnerMetrics(),
        clock=clock,
    )
    waits = await asyncio.gather(*(budget.reserve() for _ in range(5)))
    assert sorted(waits)[0] == 0
    assert all(w > 0 for w in sorted(waits)[1:]), "one request a second, however many ask"
    clock.now = 1.0
    assert await budget.reserve() == 0


async def test_at_the_daily_limit_requests_wait_for_the_next_utc_day_and_metrics_say_so() -> None:
    clock = Clock()
    metrics = PartnerMetrics()
    moment = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    budget = RequestBudget(
        partner="availity",
        per_second=1000,
        per_day=2,
        counter=DayCounter(),
        metrics=metrics,
        clock=clock,
        today=lambda: moment,
    )
    for _ in range(2):
        clock.now += 1
        assert await budget.reserve() == 0
    clock.now += 1
    wait = await budget.reserve()

    assert 3600 <= wait <= 3602, "until 00:00 UTC"
    remaining = metrics.registry.get_sample_value(
        "claimflow_partner_budget_remaining", {"partner": "availity", "window": "day"}
    )
    limit = metrics.registry.get_sample_value(
        "claimflow_partner_budget_limit", {"partner": "availity", "window": "day"}
    )
    assert (remaining, limit) == (0, 2)
