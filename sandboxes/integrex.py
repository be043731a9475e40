"""A fake Integrex Claim Status API v2 that behaves like the quick start describes.

``create_app()`` serves, over real HTTP:

* ``GET /api/health-check`` -> ``{"status": "success"}`` (no auth);
* ``POST /api/v2/auth`` -- HTTP Basic client id/secret, form ``grant_type=client_credentials``;
  401 on bad credentials; tokens expire after ``token_lifetime_seconds``;
* ``POST /api/v2/claim-info`` -> ``{"id": uuid}`` (400 without a JSON object); counted per
  ``trackingId1`` in ``/_sandbox/submissions``; the ``env`` header is recorded;
* ``GET /api/v2/claim-info`` with ``{"id": ...}`` in a JSON body -> 202 for the first
  ``pending_polls`` polls and until ``pending_seconds`` have passed since the POST (Integrex
  may answer 202 for minutes), then 200 with a ``claim-info`` result echoing the request like
  the reference's sample (including its ``authorizationCaseld`` spelling); 404 for an unknown id.

The ``env`` header decides the environment, as the quick start says: ``T`` answers dummy data
(the results below); ``P`` -- or no header, which Integrex also sends to production -- is the
production service, which this sandbox is not: it answers 403 unless started with
``production=True`` (the ``production`` knob). So a client sending the wrong ``env`` is caught.

The result's category and status codes are deterministic: the ``category_code``/``status_code``
knobs if set, else a ``trackingId1`` of the form ``F1:65:anything``, else the reference's
``A4``/``35`` (not found). Knobs (``POST /_sandbox/config``): ``token_lifetime_seconds``,
``pending_polls``, ``pending_seconds``, ``category_code``, ``status_code``, ``production``.
Faults: see :mod:`sandboxes.control`; endpoints are ``health``, ``auth``,
``claim_info.submit``, ``claim_info.fetch``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandboxes.control import SandboxControl, control_routes
from sandboxes.tokens import TokenIssuer

__all__ = ["DEMO_CLIENT_ID", "DEMO_CLIENT_SECRET", "IntegrexSandbox", "create_app"]

#: The demo credentials printed in Integrex's public quick start.
DEMO_CLIENT_ID = "TestClient"
DEMO_CLIENT_SECRET = "fc65r876GHGV975r876TpG965E86408T6yp9Go6R976R086TF7"  # noqa: S105 - public demo value

_DESCRIPTIONS = {
    "A4": "Acknowledgement/Not Found-The claim/encounter can not be found in the adjudication "
    "system.",
    "A1": "Acknowledgement/Receipt-The claim/encounter has been received.",
    "A2": "Acknowledgement/Acceptance into adjudication system.",
    "P1": "Pending/In Process-The claim or encounter is in the adjudication system.",
    "F1": "Finalized/Payment-The claim/line has been paid.",
    "F2": "Finalized/Denial-The claim/line has been denied.",
    "R4": "Requests for additional Information/Documentation.",
}
_STATUS_TEXT = {"35": "Claim/Encounter not found", "65": "Claim/line has been paid"}


@dataclass
class _Inquiry:
    body: dict[str, Any]
    polls_left: int
    ready_at: float = 0.0


@dataclass
class IntegrexSandbox:
    """The sandbox's state; ``app.state.sandbox`` in the app ``create_app`` returns."""

    client_id: str
    client_secret: str
    control: SandboxControl
    pending_polls: int = 1
    pending_seconds: float = 0.0
    production: bool = False
    category_code: str | None = None
    status_code: str | None = None
    inquiries: dict[str, _Inquiry] = field(default_factory=dict)
    env_headers: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> TokenIssuer:
        return self.control.tokens

    def configure(self, knobs: dict[str, Any]) -> None:
        for name, value in knobs.items():
            if name == "token_lifetime_seconds":
                self.tokens.lifetime_seconds = float(value)
            elif name == "pending_polls":
                self.pending_polls = int(value)
            elif name == "pending_seconds":
                self.pending_seconds = float(value)
                ready_at = time.monotonic() + self.pending_seconds
                for inquiry in self.inquiries.values():
                    inquiry.ready_at = min(inquiry.ready_at, ready_at)
            elif name == "production":
                self.production = bool(value)
            elif name in ("category_code", "status_code"):
                setattr(self, name, None if value is None else str(value))
            else:
                raise KeyError(f"unknown knob {name}")

    def codes_for(self, body: dict[str, Any]) -> tuple[str, str]:
        category, status = "A4", "35"
        parts = str(body.get("trackingId1") or "").split(":")
        if len(parts) >= 2 and parts[0] and parts[1]:
            category, status = parts[0].upper(), parts[1]
        return self.category_code or category, self.status_code or status

    def result(self, body: dict[str, Any]) -> dict[str, Any]:
        category, status = self.codes_for(body)
        paid = category == "F1"
        description = _DESCRIPTIONS.get(category, f"Category {category}")
        description += f" - {_STATUS_TEXT.get(status, f'Status {status}')}"
        charge = _amount(body.get("totalCharges"))
        return {
            "adjudicationDate": dt.date.today().isoformat() if paid else None,
            "allowedAmount": charge if paid else None,
            "amountPaidByOtherInsuranceCompany": None,
            "authorizationCaseld": None,
            "authorizationDescription": None,
            "benefitExhaustDate": None,
            "billingEntityName": body.get("billingProviderName"),
            "categoryCode": category,
            "categoryDescription": description,
            "chargeAmt": charge,
            "checkDate": None,
            "checkNumber": "",
            "checkStatus": None,
            "claimReceiptDate": None,
            "coInsuranceAmount": None,
            "coPaymentAmount": None,
            "dateCheckCashed": None,
            "dateOfService": body.get("admitDate"),
            "deductibleAmount": None,
            "discountDays": None,
            "integrexId": str(uuid.uuid4()),
            "interestPaid": None,
            "internalAccountNumber": body.get("trackingId1"),
            "internalAccountNumber2": body.get("trackingId2"),
            "lifetimeReserveAmount": None,
            "lifetimeReserveDays": None,
            "managedCarePenaltyAmount": None,
            "nonCoveredAmount": None,
            "patientAccountNumber": "",
            "patientFirstName": body.get("patientFirstName"),
            "patientLastName": body.get("patientLastName"),
            "payerClnNo": "",
            "payerContactName": body.get("payerName"),
            "payerContactPhone": "",
            "payerID": body.get("payerId"),
            "paymentAmt": charge if paid else None,
            "procedureCd": None,
            "procedureCdQual": None,
            "providerOrganizationName": None,
            "reasonSourceCd1": None,
            "reasonSourceCd2": None,
            "reasonSourceCd3": None,
            "reasonSourceCdDescTxt1": None,
            "reasonSourceCdDescTxt2": None,
            "reasonSourceCdDescTxt3": None,
            "responseDate": dt.date.today().isoformat(),
            "revenueCd": None,
            "serviceProviderAddress": None,
            "serviceProviderName": None,
            "statusCode": status,
            "statusDescription": description,
            "subID": body.get("subscriberId"),
            "svcLine": 0,
            "svcLnQty": None,
        }


