"""A fake Availity (token endpoint and Claim Attachments API) that behaves like the reference.

``create_app()`` serves, over real HTTP:

* ``POST /v1/token`` -- form body only, like Availity: ``grant_type=client_credentials``,
  ``client_id``, ``client_secret``, ``scope`` (credentials in HTTP Basic are refused, 401);
  tokens expire after ``token_lifetime_seconds`` (Availity: five minutes);
* ``POST /availity/medical-attachments/ma/external/rest/response`` -- checks every rule of the
  reference (:mod:`sandboxes.availity_rules`) and answers 400 ``parameterViolations`` or
  ``{"id": int}``; every attachment of an accepted submission is counted under its Attachment
  Control Number (``payloads[].requestNumber``, else ``encounter.requestNumber``);
* ``GET /availity/medical-attachments/ma/external/rest/status/{requestId}`` -- walks
  ``status_sequence`` one step per poll, staying on the last value; 404 (general error body)
  for an unknown id. By default it answers only ``SUBMITTED``, the one status value the
  reference shows: no invented statuses. A test that needs a final status configures one.

Over ``rate_limit_per_second`` requests in any second (if set) answer 429 like the plan does.
Knobs (``POST /_sandbox/config``): ``token_lifetime_seconds``, ``status_sequence``,
``rate_limit_per_second``. Faults: see :mod:`sandboxes.control`; endpoints are ``token``,
``attachment.submit``, ``attachment.status``.
"""

from __future__ import annotations

import hmac
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandboxes.availity_rules import parameter_violations
from sandboxes.control import SandboxControl, control_routes
from sandboxes.tokens import TokenIssuer

__all__ = ["SANDBOX_CLIENT_ID", "SANDBOX_CLIENT_SECRET", "AvailitySandbox", "create_app"]

SANDBOX_CLIENT_ID = "claimflow-sandbox"
SANDBOX_CLIENT_SECRET = "availity-sandbox-secret"  # noqa: S105 - the local sandbox's own value

_API = "/availity/medical-attachments/ma/external/rest"
_FIRST_ID = 3325491


def _error_body(status: int) -> dict[str, Any]:
    """Availity's general error shape."""
    messages = {429: "Too many requests", 401: "Unauthorized", 404: "Not found"}
    message = messages.get(status, "Service error")
    return {
        "statusCode": status,
        "reasonCode": status,
        "userMessage": message,
        "developerMessage": f"sandbox: {message}",
        "errors": [],
    }


@dataclass
class AvailitySandbox:
    """The sandbox's state; ``app.state.sandbox`` in the app ``create_app`` returns."""

    client_id: str
    client_secret: str
    control: SandboxControl
    status_sequence: list[str] = field(default_factory=lambda: ["SUBMITTED"])
    rate_limit_per_second: float | None = None
    attachments: dict[int, int] = field(default_factory=dict)  # id -> polls answered
    request_times: deque[float] = field(default_factory=deque)
    next_id: int = _FIRST_ID

    @property
    def tokens(self) -> TokenIssuer:
        return self.control.tokens

    def configure(self, knobs: dict[str, Any]) -> None:
        for name, value in knobs.items():
            if name == "token_lifetime_seconds":
                self.tokens.lifetime_seconds = float(value)
            elif name == "status_sequence":
                if not isinstance(value, list) or not value:
                    raise ValueError("status_sequence must be a non-empty list")
                self.status_sequence = [str(v) for v in value]
            elif name == "rate_limit_per_second":
                self.rate_limit_per_second = None if value is None else float(value)
            else:
                raise KeyError(f"unknown knob {name}")

    def over_rate(self) -> bool:
        """Record one request; whether it exceeds the plan's rate in the last second."""
        now = time.monotonic()
        while self.request_times and now - self.request_times[0] >= 1.0:
            self.request_times.popleft()
        self.request_times.append(now)
        limit = self.rate_limit_per_second
        return limit is not None and len(self.request_times) > limit


