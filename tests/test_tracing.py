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
from opentelemetry.trace import SpanKind, Status, StatusCode, TraceFlags

from claimflow import tracing
from claimflow.settings import Settings, TracingSettings
from claimflow.trace_sampling import DecidedTraceIds, ParentBasedRatio, sampler_from_environment


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


def _sampling(monkeypatch: pytest.MonkeyPatch, ratio: float) -> InMemorySpanExporter:
    """Tracing on with claimflow's sampler at ``ratio`` (what ``configure_tracing`` installs)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBasedRatio(ratio), id_generator=DecidedTraceIds())
    provider.add_span_processor(SimpleSpanProcessor(tracing._PhiSafeExporter(exporter)))
    monkeypatch.setattr(tracing, "_provider", provider)
    return exporter


def _publishing_endpoint(written: list[dict[str, bytes]]) -> Any:
    """A webhook endpoint that publishes as the receiver does and keeps the headers it wrote."""

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        headers = [("claimflow-message-id", b"w-1")]
        with tracing.producer_span("webhooks", headers):
            written.append(dict(tracing.inject_trace_headers(headers)))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return tracing.instrument_asgi(endpoint, routes=("/webhooks/redox",))


async def test_a_delivery_sampled_out_makes_no_span_but_its_message_carries_the_decision(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans = _sampling(monkeypatch, 0.0)
    written: list[dict[str, bytes]] = []
    await _request(_publishing_endpoint(written), "/webhooks/redox", [])
    assert spans.get_finished_spans() == ()
    (headers,) = written
    flags = TraceFlags(int(headers["traceparent"].decode().rsplit("-", 1)[1], 16))
    assert not flags.sampled, "the router and the handlers follow: no spans downstream either"
    with tracing.consumer_span("webhooks", headers) as consumer:
        assert consumer is not None
        assert not consumer.is_recording()
    assert spans.get_finished_spans() == ()


async def test_a_sampled_delivery_is_one_trace_on_the_trace_id_it_was_decided_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans = _sampling(monkeypatch, 0.5)
    sampler = ParentBasedRatio(0.5)
    written: list[dict[str, bytes]] = []
    app = _publishing_endpoint(written)
    for _ in range(400):
        await _request(app, "/webhooks/redox", [])
    servers = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert 130 < len(servers) < 270, "half the deliveries, decided once (not 0.5 x 0.5)"
    assert all(s.context is not None and sampler.samples_root(s.context.trace_id) for s in servers)
    producers = [s for s in spans.get_finished_spans() if s.kind is SpanKind.PRODUCER]
    assert [p.parent.span_id for p in producers if p.parent] == [
        s.context.span_id for s in servers if s.context
    ]


async def test_redox_s_traceparent_decides_whatever_the_ratio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sampled, not_sampled = ("00-" + "a" * 32 + "-" + "b" * 16 + f"-{f}" for f in ("01", "00"))
    spans = _sampling(monkeypatch, 0.0)
    written: list[dict[str, bytes]] = []
    await _request(_publishing_endpoint(written), "/webhooks/redox", [(b"traceparent", b"")])
    await _request(
        _publishing_endpoint(written), "/webhooks/redox", [(b"traceparent", sampled.encode())]
    )
    assert {s.context.trace_id for s in spans.get_finished_spans() if s.context} == {
        int("a" * 32, 16)
    }
    spans = _sampling(monkeypatch, 1.0)
    await _request(
        _publishing_endpoint(written), "/webhooks/redox", [(b"traceparent", not_sampled.encode())]
    )
    assert spans.get_finished_spans() == ()
    assert written[-1]["traceparent"] == not_sampled.encode()


@pytest.mark.parametrize(
    ("variables", "ratio"),
    [
        ({}, 0.25),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_on"}, 1.0),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_off"}, 0.0),
        (
            {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"},
            0.1,
        ),
        ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "x"}, 1.0),
        ({"OTEL_TRACES_SAMPLER": "always_on"}, None),
    ],
)
def test_the_sample_ratio_setting_applies_unless_otel_traces_sampler_names_one(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], ratio: float | None
) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    monkeypatch.delenv("OTEL_TRACES_SAMPLER_ARG", raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    sampler = sampler_from_environment(0.25)
    if ratio is None:
        assert sampler is None, "any other sampler is the SDK's, read from the same variables"
    else:
        assert isinstance(sampler, ParentBasedRatio)
        assert sampler.ratio == ratio


def test_the_default_ratio_is_documented_as_the_production_default() -> None:
    assert TracingSettings().sample_ratio == 0.01
