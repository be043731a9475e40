"""Backoff, retry budget, circuit breaker, rate limiter and token cache, on a fake clock."""

from __future__ import annotations

import asyncio
import random
from typing import ClassVar

import pytest
from pydantic import SecretStr

from handlers.followups.partners.errors import PartnerError
from handlers.followups.partners.oauth import (
    AccessToken,
    TokenCache,
    TokenResponseError,
    parse_token_response,
)
from handlers.followups.partners.resilience import (
    Backoff,
    CircuitBreaker,
    CircuitState,
    RateLimiter,
    retry,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class FlakyError(PartnerError):
    retriable: ClassVar[bool] = True
    retry_now: ClassVar[bool] = True


class BrokenError(PartnerError):
    pass


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible jitter, not cryptography


BACKOFF = Backoff(base_delay=1.0, max_delay=8.0, max_attempts=6, budget=100.0)


def test_backoff_is_full_jitter_under_a_capped_exponential_ceiling() -> None:
    rng = seeded(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (60, 8.0)]:
        delays = [BACKOFF.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jitter spreads over the whole range


async def test_retry_retries_retriable_errors_then_returns() -> None:
    clock, calls = FakeClock(), []

    async def call() -> str:
        calls.append(clock())
        if len(calls) < 3:
            raise FlakyError("down")
        return "ok"

    result = await retry(
        call, backoff=BACKOFF, operation="t", rng=seeded(1), clock=clock, sleep=clock.sleep
    )
    assert result == "ok"
    assert len(calls) == 3
    assert len(clock.slept) == 2


async def test_retry_never_retries_permanent_errors() -> None:
    clock, calls = FakeClock(), []

    async def call() -> str:
        calls.append(1)
        raise BrokenError("bad request")

    with pytest.raises(BrokenError):
        await retry(
            call,
            backoff=BACKOFF,
            operation="t",
            rng=seeded(1),
            clock=clock,
            sleep=clock.sleep,
        )
    assert calls == [1]


async def test_retry_stops_at_max_attempts_and_reraises_the_last_error() -> None:
    clock, calls = FakeClock(), []

    async def call() -> str:
        calls.append(1)
        raise FlakyError(f"down {len(calls)}")

    with pytest.raises(FlakyError, match="down 6"):
        await retry(
            call,
            backoff=BACKOFF,
            operation="t",
            rng=seeded(1),
            clock=clock,
            sleep=clock.sleep,
        )
    assert len(calls) == 6


async def test_retry_stops_when_the_next_wait_would_exceed_the_budget() -> None:
    clock = FakeClock()
    backoff = Backoff(base_delay=10.0, max_delay=10.0, max_attempts=100, budget=25.0)

    async def call() -> str:
        raise FlakyError("down", retry_after=10.0)

    with pytest.raises(FlakyError):
        await retry(
            call,
            backoff=backoff,
            operation="t",
            rng=seeded(1),
            clock=clock,
            sleep=clock.sleep,
        )
    assert clock.slept == [10.0, 10.0]


def test_breaker_opens_after_threshold_and_half_opens_after_reset() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_seconds=30, clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert breaker.allow() is False

    clock.now += 30
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow() is True  # one trial
    assert breaker.allow() is False  # and only one
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN  # a failed trial re-opens at once

    clock.now += 30
    assert breaker.allow() is True
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED


def test_breaker_gives_up_on_a_trial_that_never_reported() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow() is True
    assert breaker.allow() is False
    clock.now += 10
    assert breaker.allow() is True


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=10, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED


async def test_rate_limiter_spaces_requests_to_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=5, clock=clock, sleep=clock.sleep)
    start = clock()
    for _ in range(11):
        await limiter.acquire()
    assert clock() - start == pytest.approx(2.0)


async def test_token_cache_fetches_once_for_concurrent_callers() -> None:
    fetches = []

    async def fetch() -> AccessToken:
        fetches.append(1)
        await asyncio.sleep(0)
        return AccessToken(value=SecretStr(f"token-{len(fetches)}"), expires_in=300)

    cache = TokenCache(fetch=fetch, refresh_skew=30)
    tokens = await asyncio.gather(*(cache.get() for _ in range(10)))
    assert {t.get_secret_value() for t in tokens} == {"token-1"}
    assert len(fetches) == 1


async def test_token_cache_refreshes_skew_seconds_before_expiry() -> None:
    clock, count = FakeClock(), [0]

    async def fetch() -> AccessToken:
        count[0] += 1
        return AccessToken(value=SecretStr(f"token-{count[0]}"), expires_in=300)

    cache = TokenCache(fetch=fetch, refresh_skew=30, clock=clock)
    assert (await cache.get()).get_secret_value() == "token-1"
    clock.now += 269
    assert (await cache.get()).get_secret_value() == "token-1"
    clock.now += 1
    assert (await cache.get()).get_secret_value() == "token-2"


async def test_invalidate_drops_only_the_token_that_was_refused() -> None:
    count = [0]

    async def fetch() -> AccessToken:
        count[0] += 1
        return AccessToken(value=SecretStr(f"token-{count[0]}"), expires_in=300)

    cache = TokenCache(fetch=fetch, refresh_skew=30)
    first = await cache.get()
    cache.invalidate(first)
    second = await cache.get()
    cache.invalidate(first)  # a late 401 for the old token must not drop the new one
    assert (await cache.get()).get_secret_value() == second.get_secret_value() == "token-2"


def test_malformed_token_response_names_fields_not_values() -> None:
    with pytest.raises(TokenResponseError) as caught:
        parse_token_response({"access_token": "tok-SECRET-value", "expires_in": "soon"})
    assert "expires_in" in str(caught.value)
    assert "SECRET" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True
