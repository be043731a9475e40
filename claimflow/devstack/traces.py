"""A local trace sink: OTLP/HTTP in, one JSON line per span out, traces printed as trees.

``claimflow traces serve`` is what ``make run`` starts when ``CLAIMFLOW_TRACING__ENABLED=true``
(docs/operations.md, "Traces"): every role exports to it over OTLP/HTTP (protobuf, the
exporter's default), and it appends each span to ``<state>/traces.jsonl``. ``claimflow traces
show`` prints the latest traces as trees (parent, links, kind, service). No Collector or Jaeger
to build: point ``OTEL_EXPORTER_OTLP_ENDPOINT`` at one instead when you have it.

The end-to-end tests use the same sink, in memory, to check one delivery's trace.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from starlette.types import Receive, Scope, Send

__all__ = ["SpanRecord", "TraceSink", "decode_spans", "read_spans", "render_traces"]

_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


@dataclass(frozen=True)
class SpanRecord:
    """One exported span, as plain data."""

    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str | None
    links: list[tuple[str, str]]
    attributes: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    start_ns: int = 0
    end_ns: int = 0
    status: str = "UNSET"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> SpanRecord:
        data = json.loads(line)
        data["links"] = [tuple(link) for link in data["links"]]
        return cls(**data)


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, which)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def decode_spans(body: bytes) -> list[SpanRecord]:
    """The spans of one OTLP/HTTP protobuf export request."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans: list[SpanRecord] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        service = str(resource.get("service.name", "?"))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    SpanRecord(
                        service=service,
                        name=span.name,
                        kind=_KINDS.get(span.kind, str(span.kind)),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex() or None,
                        links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                        attributes=_attributes(span.attributes),
                        events=[
                            {"name": event.name, "attributes": _attributes(event.attributes)}
                            for event in span.events
                        ],
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status={0: "UNSET", 1: "OK", 2: "ERROR"}.get(span.status.code, "?"),
                    )
                )
    return spans


class TraceSink:
    """An ASGI app that takes OTLP/HTTP trace exports (``POST /v1/traces``, protobuf).

    It keeps the spans in :attr:`spans` and, with ``out``, appends them to that file as JSON
    lines.
    """

    def __init__(self, out: Path | None = None) -> None:
        self.spans: list[SpanRecord] = []
        self._out = out
        self._lock = threading.Lock()

    def snapshot(self) -> list[SpanRecord]:
        with self._lock:
            return list(self.spans)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] != "POST" or scope["path"] != "/v1/traces":
            await _answer(send, 404, b"", b"text/plain")
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        try:
            spans = decode_spans(b"".join(chunks))
        except Exception:  # noqa: BLE001 - a malformed export is refused, not fatal
            await _answer(send, 400, b"not an OTLP protobuf trace export", b"text/plain")
            return
        with self._lock:
            self.spans.extend(spans)
            if self._out is not None:
                with self._out.open("a") as out:
                    out.writelines(span.to_json() + "\n" for span in spans)
        body = ExportTraceServiceResponse().SerializeToString()
        await _answer(send, 200, body, b"application/x-protobuf")


async def _answer(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def read_spans(path: Path) -> list[SpanRecord]:
    """The spans a sink wrote to ``path``."""
    if not path.exists():
        return []
    return [SpanRecord.from_json(line) for line in path.read_text().splitlines() if line.strip()]


def render_traces(spans: Sequence[SpanRecord], *, last: int = 5) -> str:
    """The ``last`` traces (by start time) as indented trees: service, kind, name, links."""
    by_trace: dict[str, list[SpanRecord]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    ordered = sorted(by_trace.values(), key=lambda group: min(s.start_ns for s in group))
    lines: list[str] = []
    for group in ordered[-last:]:
        ids = {span.span_id for span in group}
        children: dict[str | None, list[SpanRecord]] = {}
        for span in sorted(group, key=lambda s: s.start_ns):
            parent = span.parent_id if span.parent_id in ids else None
            children.setdefault(parent, []).append(span)
        duration = (max(s.end_ns for s in group) - min(s.start_ns for s in group)) / 1e6
        lines.append(f"trace {group[0].trace_id}  ({len(group)} spans, {duration:.1f} ms)")
        _walk(children, None, 0, lines)
    return "\n".join(lines)


def _walk(
    children: dict[str | None, list[SpanRecord]], parent: str | None, depth: int, lines: list[str]
) -> None:
    for span in children.get(parent, []):
        links = f"  links: {len(span.links)}" if span.links else ""
        ms = (span.end_ns - span.start_ns) / 1e6
        lines.append(
            f"{'  ' * (depth + 1)}{span.service:<24} {span.kind:<8} {span.name}  {ms:.1f} ms{links}"
        )
        _walk(children, span.span_id, depth + 1, lines)
