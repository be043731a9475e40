"""How a partner client behaves when the partner is slow, throttling or down.

Three partner-neutral pieces, each owned by one client instance (one per partner per process):

* :class:`Backoff` and :func:`retry` -- capped exponential backoff with full jitter, within a
  number of attempts and a time budget; the decision to retry is the exception's
  (:attr:`PartnerError.retry_now`), never a status-code check here.
* :class:`CircuitBreaker` -- after N consecutive partner-down failures, refuse calls for a while
  so that a partner that is down is not hammered; then let one trial call through (half-open).
* :class:`RateLimiter` -- a token bucket that spaces requests to the partner's plan rate.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog

from handlers.followups.partners.errors import PartnerError

__all__ = ["Backoff", "CircuitBreaker", "CircuitState", "RateLimiter", "retry"]

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """Delays of ``uniform(0, min(max_delay, base_delay * 2**(attempt - 1)))`` ("full jitter")."""

    base_delay: float
    max_delay: float
    max_attempts: int
    budget: float

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** min(attempt - 1, 32))
        return rng.uniform(0, ceiling)


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    operation: str,
    rng: random.Random,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> T:
    """Await ``call()`` until it succeeds or raises an error not worth retrying now.

    The last error is re-raised when attempts or the time budget run out, so the caller still
    sees its type (and ``retriable``) and can retry later through a retry topic.
    """
    started = clock()
    attempt = 1
    while True:
        try:
            return await call()
        except PartnerError as exc:
            if not exc.retry_now or attempt >= backoff.max_attempts:
                raise
            delay = backoff.delay(attempt, rng)
            if exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, backoff.max_delay))
            if clock() - started + delay > backoff.budget:
                raise
            log.info(
                "partner.retry",
                operation=operation,
                attempt=attempt,
                error=type(exc).__name__,
                status_code=exc.status_code,
                delay_seconds=round(delay, 3),
            )
            await sleep(delay)
            attempt += 1


class CircuitState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts consecutive partner-down failures; open means "do not call, fail fast"."""

    def __init__(
        self, *, failure_threshold: int, reset_seconds: float, clock: Clock = time.monotonic
    ) -> None:
        self._threshold = failure_threshold
        self._reset_seconds = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self._trial_started = 0.0

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at >= self._reset_seconds:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def allow(self) -> bool:
        """Whether a request may go out now; in half-open state only one trial at a time.

        A trial that never reported back (its caller was cancelled) is given up after another
        ``reset_seconds``, so the circuit cannot stay open for good.
        """
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        now = self._clock()
        trial_lost = now - self._trial_started >= self._reset_seconds
        if state is CircuitState.HALF_OPEN and (not self._trial_in_flight or trial_lost):
            self._trial_in_flight = True
            self._trial_started = now
            return True
        return False

    def record_success(self) -> None:
        """The partner answered (any answer that is not "I am down"): close the circuit."""
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        """The partner is down or throttling (5xx, 429, timeout, no connection)."""
        self._failures += 1
        if self._trial_in_flight or self._failures >= self._threshold:
            self._opened_at = self._clock()
        self._trial_in_flight = False


class RateLimiter:
    """Token bucket: at most ``rate`` requests per second on average, bursts up to ``burst``."""

    def __init__(
        self,
        *,
        rate: float,
        burst: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = burst
        self._updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more request fits under the rate; callers are served in order."""
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await self._sleep((1 - self._tokens) / self._rate)