def create_app(
    *,
    client_id: str = DEMO_CLIENT_ID,
    client_secret: str = DEMO_CLIENT_SECRET,
    token_lifetime_seconds: float = 3599,
    pending_polls: int = 1,
    category_code: str | None = None,
    status_code: str | None = None,
    production: bool = False,
) -> Starlette:
    sandbox = IntegrexSandbox(
        client_id=client_id,
        client_secret=client_secret,
        control=SandboxControl(
            tokens=TokenIssuer(lifetime_seconds=token_lifetime_seconds),
            error_body=lambda status: {"error": f"sandbox fault {status}"},
        ),
        pending_polls=pending_polls,
        category_code=category_code,
        status_code=status_code,
        production=production,
    )
    control = sandbox.control

    async def health(request: Request) -> Response:
        async def handle() -> Response:
            return JSONResponse({"status": "success"})

        return await control.answer("health", request, handle, authorized=False)

    async def auth(request: Request) -> Response:
        async def handle() -> Response:
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            if form.get("grant_type") != ["client_credentials"]:
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            if not _basic_matches(request, sandbox.client_id, sandbox.client_secret):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            return JSONResponse(
                {
                    "access_token": sandbox.tokens.issue(),
                    "expires_in": sandbox.tokens.lifetime_seconds,
                    "scope": "",
                    "token_type": "bearer",
                }
            )

        return await control.answer("auth", request, handle, authorized=False)

    def wrong_env(request: Request) -> Response | None:
        env = request.headers.get("env", "P").strip().upper() or "P"
        if env == "T" or (env == "P" and sandbox.production):
            return None
        return JSONResponse(
            {"error": f"environment {env} is not available to this client"}, status_code=403
        )

    async def submit(request: Request) -> Response:
        async def handle() -> Response:
            refused = wrong_env(request)
            if refused is not None:
                return refused
            body = await _json_object(request)
            if body is None or not body.get("subscriberId") or not body.get("patientLastName"):
                return JSONResponse({"error": "invalid request"}, status_code=400)
            sandbox.env_headers.append(request.headers.get("env", ""))
            inquiry_id = str(uuid.uuid4())
            sandbox.inquiries[inquiry_id] = _Inquiry(
                body=body,
                polls_left=sandbox.pending_polls,
                ready_at=time.monotonic() + sandbox.pending_seconds,
            )
            control.submissions[str(body.get("trackingId1") or "")] += 1
            return JSONResponse({"id": inquiry_id})

        return await control.answer("claim_info.submit", request, handle)

    async def fetch(request: Request) -> Response:
        async def handle() -> Response:
            refused = wrong_env(request)
            if refused is not None:
                return refused
            body = await _json_object(request)
            if body is None or not isinstance(body.get("id"), str):
                return JSONResponse({"error": "invalid request"}, status_code=400)
            inquiry = sandbox.inquiries.get(body["id"])
            if inquiry is None:
                return JSONResponse({"error": "not found"}, status_code=404)
            if inquiry.polls_left > 0 or time.monotonic() < inquiry.ready_at:
                inquiry.polls_left = max(inquiry.polls_left - 1, 0)
                return JSONResponse({"id": body["id"]}, status_code=202)
            return JSONResponse({"claim-info": [sandbox.result(inquiry.body)]})

        return await control.answer("claim_info.fetch", request, handle)

    def reset_all() -> None:
        sandbox.inquiries.clear()
        sandbox.env_headers.clear()

    routes = [
        Route("/api/health-check", health, methods=["GET"]),
        Route("/api/v2/auth", auth, methods=["POST"]),
        Route("/api/v2/claim-info", submit, methods=["POST"]),
        Route("/api/v2/claim-info", fetch, methods=["GET"]),
        *control_routes(control, sandbox.configure, on_reset=reset_all),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = sandbox
    return app


def _basic_matches(request: Request, client_id: str, client_secret: str) -> bool:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        pair = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    given_id, _, given_secret = pair.partition(":")
    return hmac.compare_digest(given_id, client_id) and hmac.compare_digest(
        given_secret, client_secret
    )


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _amount(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return f"{Decimal(str(value)).normalize():f}"
    except InvalidOperation:
        return str(value)
