"""Client of Integrex Health's Claim Status API v2 (submit a 276-style inquiry, poll its result).

Flow, as the quick start shows: ``GET /api/health-check`` (no auth); ``POST /api/v2/auth`` with
HTTP Basic client id/secret and a form ``grant_type=client_credentials`` (tokens live an hour);
``POST /api/v2/claim-info`` -> ``{"id": ...}``; ``GET /api/v2/claim-info`` with ``{"id": ...}`` in
a JSON body -> 202 while pending, 200 with ``{"claim-info": [...]}``. Every call carries the
``env`` header (``T`` test data, ``P`` production) from settings.

Errors are the tree in :mod:`handlers.followups.partners.integrex_errors`, re-exported here.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import structlog
from pydantic import ValidationError

from claimflow.settings import IntegrexSettings
from handlers.followups.partners.client import PartnerClient
from handlers.followups.partners.integrex_errors import (
    ERROR_KINDS,
    IntegrexAuthError,
    IntegrexCircuitOpenError,
    IntegrexError,
    IntegrexInquiryUnconfirmedError,
    IntegrexProtocolError,
    IntegrexRateLimitedError,
    IntegrexRequestRejectedError,
    IntegrexResultNotFoundError,
    IntegrexResultPendingError,
    IntegrexServerError,
    IntegrexTimeoutError,
    IntegrexUnavailableError,
)
from handlers.followups.partners.integrex_models import (
    ClaimInfo,
    ClaimInfoResponse,
    ClaimStatusRequest,
)
from handlers.followups.partners.metrics import PartnerMetrics
from handlers.followups.partners.oauth import (
    AccessToken,
    TokenResponseError,
    basic_authorization,
    parse_token_response,
)

__all__ = [
    "ClaimInfo",
    "ClaimStatusRequest",
    "ClaimStatusResult",
    "IntegrexAuthError",
    "IntegrexCircuitOpenError",
    "IntegrexClient",
    "IntegrexError",
    "IntegrexInquiryUnconfirmedError",
    "IntegrexProtocolError",
    "IntegrexRateLimitedError",
    "IntegrexRequestRejectedError",
    "IntegrexResultNotFoundError",
    "IntegrexResultPendingError",
    "IntegrexServerError",
    "IntegrexTimeoutError",
    "IntegrexUnavailableError",
]

log = structlog.get_logger(__name__)

CLAIM_INFO_PATH = "/api/v2/claim-info"


@dataclass(frozen=True)
class ClaimStatusResult:
    request_id: str
    claim_info: list[ClaimInfo]


class IntegrexClient(PartnerClient):
    """One per process: shares one connection pool, token, rate limit and circuit breaker."""

    partner: ClassVar[str] = "integrex"

    def __init__(
        self,
        *,
        settings: IntegrexSettings,
        metrics: PartnerMetrics | None = None,
    ) -> None:
        self._client_id, self._client_secret = self._credentials(settings)
        self._settings = settings
        http = httpx.AsyncClient(
            base_url=settings.base_url,
            headers={"accept": "application/json", "env": settings.env},
            # Connecting fails fast (partner down, or our egress IP not on its allow-list);
            # reading may take the whole per-request timeout while Integrex asks the payer.
            timeout=httpx.Timeout(
                settings.timeout_seconds, connect=settings.connect_timeout_seconds
            ),
            # requests_per_second already caps traffic; a few kept-alive connections spare a TLS
            # handshake per poll, and the cap stops a burst of handlers opening hundreds.
            limits=httpx.Limits(
                max_connections=10, max_keepalive_connections=5, keepalive_expiry=30
            ),
            # Neither partner documents redirects: a 3xx is reported as a protocol error, and our
            # bearer token never follows one.
            follow_redirects=False,
        )
        super().__init__(http=http, settings=settings, errors=ERROR_KINDS, metrics=metrics)

    async def health_check(self) -> bool:
        """Whether Integrex answers its health check with ``success`` (one try, never raises)."""
        try:
            response = await self._connection.send(
                self._http.build_request("GET", "/api/health-check"), operation="health_check"
            )
            return response.status_code == 200 and _json(response).get("status") == "success"
        except IntegrexError:
            return False

    async def submit_claim_status(self, request: ClaimStatusRequest) -> str:
        """POST the inquiry; return Integrex's id for polling its result.

        Every inquiry is billed, and Integrex has no idempotency key: a POST that went out and
        got no answer (timeout, connection lost) is :class:`IntegrexInquiryUnconfirmedError`,
        never sent again. Failures before sending (no connection, token, 429, 5xx) are retried.
        """
        payload = request.to_payload()

        async def attempt() -> str:
            await self._tokens.get()  # a token failure here means nothing was sent
            try:
                response = await self._connection.send_authorized(
                    lambda auth: self._http.build_request(
                        "POST", CLAIM_INFO_PATH, json=payload, headers=auth
                    ),
                    tokens=self._tokens,
                    operation="claim_info.submit",
                )
            except IntegrexTimeoutError as exc:
                raise IntegrexInquiryUnconfirmedError(
                    "claim-info POST sent, no answer in time; not sent again"
                ) from exc
            self._raise_for_status(response, "claim_info.submit")
            request_id = _json(response).get("id")
            if not isinstance(request_id, str) or not request_id:
                raise IntegrexProtocolError("claim-info POST answered without an id")
            return request_id

        request_id = await self._retry(attempt, "claim_info.submit")
        log.info("integrex.claim_status_submitted", integrex_request_id=request_id)
        return request_id

    async def fetch_claim_info(self, request_id: str) -> list[ClaimInfo] | None:
        """One GET of the result: the claim-info entries, or ``None`` while pending (202)."""

        async def attempt() -> list[ClaimInfo] | None:
            response = await self._connection.send_authorized(
                lambda auth: self._http.build_request(
                    "GET", CLAIM_INFO_PATH, json={"id": request_id}, headers=auth
                ),
                tokens=self._tokens,
                operation="claim_info.fetch",
            )
            if response.status_code == 202:
                return None
            self._raise_for_status(response, "claim_info.fetch")
            return _parse_claim_info(response)

        return await self._retry(attempt, "claim_info.fetch")

    async def wait_for_claim_info(
        self, request_id: str, *, deadline_seconds: float | None = None
    ) -> list[ClaimInfo]:
        """Poll with growing intervals until the result is ready or the deadline passes."""
        budget = (
            self._settings.poll_deadline_seconds if deadline_seconds is None else deadline_seconds
        )
        deadline = time.monotonic() + budget
        interval = self._settings.poll_interval_seconds
        polls = 0
        while True:
            result = await self.fetch_claim_info(request_id)
            polls += 1
            if result is not None:
                log.info("integrex.claim_info_ready", integrex_request_id=request_id, polls=polls)
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning(
                    "integrex.claim_info_pending", integrex_request_id=request_id, polls=polls
                )
                raise IntegrexResultPendingError(
                    f"claim-info {request_id} still pending after {polls} polls",
                    request_id=request_id,
                )
            await asyncio.sleep(min(interval, remaining))
            interval = min(interval * 2, self._settings.poll_max_interval_seconds)

    async def check_claim_status(
        self, request: ClaimStatusRequest, *, deadline_seconds: float | None = None
    ) -> ClaimStatusResult:
        """Submit, then wait for the result (``IntegrexResultPendingError`` keeps the id).

        A handler that must never lose the id (to resume polling after a crash or another
        error) calls :meth:`submit_claim_status`, records the id, then :meth:`wait_for_claim_info`.
        """
        request_id = await self.submit_claim_status(request)
        claim_info = await self.wait_for_claim_info(request_id, deadline_seconds=deadline_seconds)
        return ClaimStatusResult(request_id=request_id, claim_info=claim_info)

    async def _fetch_token(self) -> AccessToken:
        request = self._http.build_request(
            "POST",
            "/api/v2/auth",
            data={"grant_type": "client_credentials"},
            headers=basic_authorization(self._client_id, self._client_secret),
        )
        try:
            response = await self._connection.send(request, operation="auth")
        except IntegrexTimeoutError as exc:
            # No token: nothing was sent with it, so the call may simply be tried again.
            raise IntegrexUnavailableError(f"Integrex token endpoint: no answer ({exc})") from None
        if response.status_code in (400, 401, 403):
            raise IntegrexAuthError(
                f"Integrex refused our client credentials ({response.status_code})",
                status_code=response.status_code,
            )
        self._connection.raise_for_status(response, operation="auth")
        try:
            token = parse_token_response(_json(response))
        except TokenResponseError as exc:
            raise IntegrexProtocolError(f"Integrex auth: {exc}") from None
        self._metrics.token_fetches.labels(partner=self.partner).inc()
        log.info("partner.token_fetched", partner=self.partner, expires_in=token.expires_in)
        return token

    def _raise_for_status(self, response: httpx.Response, operation: str) -> None:
        self._connection.raise_for_status(response, operation=operation)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise IntegrexProtocolError(f"answer ({response.status_code}) is not JSON") from None
    if not isinstance(body, dict):
        raise IntegrexProtocolError(f"answer ({response.status_code}) is not a JSON object")
    return body


def _parse_claim_info(response: httpx.Response) -> list[ClaimInfo]:
    try:
        return ClaimInfoResponse.model_validate(_json(response)).claim_info
    except ValidationError as exc:
        # Field paths only: the values are PHI.
        where = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
        raise IntegrexProtocolError(f"claim-info result invalid at {', '.join(where)}") from None
