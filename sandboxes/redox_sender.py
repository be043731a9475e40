"""A Redox sender sandbox: delivers webhooks the way Redox does, for tests and local runs.

Like Redox, it posts JSON with the destination's ``verification-token`` header and
``application-name: RedoxEngine``; it retries a delivery that failed with a 5xx, a timeout or a
refused connection, keeping ``Meta.Logs[].ID`` and giving each attempt a new ``AttemptID``; it
stops at a 2xx or 4xx (a retry of the same bytes cannot help). It can also run the destination
verification handshake (POST body or GET query). Switches let a test send a wrong or no token.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import TracebackType
from typing import Any, Literal

import httpx

__all__ = ["Attempt", "Delivery", "RedoxSender", "load_sample"]

SAMPLE = "redox-claim-paymentbatch.json"


def load_sample() -> dict[str, Any]:
    """Redox's Claim.PaymentBatch sample, as packaged with claimflow (a fresh copy)."""
    sample: dict[str, Any] = json.loads(
        resources.files("sandboxes.data").joinpath(SAMPLE).read_text()
    )
    return sample


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST of a delivery: its AttemptID and what came back (status or error name)."""

    attempt_id: str
    status: int | None
    error: str | None
    seconds: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery and all its attempts, oldest first."""

    log_id: str
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _with_ids(payload: Mapping[str, Any], log_id: str, attempt_id: str) -> dict[str, Any]:
    body = copy.deepcopy(dict(payload))
    meta = body.setdefault("Meta", {})
    logs = meta.get("Logs") or [{}]
    logs[0] = {**logs[0], "ID": log_id, "AttemptID": attempt_id}
    meta["Logs"] = logs
    return body


def _log_id_of(payload: Mapping[str, Any]) -> str | None:
    logs = (payload.get("Meta") or {}).get("Logs") or [{}]
    log_id = logs[0].get("ID") if isinstance(logs[0], dict) else None
    return log_id if isinstance(log_id, str) and log_id else None


class RedoxSender:
    """Posts as Redox; ``token=None`` sends no ``verification-token`` header at all."""

    def __init__(
        self,
        *,
        token: str | None,
        client: httpx.AsyncClient | None = None,
        max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
        timeout_seconds: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.token = token
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._sleep = sleep
        self._owns_client = client is None
        # One client per sender; Redox gives a destination a generous answer time.
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout_seconds))

    async def __aenter__(self) -> RedoxSender:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", "application-name": "RedoxEngine"}
        if self.token is not None:
            headers["verification-token"] = self.token
        return headers

    async def post(self, url: str, payload: Mapping[str, Any] | bytes) -> httpx.Response:
        """One POST of ``payload`` as it is (no retry, ids untouched)."""
        content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return await self._client.post(url, content=content, headers=self.headers())

    async def deliver(
        self, url: str, payload: Mapping[str, Any], *, fresh_log_id: bool = False
    ) -> Delivery:
        """Post until a 2xx or 4xx, at most ``max_attempts`` times, with one log id."""
        log_id = _log_id_of(payload)
        if fresh_log_id or log_id is None:
            log_id = str(uuid.uuid4())
        delivery = Delivery(log_id=log_id)
        for attempt in range(self.max_attempts):
            attempt_id = str(uuid.uuid4())
            started = time.monotonic()
            retry_after: str | None = None
            try:
                response = await self.post(url, _with_ids(payload, log_id, attempt_id))
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                delivery.attempts.append(
                    Attempt(attempt_id, None, type(exc).__name__, time.monotonic() - started)
                )
            else:
                delivery.attempts.append(
                    Attempt(attempt_id, response.status_code, None, time.monotonic() - started)
                )
                if response.status_code < 500:
                    return delivery
                retry_after = response.headers.get("retry-after")
            if attempt + 1 < self.max_attempts:
                await self._sleep(self._delay(attempt, retry_after))
        return delivery

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        delay = self.backoff_seconds * 2.0**attempt
        if retry_after is not None and retry_after.isdigit():
            delay = float(retry_after)
        return min(delay, self.max_backoff_seconds)

    async def verify(
        self, url: str, challenge: str, *, method: Literal["POST", "GET"] = "POST"
    ) -> httpx.Response:
        """Redox's destination verification: the token and a challenge, in a body or query."""
        token = self.token or ""
        if method == "GET":
            params = {"challenge": challenge, "verification-token": token}
            return await self._client.get(url, params=params)
        body = {"verification-token": token, "challenge": challenge}
        headers = {"content-type": "application/json", "application-name": "RedoxEngine"}
        return await self._client.post(url, content=json.dumps(body).encode(), headers=headers)
