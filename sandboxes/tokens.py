"""Bearer tokens a sandbox hands out: random, expiring, revocable (to play a stale token)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from starlette.requests import Request

__all__ = ["TokenIssuer"]


class TokenIssuer:
    def __init__(self, *, lifetime_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.lifetime_seconds = lifetime_seconds
        self._clock = clock
        self._expiry: dict[str, float] = {}

    @property
    def issued(self) -> int:
        """How many tokens were handed out since the start or the last reset."""
        return len(self._expiry)

    @property
    def issued_values(self) -> tuple[str, ...]:
        """Every token handed out (tests search logs and errors for them)."""
        return tuple(self._expiry)

    def issue(self) -> str:
        token = secrets.token_urlsafe(32)
        self._expiry[token] = self._clock() + self.lifetime_seconds
        return token

    def presented(self, request: Request) -> str | None:
        """The bearer token of ``request``, if it carries one."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None

    def is_valid(self, token: str | None) -> bool:
        return token is not None and self._clock() < self._expiry.get(token, 0.0)

    def revoke(self, token: str | None) -> None:
        """Make ``token`` stale now (it stays in ``issued_values``)."""
        if token is not None and token in self._expiry:
            self._expiry[token] = 0.0

    def reset(self) -> None:
        self._expiry.clear()
