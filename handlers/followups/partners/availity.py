"""Client of Availity's Claim Attachments API 1.0.0 (submit an attachment, poll its status).

Tokens: ``POST {token_url}`` with a form body (``grant_type=client_credentials``, client id and
secret, ``scope``); they live five minutes with no refresh token, so the cache fetches a new one
``token_refresh_skew_seconds`` ahead of expiry. Requests are spaced to the plan's rate; a 429 is
backed off on our own schedule (Availity documents no Retry-After). Submissions are validated
locally (:mod:`handlers.followups.partners.availity_submission`) before they are sent.

Availity has no idempotency key. A submission is therefore retried only when it surely did not
arrive (no connection, 401 before a fresh token, 429, 503); a timeout, a dropped connection,
another 5xx or a 2xx without an id is :class:`AvailitySubmissionUnconfirmedError` -- not
retriable, since resubmitting could file the attachment twice; the message must be parked for a
person to reconcile.

Errors are the tree in :mod:`handlers.followups.partners.availity_errors`, re-exported here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import structlog
from pydantic import ValidationError

from claimflow.settings import AvailitySettings
from handlers.followups.partners.availity_errors import (
    ERROR_KINDS,
    AvailityAuthError,
    AvailityCircuitOpenError,
    AvailityError,
    AvailityInvalidSubmissionError,
    AvailityNotFoundError,
    AvailityParameterViolationsError,
    AvailityProtocolError,
    AvailityRateLimitedError,
    AvailityRequestRejectedError,
    AvailityServerError,
    AvailityStatusPendingError,
    AvailitySubmissionUnconfirmedError,
    AvailityTimeoutError,
    AvailityUnavailableError,
)
from handlers.followups.partners.availity_submission import (
    AttachmentSubmission,
    ParameterViolation,
    violations_of,
)
from handlers.followups.partners.client import PartnerClient
from handlers.followups.partners.metrics import PartnerMetrics
from handlers.followups.partners.oauth import (
    AccessToken,
    TokenResponseError,
    parse_token_response,
)

__all__ = [
    "AttachmentStatus",
    "AttachmentSubmission",
    "AvailityAuthError",
    "AvailityCircuitOpenError",
    "AvailityClient",
    "AvailityError",
    "AvailityInvalidSubmissionError",
    "AvailityNotFoundError",
    "AvailityParameterViolationsError",
    "AvailityProtocolError",
    "AvailityRateLimitedError",
    "AvailityRequestRejectedError",
    "AvailityServerError",
    "AvailityStatusPendingError",
    "AvailitySubmissionUnconfirmedError",
    "AvailityTimeoutError",
    "AvailityUnavailableError",
    "ParameterViolation",
    "availity_error_reasons",
    "parse_submission",
]

log = structlog.get_logger(__name__)

ATTACHMENTS_PATH = "/medical-attachments/ma/external/rest"


def parse_submission(body: Mapping[str, Any]) -> AttachmentSubmission:
    """Validate a JSON body as a submission; :class:`AvailityInvalidSubmissionError` if not."""
    try:
        return AttachmentSubmission.model_validate(body)
    except ValidationError as exc:
        raise AvailityInvalidSubmissionError(violations_of(exc)) from None


@dataclass(frozen=True)
class AttachmentStatus:
    request_id: int
    status: str
    #: One of the configured final statuses; any other value (``SUBMITTED``, the answer right
    #: after the POST, included) is "not yet".
    final: bool
    #: A final status that means the payer has it (``AvailitySettings.accepted_statuses``).
    accepted: bool = False


class AvailityClient(PartnerClient):
    """One per process: shares one connection pool, token, rate limit and circuit breaker."""

    partner: ClassVar[str] = "availity"

    def __init__(
        self,
        *,
        settings: AvailitySettings,
        metrics: PartnerMetrics | None = None,
    ) -> None:
        self._client_id, self._client_secret = self._credentials(settings)
        self._settings = settings
        self._final = settings.final_statuses
        self._accepted = frozenset(status.upper() for status in settings.accepted_statuses)
        http = httpx.AsyncClient(
            base_url=settings.base_url,
            headers={"accept": "application/json"},
            # Connecting fails fast when Availity is down; a submission carries a document of up
            # to max_document_bytes, so writing and reading get the whole per-request timeout.
            timeout=httpx.Timeout(
                settings.timeout_seconds, connect=settings.connect_timeout_seconds
            ),
            # The plan's rate (5/s Demo, 100/s Standard) is enforced by the rate limiter; enough
            # kept-alive connections for that rate, and a hard cap so a burst cannot open more.
            limits=httpx.Limits(
                max_connections=20, max_keepalive_connections=10, keepalive_expiry=30
            ),
            # Neither partner documents redirects: a 3xx is reported as a protocol error, and our
            # bearer token never follows one.
            follow_redirects=False,
        )
        super().__init__(http=http, settings=settings, errors=ERROR_KINDS, metrics=metrics)

    async def submit_attachment(self, submission: AttachmentSubmission) -> int:
        """POST the attachment once; return Availity's request id for status polls."""
        payload = submission.to_payload()
        request_number = submission.request_number

        async def attempt() -> int:
            try:
                response = await self._connection.send_authorized(
                    lambda auth: self._http.build_request(
                        "POST", f"{ATTACHMENTS_PATH}/response", json=payload, headers=auth
                    ),
                    tokens=self._tokens,
                    operation="attachment.submit",
                )
            except AvailityTimeoutError as exc:
                raise AvailitySubmissionUnconfirmedError(
                    f"attachment {request_number}: sent, no answer in time; not resubmitted",
                    request_number=request_number,
                    status_code=None,
                ) from exc
            if response.status_code >= 500 and response.status_code != 503:
                raise AvailitySubmissionUnconfirmedError(
                    f"attachment {request_number}: Availity answered {response.status_code}; "
                    "it may have been filed, not resubmitted",
                    request_number=request_number,
                    status_code=response.status_code,
                )
            self._raise_for_status(response, "attachment.submit")
            try:
                request_id = _json(response).get("id")
            except AvailityProtocolError:
                request_id = None
            if not isinstance(request_id, int) or isinstance(request_id, bool):
                raise AvailitySubmissionUnconfirmedError(
                    f"attachment {request_number}: Availity answered {response.status_code} "
                    "without an id; it may have been filed, not resubmitted",
                    request_number=request_number,
                    status_code=response.status_code,
                )
            return request_id

        request_id = await self._retry(attempt, "attachment.submit")
        log.info(
            "availity.attachment_submitted",
            request_number=request_number,
            availity_request_id=request_id,
        )
        return request_id

    async def attachment_status(self, request_id: int) -> AttachmentStatus:
        """One GET of the attachment's status."""

        async def attempt() -> AttachmentStatus:
            response = await self._connection.send_authorized(
                lambda auth: self._http.build_request(
                    "GET", f"{ATTACHMENTS_PATH}/status/{request_id}", headers=auth
                ),
                tokens=self._tokens,
                operation="attachment.status",
            )
            self._raise_for_status(response, "attachment.status")
            status = _json(response).get("status")
            if not isinstance(status, str) or not status:
                raise AvailityProtocolError("attachment status answered without a status")
            return AttachmentStatus(
                request_id=request_id,
                status=status,
                final=status.upper() in self._final,
                accepted=status.upper() in self._accepted,
            )

        return await self._retry(attempt, "attachment.status")

    async def wait_for_final_status(
        self, request_id: int, *, deadline_seconds: float | None = None
    ) -> AttachmentStatus:
        """Poll with growing intervals until a final status or the deadline."""
        budget = (
            self._settings.poll_deadline_seconds if deadline_seconds is None else deadline_seconds
        )
        deadline = time.monotonic() + budget
        interval = self._settings.poll_interval_seconds
        polls = 0
        while True:
            status = await self.attachment_status(request_id)
            polls += 1
            if status.final:
                log.info(
                    "availity.attachment_final",
                    availity_request_id=request_id,
                    status=status.status,
                    polls=polls,
                )
                return status
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning(
                    "availity.attachment_pending",
                    availity_request_id=request_id,
                    status=status.status,
                    polls=polls,
                )
                raise AvailityStatusPendingError(
                    f"attachment {request_id} not final after {polls} polls ({status.status})",
                    request_id=request_id,
                    last_status=status.status,
                )
            await asyncio.sleep(min(interval, remaining))
            interval = min(interval * 2, self._settings.poll_max_interval_seconds)

    async def _fetch_token(self) -> AccessToken:
        request = self._http.build_request(
            "POST",
            self._settings.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret.get_secret_value(),
                "scope": self._settings.scope,
            },
        )
        try:
            response = await self._connection.send(request, operation="token")
        except AvailityTimeoutError as exc:
            # No token: nothing was sent with it, so the call may simply be tried again.
            raise AvailityUnavailableError(f"Availity token endpoint: no answer ({exc})") from None
        if response.status_code in (400, 401, 403):
            raise AvailityAuthError(
                f"Availity refused our client credentials ({response.status_code})",
                status_code=response.status_code,
            )
        self._raise_for_status(response, "token")
        try:
            token = parse_token_response(_json(response))
        except TokenResponseError as exc:
            raise AvailityProtocolError(f"Availity token: {exc}") from None
        self._metrics.token_fetches.labels(partner=self.partner).inc()
        log.info("partner.token_fetched", partner=self.partner, expires_in=token.expires_in)
        return token

    def _raise_for_status(self, response: httpx.Response, operation: str) -> None:
        if 400 <= response.status_code < 500 and response.status_code != 429:
            violations = _parameter_violations(response)
            if violations:
                raise AvailityParameterViolationsError(violations, status_code=response.status_code)
        try:
            self._connection.raise_for_status(response, operation=operation)
        except AvailityError as exc:
            exc.reasons = availity_error_reasons(response)
            raise


