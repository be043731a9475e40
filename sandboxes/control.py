"""What every sandbox shares: queued faults, counters and the ``/_sandbox`` control surface.

Tests (and a person at the local stack) steer a sandbox over HTTP:

* ``POST /_sandbox/faults`` queues a fault for the next ``count`` requests of one ``endpoint``
  (or ``"any"``)::

      {"kind": "error", "status": 429, "count": 2, "endpoint": "claim_info.fetch"}
      {"kind": "error", "status": 500, "after_processing": true}   # act, then fail
      {"kind": "slow", "delay_seconds": 2.0, "after_processing": true}
      {"kind": "stale_token"}   # revoke the presented token and answer 401
      {"kind": "error", "status": 503, "for_seconds": 30}   # every request for 30 s

  ``for_seconds`` makes a fault a window in time: it plays on every matching request until the
  window closes, whatever ``count`` says (a partner that is down "for a while").

* ``POST /_sandbox/config`` changes the partner's knobs (see each sandbox's ``configure``).
* ``GET /_sandbox/submissions`` counts accepted submissions per request key.
* ``GET /_sandbox/stats`` counts tokens issued, answers per endpoint and status, and the
  requests being answered right now (``in_flight``).
* ``POST /_sandbox/reset`` forgets faults, counters, tokens and pending results.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandboxes.tokens import TokenIssuer

__all__ = ["Fault", "SandboxControl", "control_routes"]

FaultKind = Literal["error", "slow", "stale_token"]


@dataclass
class Fault:
    kind: FaultKind
    endpoint: str = "any"
    count: int = 1
    status: int = 503
    delay_seconds: float = 0.0
    after_processing: bool = False
    retry_after: float | None = None
    until: float | None = None
    """``time.monotonic()`` at which a windowed fault (``for_seconds``) stops playing."""

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Fault:
        kind = body.get("kind", "error")
        if kind not in ("error", "slow", "stale_token"):
            raise ValueError(f"unknown fault kind {kind!r}")
        retry_after = body.get("retry_after")
        for_seconds = body.get("for_seconds")
        return cls(
            kind=kind,
            endpoint=str(body.get("endpoint", "any")),
            count=int(body.get("count", 1)),
            status=int(body.get("status", 503)),
            delay_seconds=float(body.get("delay_seconds", 0.0)),
            after_processing=bool(body.get("after_processing", False)),
            retry_after=None if retry_after is None else float(retry_after),
            until=None if for_seconds is None else time.monotonic() + float(for_seconds),
        )


class SandboxControl:
    """Faults to play, and what the sandbox saw."""

    def __init__(self, *, tokens: TokenIssuer, error_body: Callable[[int], dict[str, Any]]):
        self.tokens = tokens
        self._error_body = error_body
        self.faults: list[Fault] = []
        self.submissions: Counter[str] = Counter()
        self.responses: defaultdict[str, Counter[int]] = defaultdict(Counter)
        #: Requests being answered right now, per endpoint (a test signals "during a poll").
        self.in_flight: Counter[str] = Counter()

    def reset(self) -> None:
        self.faults.clear()
        self.submissions.clear()
        self.responses.clear()
        self.tokens.reset()

    def take_fault(self, endpoint: str) -> Fault | None:
        now = time.monotonic()
        self.faults = [f for f in self.faults if f.until is None or f.until > now]
        for fault in self.faults:
            if fault.endpoint in (endpoint, "any"):
                if fault.until is not None:
                    return fault
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def answer(
        self,
        endpoint: str,
        request: Request,
        handle: Callable[[], Awaitable[Response]],
        *,
        authorized: bool = True,
    ) -> Response:
        """Run ``handle`` for ``endpoint`` with bearer check and the next queued fault."""
        self.in_flight[endpoint] += 1
        try:
            response = await self._answer(endpoint, request, handle, authorized=authorized)
        finally:
            self.in_flight[endpoint] -= 1
        self.responses[endpoint][response.status_code] += 1
        return response

    async def _answer(
        self,
        endpoint: str,
        request: Request,
        handle: Callable[[], Awaitable[Response]],
        *,
        authorized: bool,
    ) -> Response:
        token = self.tokens.presented(request)
        if authorized and not self.tokens.is_valid(token):
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        fault = self.take_fault(endpoint)
        if fault is None:
            return await handle()
        if fault.kind == "stale_token":
            self.tokens.revoke(token)
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        if not fault.after_processing:
            await asyncio.sleep(fault.delay_seconds)
            if fault.kind == "slow":
                return await handle()
            return self._error(fault)
        response = await handle()
        await asyncio.sleep(fault.delay_seconds)
        return response if fault.kind == "slow" else self._error(fault)

    def _error(self, fault: Fault) -> Response:
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        return JSONResponse(
            self._error_body(fault.status), status_code=fault.status, headers=headers
        )


def control_routes(
    control: SandboxControl,
    configure: Callable[[dict[str, Any]], None],
    *,
    on_reset: Callable[[], None],
) -> list[Route]:
    async def add_fault(request: Request) -> Response:
        try:
            fault = Fault.from_json(await request.json())
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        control.faults.append(fault)
        return JSONResponse({"queued": len(control.faults)})

    async def set_config(request: Request) -> Response:
        try:
            configure(await request.json())
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True})

    async def submissions(request: Request) -> Response:
        return JSONResponse(
            {"total": sum(control.submissions.values()), "by_key": dict(control.submissions)}
        )

    async def stats(request: Request) -> Response:
        return JSONResponse(
            {
                "tokens_issued": control.tokens.issued,
                "responses": {
                    endpoint: {str(status): n for status, n in counts.items()}
                    for endpoint, counts in control.responses.items()
                },
                "faults_queued": len(control.faults),
                "in_flight": {e: n for e, n in control.in_flight.items() if n},
            }
        )

    async def reset(request: Request) -> Response:
        control.reset()
        on_reset()
        return JSONResponse({"ok": True})

    return [
        Route("/_sandbox/faults", add_fault, methods=["POST"]),
        Route("/_sandbox/config", set_config, methods=["POST"]),
        Route("/_sandbox/submissions", submissions, methods=["GET"]),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
    ]
