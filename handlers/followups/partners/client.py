"""What every partner client shares: resilience wiring from its settings group, and its lifetime.

A client validates its credentials, builds its own :class:`httpx.AsyncClient` (timeouts and
limits are the partner's, with the reason beside them) and hands it to
:class:`PartnerClient`, which wires the :class:`PartnerConnection` (circuit breaker, rate limiter,
metrics), the :class:`TokenCache` around the client's ``_fetch_token`` and the retry
:class:`Backoff`, and closes the pool on ``aclose`` or leaving ``async with``.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import ClassVar, Protocol, Self, TypeVar

import httpx
from pydantic import SecretStr

from claimflow.settings import MissingSecretError
from handlers.followups.partners.connection import ErrorKinds, PartnerConnection
from handlers.followups.partners.metrics import PartnerMetrics
from handlers.followups.partners.oauth import AccessToken, TokenCache
from handlers.followups.partners.resilience import Backoff, CircuitBreaker, RateLimiter, retry

__all__ = ["PartnerClient", "ResilienceSettings"]

T = TypeVar("T")


class ResilienceSettings(Protocol):
    """The fields of a partner's settings group that the shared wiring reads."""

    @property
    def requests_per_second(self) -> float: ...
    @property
    def token_refresh_skew_seconds(self) -> float: ...
    @property
    def retry_max_attempts(self) -> int: ...
    @property
    def retry_budget_seconds(self) -> float: ...
    @property
    def backoff_base_seconds(self) -> float: ...
    @property
    def backoff_max_seconds(self) -> float: ...
    @property
    def circuit_failure_threshold(self) -> int: ...
    @property
    def circuit_reset_seconds(self) -> float: ...


class Credentials(Protocol):
    """The OAuth2 client credentials a partner's settings group carries."""

    @property
    def client_id(self) -> str | None: ...

    @property
    def client_secret(self) -> SecretStr | None: ...


class PartnerClient:
    """One per partner per process: one connection pool, token, rate limit and circuit breaker."""

    partner: ClassVar[str]

    @classmethod
    def _credentials(cls, settings: Credentials) -> tuple[str, SecretStr]:
        """The client id and secret, or stop start-up naming the missing one's variable."""
        prefix = f"CLAIMFLOW_{cls.partner.upper()}__"
        if not settings.client_id:
            raise MissingSecretError(f"{prefix}CLIENT_ID")
        secret = settings.client_secret
        if secret is None or not secret.get_secret_value():
            raise MissingSecretError(f"{prefix}CLIENT_SECRET")
        return settings.client_id, secret

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        settings: ResilienceSettings,
        errors: ErrorKinds,
        metrics: PartnerMetrics | None,
    ) -> None:
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self._http = http
        self._metrics = metrics if metrics is not None else PartnerMetrics()
        self._connection = PartnerConnection(
            partner=self.partner,
            http=self._http,
            errors=errors,
            breaker=CircuitBreaker(
                failure_threshold=settings.circuit_failure_threshold,
                reset_seconds=settings.circuit_reset_seconds,
            ),
            limiter=RateLimiter(rate=settings.requests_per_second),
            metrics=self._metrics,
        )
        self._tokens = TokenCache(
            fetch=self._fetch_token, refresh_skew=settings.token_refresh_skew_seconds
        )
        self._backoff = Backoff(
            base_delay=settings.backoff_base_seconds,
            max_delay=settings.backoff_max_seconds,
            max_attempts=settings.retry_max_attempts,
            budget=settings.retry_budget_seconds,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _fetch_token(self) -> AccessToken:
        """Get a new access token from the partner (each client knows its own token call)."""
        raise NotImplementedError

    async def _retry(self, attempt: Callable[[], Awaitable[T]], operation: str) -> T:
        return await retry(attempt, backoff=self._backoff, operation=operation, rng=self._rng)
