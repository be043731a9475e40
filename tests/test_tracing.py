"""claimflow.tracing: off by default, W3C context in Kafka headers, URLs without query strings.

An in-memory exporter stands in for OTLP; the end-to-end test (tests/e2e) follows a whole
delivery's trace across the real processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from claimflow import tracing
from claimflow.settings import Settings, TracingSettings


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test only, into memory (the process-wide provider stays unset)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(tracing._PhiSafeExporter(exporter)))
    monkeypatch.setattr(tracing, "_provider", provider)
    yield exporter
    provider.shutdown()


def test_tracing_is_off_unless_a_setting_turns_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLAIMFLOW_TRACING__ENABLED", raising=False)
    assert Settings().tracing.enabled is False
    assert tracing.configure_tracing(TracingSettings(), role="receiver") is False
    assert not tracing.tracing_enabled()
    headers = [("claimflow-message-id", b"m-1")]
    assert tracing.inject_trace_headers(headers) == headers
    with tracing.consumer_span(
        "t", [("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]
    ) as span:
        assert span is None
        assert tracing.trace_headers() == {}


def test_otel_sdk_disabled_wins_over_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("CLAIMFLOW_TRACING__ENABLED", "true")
    settings = Settings()
    assert settings.tracing.enabled is True
    assert tracing.configure_tracing(settings.tracing, role="router") is False
    assert not tracing.tracing_enabled()


def test_a_consumer_span_continues_the_trace_its_message_carries(
    spans: InMemorySpanExporter,
) -> None:
    with tracing.producer_span("webhooks", [("claimflow-message-id", b"w-1")]):
        written = tracing.inject_trace_headers(
            [("claimflow-message-id", b"w-1"), ("traceparent", b"stale")]
        )
    names = [name for name, _ in written]
    assert names.count("traceparent") == 1
    assert dict(written)["traceparent"] != b"stale"
    with tracing.consumer_span("webhooks", written, partition=2, offset=7):
        pass
    producer, consumer = spans.get_finished_spans()
    assert producer.kind is SpanKind.PRODUCER
    assert consumer.kind is SpanKind.CONSUMER
    assert consumer.context.trace_id == producer.context.trace_id
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.context.span_id
    assert consumer.name == "webhooks process"
    assert consumer.attributes is not None
    assert consumer.attributes["messaging.message.id"] == "w-1"
    assert consumer.attributes["messaging.kafka.offset"] == 7


def test_a_stored_traceparent_brings_a_later_step_into_the_same_trace(
    spans: InMemorySpanExporter,
) -> None:
    with tracing.consumer_span("commands", {}):
        stored = tracing.current_traceparent()
    assert stored is not None
    assert len(stored) == 55
    with tracing.internal_span("status-check step", traceparent=stored):
        pass
    command, step = spans.get_finished_spans()
    assert step.context.trace_id == command.context.trace_id
    assert step.parent is not None
    assert step.parent.span_id == command.context.span_id


def test_dict_headers_get_the_context_too(spans: InMemorySpanExporter) -> None:
    with tracing.producer_span("results", {"claimflow-message-id": b"r-1"}):
        headers = tracing.inject_trace_headers({"claimflow-message-id": b"r-1"})
    assert set(headers) == {"claimflow-message-id", "traceparent"}


def test_urls_lose_their_query_string_and_errors_their_text_before_export(
    spans: InMemorySpanExporter,
) -> None:
    tracer = tracing._tracer()
    with tracer.start_as_current_span(
        "GET /webhooks/redox",
        attributes={
            "http.url": "http://receiver/webhooks/redox?verification-token=s3cret&challenge=x",
            "http.target": "/webhooks/redox?verification-token=s3cret",
            "url.full": "https://partner/claims?memberId=MEM123",
            "url.query": "memberId=MEM123",
        },
    ) as span:
        span.record_exception(ValueError("[parameters: ('Bixby', '2008-01-06')]"))
        span.set_status(Status(StatusCode.ERROR, "Key (member_id)=(MEM123) already exists"))
    (exported,) = spans.get_finished_spans()
    assert exported.attributes == {
        "http.url": "http://receiver/webhooks/redox",
        "http.target": "/webhooks/redox",
        "url.full": "https://partner/claims",
    }
    assert (exported.status.status_code, exported.status.description) == (StatusCode.ERROR, None)
    (event,) = exported.events
    assert dict(event.attributes or {}) == {
        "exception.type": "ValueError",
        "exception.escaped": "False",
    }


async def _request(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    await app(scope, receive, send)


async def test_each_request_gets_a_server_span_named_by_its_route_and_probes_none(
    spans: InMemorySpanExporter,
) -> None:
    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        status = 202 if scope["path"] == "/webhooks/redox" else 503
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = tracing.instrument_asgi(endpoint, routes=("/webhooks/redox",))
    redox = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    await _request(app, "/webhooks/redox", [(b"traceparent", redox.encode())])
    await _request(app, "/readyz", [])
    await _request(app, "/wp-admin/Bixby", [])
    webhook, unknown = spans.get_finished_spans()
    assert (webhook.name, webhook.kind) == ("POST /webhooks/redox", SpanKind.SERVER)
    assert webhook.context.trace_id == int("a" * 32, 16), "Redox's trace continues"
    assert webhook.attributes is not None
    assert webhook.attributes["http.response.status_code"] == 202
    assert unknown.name == "POST", "a path that is no route never names a span"
    assert "Bixby" not in str(unknown.attributes)
    assert unknown.status.status_code is StatusCode.ERROR
