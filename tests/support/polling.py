"""Waiting for a condition in a test: it must come to hold, however long the machine takes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["eventually"]


async def eventually(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    within: float = 60.0,
    interval: float,
) -> None:
    """Wait until ``condition`` holds; fail (not by timing, by never holding) after ``within``."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        await asyncio.sleep(interval)
    raise AssertionError("condition never held")