def availity_error_reasons(response: httpx.Response) -> tuple[str, ...]:
    """Availity's general error body as ``"path: message"`` lines, for the claim's timeline.

    The body is ``statusCode``, ``reasonCode``, ``userMessage``, ``developerMessage`` and
    ``errors[]`` (``code``, ``errorMessage``, ``field``, ``index``). Values are never echoed:
    the user message and each error's message and field are; the developer message is not
    (it may quote the request).
    """
    try:
        body = response.json()
    except ValueError:
        return ()
    if not isinstance(body, dict):
        return ()
    reasons: list[str] = []
    user_message = body.get("userMessage")
    reason_code = body.get("reasonCode")
    if isinstance(user_message, str) and user_message:
        code = f" (reason code {reason_code})" if reason_code not in (None, "") else ""
        reasons.append(f"availity: {user_message[:200]}{code}")
    errors = body.get("errors")
    for entry in errors if isinstance(errors, list) else []:
        if not isinstance(entry, dict):
            continue
        field = entry.get("field") or "request"
        index = entry.get("index")
        where = f"{field}[{index}]" if isinstance(index, int) else str(field)
        message = entry.get("errorMessage") or entry.get("code") or "invalid"
        reasons.append(f"{where}: {str(message)[:200]}")
    return tuple(reasons)


def _parameter_violations(response: httpx.Response) -> tuple[ParameterViolation, ...]:
    try:
        body = response.json()
    except ValueError:
        return ()
    entries = body.get("parameterViolations") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        return ()
    return tuple(ParameterViolation.from_json(e) for e in entries if isinstance(e, dict))


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise AvailityProtocolError(f"answer ({response.status_code}) is not JSON") from None
    if not isinstance(body, dict):
        raise AvailityProtocolError(f"answer ({response.status_code}) is not a JSON object")
    return body
