"""What each step of a receiver request costs, in this process, on Redox's sample.

1. **Parsing and validation**, three ways, on the same bytes: ``json.loads`` then
   ``model_validate`` (the original path), ``orjson.loads`` then a ``TypeAdapter``, and
   ``model_validate_json`` (one pass in Rust, what the receiver uses). The fastest is the one
   the receiver should keep: this benchmark fails when ``model_validate_json`` is not it.
2. **The canonical log line**: ``receiver.request_log`` (known-safe fields, rendered straight
   to JSON) against the same line through the structlog chain with PHI redaction, both to a
   file. Done when the line costs under 10 µs.
3. **Starlette's middleware** (``ServerErrorMiddleware`` and ``ExceptionMiddleware``, which
   every Starlette app has): the app called over ASGI against its router alone, on a route
   that answers at once, to see what the middleware costs per request.
4. **Tracing** (``claimflow.tracing``): what a traced request adds, its SERVER span and its
   PRODUCER span with the ``traceparent`` injected, batched and encoded as OTLP protobuf (the
   exporter's work but the network), every trace, 10% and 1% of them; the export thread's CPU is in
   the figure (each round ends with a flush).

Each figure is the median of ``ROUNDS`` timings of ``NUMBER`` calls, in CPU µs of this process
per call (``time.process_time``: on a shared machine, time spent waiting for a core is not
counted, so the figures stay comparable when neighbours are busy).
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import structlog
from pydantic import TypeAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from claimflow.logging import configure_logging
from claimflow.settings import LoggingSettings
from receiver.request_log import RequestLog, RequestRecord
from router.redox import PaymentBatch
from sandboxes.redox_sender import load_sample

NUMBER = 2_000
ROUNDS = 5
MAX_LOG_LINE_US = 10.0


def _median_us(call: Callable[[], object], number: int = NUMBER) -> float:
    timings = timeit.repeat(call, number=number, repeat=ROUNDS, timer=time.process_time)
    return statistics.median(timings) / number * 1e6


def _parsing() -> tuple[dict[str, float], bool]:
    body = json.dumps(load_sample()).encode()
    adapter: TypeAdapter[PaymentBatch] = TypeAdapter(PaymentBatch)
    costs = {
        "json.loads + model_validate": _median_us(
            lambda: PaymentBatch.model_validate(json.loads(body))
        ),
        "orjson.loads + TypeAdapter.validate_python": _median_us(
            lambda: adapter.validate_python(orjson.loads(body))
        ),
        "model_validate_json (kept)": _median_us(lambda: PaymentBatch.model_validate_json(body)),
    }
    kept = costs["model_validate_json (kept)"]
    return costs, kept <= min(costs.values())


def _record() -> RequestRecord:
    return RequestRecord(
        request_id="5f0c1c9a2e8b4d7f9a6b3c2d1e0f4a5b",
        method="POST",
        outcome="accepted",
        status=200,
        log_id="d9f5d293-7110-461e-a875-3beb089e79f3",
        attempt_id="925d1617-2fe0-468c-a14c-f8c04b572c54",
        body_bytes=4895,
        publish_ms=1.31,
        duration_ms=2.02,
    )


def _log_line() -> dict[str, float]:
    record = _record()
    with tempfile.TemporaryDirectory(prefix="claimflow-bench-log-") as tmp:
        with (Path(tmp) / "fast.log").open("w", buffering=1) as fast_out:
            fast = RequestLog(LoggingSettings(level="INFO", format="json"), stream=fast_out)
            fast_us = _median_us(lambda: fast.write(record))
        with (Path(tmp) / "chain.log").open("w", buffering=1) as chain_out:
            configure_logging(LoggingSettings(level="INFO", format="json"), stream=chain_out)
            chain = structlog.get_logger("claimflow.receiver")
            fields: dict[str, Any] = {
                "request_id": record.request_id,
                "method": record.method,
                "outcome": record.outcome,
                "status": record.status,
                "redox_log_id": record.log_id,
                "redox_attempt_id": record.attempt_id,
                "body_bytes": record.body_bytes,
                "publish_ms": record.publish_ms,
                "duration_ms": record.duration_ms,
            }
            chain_us = _median_us(lambda: chain.info("webhook request", **fields))
            logging.getLogger().handlers = []
    return {
        "receiver.request_log (known-safe fields, kept)": fast_us,
        "structlog chain with PHI redaction (before)": chain_us,
    }


async def _answer(request: Request) -> Response:
    return Response(b"ok")


def _middleware() -> dict[str, float]:
    app = Starlette(routes=[Route("/", _answer, methods=["POST"])])
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        return None

    async def calls(target: Any, number: int) -> None:
        for _ in range(number):
            await target(dict(scope), receive, send)

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(calls(app, 100))  # builds the middleware stack once
        with_stack = _median_us(lambda: loop.run_until_complete(calls(app, 1000)), number=1) / 1000
        router_only = (
            _median_us(lambda: loop.run_until_complete(calls(app.router, 1000)), number=1) / 1000
        )
    finally:
        loop.close()
    return {
        "Starlette app (ServerError + Exception middleware + router)": with_stack,
        "its router alone": router_only,
    }


def _tracing() -> dict[str, float]:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from claimflow import tracing
    from claimflow.trace_sampling import DecidedTraceIds, ParentBasedRatio

    class _Encoding(SpanExporter):
        """OTLP/HTTP's work without the network: encode and serialise each batch."""

        def export(self, spans: Any) -> SpanExportResult:
            encode_spans(list[ReadableSpan](spans)).SerializeToString()
            return SpanExportResult.SUCCESS

    async def publish(request: Request) -> Response:
        headers = [("claimflow-message-id", b"0b7c5a4e-3f29-4d8e-9a61-2f1c8e7d4b10")]
        with tracing.producer_span("claimflow.redox.claim.payment-batch.v1", headers):
            tracing.inject_trace_headers(headers)
        return Response(b"ok")

    app = Starlette(routes=[Route("/webhooks/redox", publish, methods=["POST"])])
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhooks/redox",
        "raw_path": b"/webhooks/redox",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        return None

    def cost(target: Any, provider: TracerProvider | None) -> float:
        async def calls(number: int) -> None:
            for _ in range(number):
                await target(dict(scope), receive, send)

        def round_() -> None:
            loop.run_until_complete(calls(1000))
            if provider is not None:
                provider.force_flush()

        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(calls(100))
            return _median_us(round_, number=1) / 1000
        finally:
            loop.close()

    costs = {"untraced (tracing off)": cost(app, None)}
    for name, ratio in (
        ("every trace", 1.0),
        ("10% of traces", 0.1),
        ("1% of traces (the default)", 0.01),
    ):
        # What configure_tracing installs: claimflow's sampler, decided before any span.
        provider = TracerProvider(sampler=ParentBasedRatio(ratio), id_generator=DecidedTraceIds())
        provider.add_span_processor(BatchSpanProcessor(tracing._PhiSafeExporter(_Encoding())))
        tracing._provider = provider
        try:
            costs[f"traced, {name}"] = cost(
                tracing.instrument_asgi(app, routes=("/webhooks/redox",)), provider
            )
        finally:
            tracing._provider = None
            provider.shutdown()
    return costs


def run() -> int:
    print(f"CPU µs per call, median of {ROUNDS} rounds of {NUMBER}, this process")
    costs, fastest_kept = _parsing()
    print("parse + validate Redox's sample (4.9 KB):")
    for name, us in costs.items():
        print(f"  {name:<58} {us:8.1f}")
    lines = _log_line()
    print("the receiver's canonical log line, to a file:")
    for name, us in lines.items():
        print(f"  {name:<58} {us:8.1f}")
    middleware = _middleware()
    print("Starlette, a request over ASGI to a route that answers at once:")
    for name, us in middleware.items():
        print(f"  {name:<58} {us:8.1f}")
    traced = _tracing()
    print("tracing, a request with its SERVER and PRODUCER spans (Starlette app included):")
    for name, us in traced.items():
        print(f"  {name:<58} {us:8.1f}")
    line_us = lines["receiver.request_log (known-safe fields, kept)"]
    ok = fastest_kept and line_us < MAX_LOG_LINE_US
    print(f"model_validate_json fastest: {fastest_kept}; log line {line_us:.1f} µs (need < 10)")
    print("done-criteria:", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(run())