def create_app(
    *,
    client_id: str = SANDBOX_CLIENT_ID,
    client_secret: str = SANDBOX_CLIENT_SECRET,
    token_lifetime_seconds: float = 300,
    status_sequence: list[str] | None = None,
) -> Starlette:
    sandbox = AvailitySandbox(
        client_id=client_id,
        client_secret=client_secret,
        control=SandboxControl(
            tokens=TokenIssuer(lifetime_seconds=token_lifetime_seconds), error_body=_error_body
        ),
    )
    if status_sequence:
        sandbox.status_sequence = list(status_sequence)
    control = sandbox.control

    async def token(request: Request) -> Response:
        async def handle() -> Response:
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            if form.get("grant_type") != ["client_credentials"]:
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            given = _credentials(request, form)
            if not (
                hmac.compare_digest(given[0], sandbox.client_id)
                and hmac.compare_digest(given[1], sandbox.client_secret)
            ):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            return JSONResponse(
                {
                    "access_token": sandbox.tokens.issue(),
                    "token_type": "bearer",
                    "expires_in": sandbox.tokens.lifetime_seconds,
                    "scope": (form.get("scope") or ["hipaa"])[0],
                }
            )

        return await _limited(request, "token", handle, authorized=False)

    async def submit(request: Request) -> Response:
        async def handle() -> Response:
            try:
                body = json.loads(await request.body())
            except ValueError:
                body = None
            violations = parameter_violations(body)
            if violations:
                return JSONResponse({"parameterViolations": violations}, status_code=400)
            attachment_id = sandbox.next_id
            sandbox.next_id += 1
            sandbox.attachments[attachment_id] = 0
            for number in _control_numbers(body):
                control.submissions[number] += 1
            return JSONResponse({"id": attachment_id})

        return await _limited(request, "attachment.submit", handle)

    async def status(request: Request) -> Response:
        async def handle() -> Response:
            try:
                attachment_id = int(request.path_params["request_id"])
            except ValueError:
                return JSONResponse(_error_body(400), status_code=400)
            if attachment_id not in sandbox.attachments:
                return JSONResponse(_error_body(404), status_code=404)
            polls = sandbox.attachments[attachment_id]
            sandbox.attachments[attachment_id] = polls + 1
            sequence = sandbox.status_sequence
            return JSONResponse({"status": sequence[min(polls, len(sequence) - 1)]})

        return await _limited(request, "attachment.status", handle)

    async def _limited(
        request: Request,
        endpoint: str,
        handle: Callable[[], Awaitable[Response]],
        *,
        authorized: bool = True,
    ) -> Response:
        if sandbox.over_rate():
            control.responses[endpoint][429] += 1
            return JSONResponse(_error_body(429), status_code=429)
        return await control.answer(endpoint, request, handle, authorized=authorized)

    def reset_all() -> None:
        sandbox.attachments.clear()
        sandbox.request_times.clear()

    routes = [
        Route("/v1/token", token, methods=["POST"]),
        Route(f"{_API}/response", submit, methods=["POST"]),
        Route(f"{_API}/status/{{request_id}}", status, methods=["GET"]),
        *control_routes(control, sandbox.configure, on_reset=reset_all),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = sandbox
    return app


def _credentials(request: Request, form: dict[str, list[str]]) -> tuple[str, str]:
    """Client id and secret from the form body: Availity takes no other place for them."""
    if "client_id" in form:
        return form["client_id"][0], (form.get("client_secret") or [""])[0]
    return "", ""


def _control_numbers(body: dict[str, Any]) -> list[str]:
    """The Attachment Control Number of each attachment in an accepted submission."""
    encounter_number = str(body["encounter"]["requestNumber"])
    payloads = body.get("payloads") or []
    numbers = [
        str(p.get("requestNumber") or encounter_number) for p in payloads if isinstance(p, dict)
    ]
    return numbers or [encounter_number]
