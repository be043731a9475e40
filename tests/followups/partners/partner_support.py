"""Serving a sandbox over real HTTP, steering it, and client settings that point at it.

Each sandbox runs in uvicorn on a free loopback port (port 0, read back once started) in a
background thread, fresh for every test. The clients are the production classes with only their
base URLs and timings changed: backoff and poll intervals are tiny so tests are quick, and no
test asserts on how long anything took.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from starlette.applications import Starlette
from support.server import serve as support_serve

from claimflow.settings import AvailitySettings, IntegrexSettings
from handlers.followups.partners.availity import AttachmentSubmission, parse_submission
from handlers.followups.partners.integrex import ClaimStatusRequest

CLIENT_ID = "claimflow-test"
INTEGREX_SECRET = "integrex-test-secret-Qm9vbXNoYWthbGFrYQ"
AVAILITY_SECRET = "availity-test-secret-c2VjcmV0c2F1Y2U"


@dataclass
class RunningSandbox:
    """A sandbox app served at ``url``; steer it over its ``/_sandbox`` control surface."""

    url: str
    app: Starlette

    @property
    def state(self) -> Any:
        return self.app.state.sandbox

    async def fault(self, **fault: Any) -> None:
        await self._post("/_sandbox/faults", fault)

    async def configure(self, **knobs: Any) -> None:
        await self._post("/_sandbox/config", knobs)

    async def stats(self) -> dict[str, Any]:
        return await self._get("/_sandbox/stats")

    async def submissions(self) -> dict[str, Any]:
        return await self._get("/_sandbox/submissions")

    async def responses(self, endpoint: str) -> dict[str, int]:
        counts: dict[str, int] = (await self.stats())["responses"].get(endpoint, {})
        return counts

    async def _post(self, path: str, body: dict[str, Any]) -> None:
        async with httpx.AsyncClient(base_url=self.url) as http:
            response = await http.post(path, json=body)
            response.raise_for_status()

    async def _get(self, path: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url) as http:
            response = await http.get(path)
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            return body


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread until the generator is closed."""
    with support_serve(app, thread_name="sandbox-server") as url:
        yield url


def integrex_settings_for(url: str, **overrides: Any) -> IntegrexSettings:
    values: dict[str, Any] = {
        "base_url": url,
        "client_id": CLIENT_ID,
        "client_secret": SecretStr(INTEGREX_SECRET),
        "env": "T",
        "requests_per_second": 1000.0,
        "timeout_seconds": 5.0,
        "connect_timeout_seconds": 2.0,
        "retry_max_attempts": 5,
        "retry_budget_seconds": 10.0,
        "backoff_base_seconds": 0.001,
        "backoff_max_seconds": 0.01,
        "poll_interval_seconds": 0.001,
        "poll_max_interval_seconds": 0.01,
        "poll_deadline_seconds": 10.0,
    }
    values.update(overrides)
    return IntegrexSettings.model_validate(values)


def availity_settings_for(url: str, **overrides: Any) -> AvailitySettings:
    values: dict[str, Any] = {
        "base_url": f"{url}/availity",
        "token_url": f"{url}/v1/token",
        "client_id": CLIENT_ID,
        "client_secret": SecretStr(AVAILITY_SECRET),
        "requests_per_second": 1000.0,
        "timeout_seconds": 5.0,
        "connect_timeout_seconds": 2.0,
        "retry_max_attempts": 5,
        "retry_budget_seconds": 10.0,
        "backoff_base_seconds": 0.001,
        "backoff_max_seconds": 0.01,
        "poll_interval_seconds": 0.001,
        "poll_max_interval_seconds": 0.01,
        "poll_deadline_seconds": 10.0,
    }
    values.update(overrides)
    return AvailitySettings.model_validate(values)


def reference_request(tracking_id1: str = "1234567890") -> ClaimStatusRequest:
    """The quick start's POST claim-info body."""
    return ClaimStatusRequest.model_validate(
        {
            "patientDob": "1970-01-02",
            "patientFirstName": "JANE",
            "patientLastName": "DOE",
            "subscriberId": "A000000000",
            "subscriberFirstName": "JANE",
            "subscriberLastName": "DOE",
            "billingProviderNpi": "1083052872",
            "billingProviderName": "Sutter Medical Center Sacramento",
            "taxId": "999887777",
            "admitDate": "2020-12-31",
            "totalCharges": "12345678.90",
            "payerId": "AETNA",
            "payerName": "BLUE CROSS",
            "trackingId1": tracking_id1,
            "trackingId2": "ABCDE|FGHIJ|1234",
        }
    )


SAMPLE = Path(__file__).parent / "fixtures" / "availity-attachment-request.json"
REQUEST_NUMBER = "RN85363437337111"


def sample_body(request_number: str = REQUEST_NUMBER) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(SAMPLE.read_text())
    body["encounter"]["requestNumber"] = request_number
    return body


def sample_submission(request_number: str = REQUEST_NUMBER) -> AttachmentSubmission:
    return parse_submission(sample_body(request_number))
