"""`make run` shows traces: with tracing on, the local stack starts a trace sink and points every
role at it; the sink takes what the OTLP/HTTP exporter sends and `claimflow traces show` prints
the trace as a tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from support.server import serve

from claimflow.devstack.stack import LocalStack
from claimflow.devstack.traces import TraceSink, read_spans

CLAIMFLOW = Path(sys.executable).with_name("claimflow")


def test_the_local_stack_starts_a_trace_sink_only_when_tracing_is_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("CLAIMFLOW_TRACING__ENABLED", raising=False)
    stack = LocalStack(state_dir=tmp_path, trace_port=4999)
    assert "traces" not in stack.steps()

    monkeypatch.setenv("CLAIMFLOW_TRACING__ENABLED", "true")
    assert stack.steps()[2] == "traces"
    assert (4999, "the local trace sink", "stop what uses it") in stack.ports()

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert "traces" not in stack.steps(), "a collector of your own: no local sink"


def test_the_sink_keeps_what_the_otlp_exporter_sends_and_prints_it_as_a_tree(
    tmp_path: Path,
) -> None:
    out = tmp_path / "traces.jsonl"
    sink = TraceSink(out)
    with serve(sink, thread_name="trace-sink") as url:
        provider = TracerProvider(resource=Resource.create({"service.name": "claimflow-test"}))
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces"))
        )
        tracer = provider.get_tracer("test")
        with (
            tracer.start_as_current_span("POST /webhooks/redox", kind=SpanKind.SERVER),
            tracer.start_as_current_span("webhooks publish", kind=SpanKind.PRODUCER),
        ):
            pass
        provider.shutdown()
    server, publish = sorted(read_spans(out), key=lambda span: span.start_ns)
    assert (server.service, server.kind, server.parent_id) == ("claimflow-test", "SERVER", None)
    assert (publish.kind, publish.parent_id) == ("PRODUCER", server.span_id)
    shown = subprocess.run(
        [str(CLAIMFLOW), "traces", "show", "--file", str(out)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    lines = shown.splitlines()
    assert lines[0].startswith(f"trace {server.trace_id}  (2 spans")
    assert "SERVER   POST /webhooks/redox" in lines[1]
    assert lines[2].startswith("    claimflow-test")
    assert "PRODUCER webhooks publish" in lines[2]
