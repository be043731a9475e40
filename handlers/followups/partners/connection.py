"""One partner's HTTP connection: rate limit, circuit breaker, metrics and bearer tokens.

A client builds an :class:`httpx.Request` and hands it to :meth:`PartnerConnection.send`, which
waits for the rate limiter, refuses fast while the circuit is open, translates httpx's transport
errors into the partner's own exception types (:class:`ErrorKinds`) and records the outcome.
:meth:`PartnerConnection.raise_for_status` maps the status codes every partner shares to the
partner's types; a client checks its own special answers (202 pending, parameterViolations) first.
5xx and 429 count as failures for the circuit breaker.

:meth:`PartnerConnection.send_authorized` adds the bearer token and, on a 401, refreshes the token
once and sends again; a second 401 is returned for the client to report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import structlog
from pydantic import SecretStr

from handlers.followups.partners.errors import PartnerError
from handlers.followups.partners.metrics import PartnerMetrics
from handlers.followups.partners.oauth import TokenCache
from handlers.followups.partners.resilience import CircuitBreaker, RateLimiter

__all__ = ["ErrorKinds", "PartnerConnection"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True)
class ErrorKinds:
    """The partner's own exception types for failures every partner shares."""

    #: Sent, but no complete answer (timeout, connection lost): the partner may have acted.
    timeout: type[PartnerError]
    #: Never reached the partner (connection refused, DNS, connect timeout, pool exhausted).
    unreachable: type[PartnerError]
    #: Not sent: the circuit breaker is open.
    circuit_open: type[PartnerError]
    #: 401/403 after a fresh token, or credentials refused.
    auth: type[PartnerError]
    #: 429.
    rate_limited: type[PartnerError]
    #: 5xx.
    server: type[PartnerError]
    #: 404.
    not_found: type[PartnerError]
    #: Any other 4xx.
    rejected: type[PartnerError]
    #: 1xx/3xx, or an answer not shaped as documented.
    protocol: type[PartnerError]


class PartnerConnection:
    def __init__(
        self,
        *,
        partner: str,
        http: httpx.AsyncClient,
        errors: ErrorKinds,
        breaker: CircuitBreaker,
        limiter: RateLimiter,
        metrics: PartnerMetrics,
    ) -> None:
        self.partner = partner
        self._http = http
        self._errors = errors
        self._breaker = breaker
        self._limiter = limiter
        self._metrics = metrics

    async def send(self, request: httpx.Request, *, operation: str) -> httpx.Response:
        """Send one request; raise the partner's timeout/unreachable/circuit-open errors."""
        if not self._breaker.allow():
            self._metrics.circuit_rejections.labels(partner=self.partner).inc()
            raise self._errors.circuit_open(f"{self.partner} circuit is open; not calling")
        await self._limiter.acquire()
        started = time.perf_counter()
        try:
            response = await self._http.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self._failed(operation, "unreachable", started)
            raise self._errors.unreachable(
                f"{self.partner} {operation}: could not connect ({type(exc).__name__})"
            ) from exc
        except httpx.TimeoutException as exc:
            self._failed(operation, "timeout", started)
            raise self._errors.timeout(
                f"{self.partner} {operation}: no answer in time ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            # Read/write errors and dropped connections come after the request went out.
            self._failed(operation, "connection_lost", started)
            raise self._errors.timeout(
                f"{self.partner} {operation}: connection lost ({type(exc).__name__})"
            ) from exc
        elapsed = time.perf_counter() - started
        if response.status_code >= 500 or response.status_code == 429:
            # A 429 is the partner saying "too much": it counts against the circuit like a
            # failure, so a throttling partner is given room instead of being hammered.
            self._breaker.record_failure()
        else:
            self._breaker.record_success()
        self._metrics.observe(
            partner=self.partner,
            operation=operation,
            outcome=str(response.status_code),
            seconds=elapsed,
        )
        log.debug(
            "partner.response",
            partner=self.partner,
            operation=operation,
            status_code=response.status_code,
            elapsed_ms=round(elapsed * 1000, 1),
        )
        return response

    async def send_authorized(
        self,
        build: Callable[[dict[str, str]], httpx.Request],
        *,
        tokens: TokenCache,
        operation: str,
    ) -> httpx.Response:
        """Send with a bearer token; after a 401 refresh the token once and send again."""
        token = await tokens.get()
        response = await self.send(build(_bearer(token)), operation=operation)
        if response.status_code != 401:
            return response
        log.info("partner.token_rejected", partner=self.partner, operation=operation)
        tokens.invalidate(token)
        token = await tokens.get()
        response = await self.send(build(_bearer(token)), operation=operation)
        if response.status_code == 401:
            tokens.invalidate(token)  # start afresh next time; this call reports the 401
        return response

    def raise_for_status(self, response: httpx.Response, *, operation: str) -> None:
        """Raise the partner's error for a non-2xx answer (the body is never quoted: PHI)."""
        status = response.status_code
        if 200 <= status < 300:
            return
        where = f"{self.partner} {operation} answered {status}"
        kind: type[PartnerError]
        if status in (401, 403):
            kind = self._errors.auth
        elif status == 429:
            kind = self._errors.rate_limited
        elif status >= 500:
            kind = self._errors.server
        elif status == 404:
            kind = self._errors.not_found
        elif 400 <= status < 500:
            kind = self._errors.rejected
        else:
            kind = self._errors.protocol
        raise kind(where, status_code=status, retry_after=_retry_after(response))

    def _failed(self, operation: str, outcome: str, started: float) -> None:
        self._breaker.record_failure()
        self._metrics.observe(
            partner=self.partner,
            operation=operation,
            outcome=outcome,
            seconds=time.perf_counter() - started,
        )


def _bearer(token: SecretStr) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.get_secret_value()}"}


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds when given as a number (the HTTP-date form is ignored)."""
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
