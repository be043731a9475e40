"""When a follow-up's timer is due next: polls back off, failures back off, a 429 says when.

One message has one retry budget across every layer: the partner clients make a single attempt
per call (``retry_max_attempts`` is 1 for the poller), the handler never waits, and the timer is
the only thing that tries again -- until the command's deadline (``poll_deadline_seconds`` after
it arrived) or its ``max_failed_calls``, whichever comes first.
"""

from __future__ import annotations

import random

from handlers.followups.partners.errors import PartnerError

__all__ = ["failure_delay", "poll_delay"]

_rng = random.Random()  # noqa: S311 - jitter, not cryptography


def poll_delay(polls: int, *, first: float, longest: float) -> float:
    """The wait before poll number ``polls + 1``: doubling from ``first`` up to ``longest``."""
    return float(min(longest, first * 2 ** min(polls, 32)))


def failure_delay(failed_calls: int, error: PartnerError, *, base: float, longest: float) -> float:
    """The wait after failed call number ``failed_calls`` (1-based), full jitter.

    A partner's Retry-After is honoured as a floor (never shortened; capped at an hour so a
    silly value cannot park a request for good).
    """
    delay = _rng.uniform(0, min(longest, base * 2 ** min(max(failed_calls - 1, 0), 32)))
    if error.retry_after is not None:
        delay = max(delay, min(error.retry_after, 3600.0))
    return delay
