"""OpenTelemetry for every claimflow process: one trace from Redox's POST to the partner's answer.

Each role's composition root calls :func:`configure_tracing` once, after ``configure_logging``.
It does nothing unless ``CLAIMFLOW_TRACING__ENABLED=true`` (and ``OTEL_SDK_DISABLED`` is not
``true``); then spans go over OTLP/HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the standard
``OTEL_*`` variables configure the exporter, the sampler, the batch processor and the resource;
``service.name`` defaults to ``claimflow-<role>``). Off, every helper here is a no-op.

The trace context travels in W3C ``traceparent`` / ``tracestate`` Kafka headers
(docs/topics.md): :func:`inject_trace_headers` writes the current span's context into the
headers of a message we write, :func:`extract_trace_context` reads it back. Spans:

* receiver: a SERVER span per request (:func:`instrument_asgi`) and a PRODUCER span per
  publish (:func:`producer_span`);
* router: a CONSUMER span per webhook record, a PRODUCER ``create`` span per claim message (its
  context is the message's ``traceparent``), a span per transaction linked to its webhooks;
* handlers: a CONSUMER span per message (a batch gets a ``receive`` span linked to each of its
  messages, and each message its own ``process`` span), a PRODUCER span per publish, SQLAlchemy
  spans (:func:`instrument_engine`), httpx CLIENT spans for the partners; a timer step
  (a partner call made later) continues the trace of the message that created its request,
  whose ``traceparent`` the request's row keeps.

Sampling (:mod:`claimflow.trace_sampling`): parent-based by ratio, ``CLAIMFLOW_TRACING__
SAMPLE_RATIO`` of the deliveries unless ``OTEL_TRACES_SAMPLER`` says otherwise. The decision is
made where a trace starts, before any span: a request sampled out makes no span and builds no
attribute, it only carries a ``traceparent`` that says "not sampled" into the Kafka headers, so
that the router and the handlers make no span for it either.

PHI: span names and attributes hold topics, partitions, offsets, message ids, routes and SQL
text with bound parameters only. URLs lose their query string and error texts are dropped
before export (:class:`_PhiSafeExporter`), SQL parameters are never recorded (the SQLAlchemy
instrumentation records the statement only, and claimflow binds every value), and no body is
ever recorded. tests/e2e checks every span of a full run; tests/test_tracing.py the guard.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, overload
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import (
    Link,
    Span,
    SpanKind,
    Status,
    StatusCode,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from claimflow.settings import TracingSettings
from claimflow.trace_sampling import DecidedTraceIds, ParentBasedRatio, sampler_from_environment

__all__ = [
    "TRACEPARENT",
    "TRACESTATE",
    "configure_tracing",
    "consumer_span",
    "current_span_link",
    "current_traceparent",
    "extract_trace_context",
    "inject_trace_headers",
    "instrument_asgi",
    "instrument_engine",
    "internal_span",
    "links_to",
    "producer_span",
    "shutdown_tracing",
    "trace_headers",
    "tracing_enabled",
    "within_span",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_TRACE_HEADERS = frozenset({TRACEPARENT, TRACESTATE})
_PROPAGATOR = TraceContextTextMapPropagator()
_TRACER_NAME = "claimflow"
# Health probes and scrapes are not deliveries: no spans for them.
_UNTRACED_PATHS = frozenset({"healthz", "readyz", "metrics"})
_URL_ATTRIBUTES = frozenset({"http.url", "url.full", "http.target"})
_EVENT_ATTRIBUTES = frozenset({"exception.type", "exception.escaped"})

_provider: TracerProvider | None = None
# The ``traceparent`` of the HTTP request being served when its new trace was sampled out: set
# only by the SERVER-span middleware, around a request that makes no span. The messages that
# request writes carry it (trace_headers), so that no role downstream traces the delivery.
_SAMPLED_OUT: ContextVar[bytes | None] = ContextVar("claimflow_sampled_out", default=None)


class _PhiSafeExporter(SpanExporter):
    """The last guard before spans leave the process, whatever an instrumentation recorded.

    URL attributes lose their query string (Redox's GET challenge carries the verification
    token there; a partner URL could carry an identifier) and ``url.query`` goes; an error
    status keeps its code but not its text, and an exception event only its type: database
    and HTTP error texts may quote the values of a row or a request.
    """

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export([_redacted(span) for span in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def _redacted(span: ReadableSpan) -> ReadableSpan:
    if _nothing_to_redact(span):  # claimflow's own spans: no copy to make
        return span
    attributes = {
        key: _without_query(value) if key in _URL_ATTRIBUTES and isinstance(value, str) else value
        for key, value in (span.attributes or {}).items()
        if key != "url.query"
    }
    events = [
        Event(
            event.name,
            {k: v for k, v in (event.attributes or {}).items() if k in _EVENT_ATTRIBUTES},
            event.timestamp,
        )
        for event in span.events
    ]
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _nothing_to_redact(span: ReadableSpan) -> bool:
    return (
        not span.events
        and span.status.description is None
        and not any(key in _URL_ATTRIBUTES or key == "url.query" for key in span.attributes or ())
    )


def _without_query(url: str) -> str:
    if url.startswith("/"):
        return url.split("?", 1)[0]
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _disabled_by_environment() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def configure_tracing(
    settings: TracingSettings,
    *,
    role: str,
    http_clients: bool = False,
    exporter: SpanExporter | None = None,
) -> bool:
    """Install the tracer provider of this process, once; ``True`` if tracing is on.

    ``http_clients`` adds httpx CLIENT spans (the partner handlers' calls; the receiver and the
    router make none). ``exporter`` replaces the OTLP/HTTP exporter (tests pass one in memory).
    """
    global _provider
    if _provider is not None:
        return True
    if not settings.enabled or _disabled_by_environment():
        return False
    from importlib.metadata import PackageNotFoundError, version

    try:
        attributes: dict[str, str] = {"service.version": version("claimflow")}
    except PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        attributes = {}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = f"claimflow-{role}"
    provider = TracerProvider(
        resource=Resource.create(attributes),
        sampler=sampler_from_environment(settings.sample_ratio),
        id_generator=DecidedTraceIds(),
    )
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(_PhiSafeExporter(exporter)))
    trace.set_tracer_provider(provider)
    if http_clients:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    _provider = provider
    return True


def shutdown_tracing() -> None:
    """Flush the spans still buffered (the provider also does it at exit)."""
    if _provider is not None:
        _provider.force_flush()


def tracing_enabled() -> bool:
    return _provider is not None


_cached_tracer: tuple[TracerProvider, trace.Tracer] | None = None


def _tracer() -> trace.Tracer:
    """claimflow's tracer of the installed provider (made once: ``get_tracer`` is not cheap)."""
    global _cached_tracer
    assert _provider is not None
    if _cached_tracer is None or _cached_tracer[0] is not _provider:
        _cached_tracer = (_provider, _provider.get_tracer(_TRACER_NAME))
    return _cached_tracer[1]


def instrument_asgi(app: Any, *, routes: Iterable[str] = ()) -> Any:
    """``app`` with a SERVER span per HTTP request when tracing is on; else ``app`` itself.

    ``routes`` are the paths that name a span (``POST /webhooks/redox``); any other path is
    left out of the span, so that a scanner's made-up URL never reaches a trace.
    """
    if _provider is None:
        return app
    return _ServerSpans(app, frozenset(routes))


class _ServerSpans:
    """A SERVER span per request, continuing an incoming W3C ``traceparent``.

    Not ``opentelemetry-instrumentation-asgi``: that middleware costs about 100 µs of CPU per
    request on top of its span (attribute and metric collection, wrapped ``send``) — more than
    the whole overhead budget of the receiver (docs/performance.md). This one records what a
    trace needs and nothing that could hold PHI: method, route, status. Health probes and
    scrapes get no span. A request whose trace is sampled out gets no span either: a new
    trace's decision is made first (:func:`_sampled_out_root`), and then the request only
    carries the ``traceparent`` that says "not sampled" for the messages it writes, without
    any OpenTelemetry object; so it costs next to nothing.
    """

    def __init__(self, app: Any, routes: frozenset[str]) -> None:
        self._app = app
        self._routes = routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.strip("/") in _UNTRACED_PATHS:
            await self._app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name in (b"traceparent", b"tracestate")
        }
        parent = _PROPAGATOR.extract(carrier) if carrier else None
        if parent is not None and trace.get_current_span(parent).get_span_context().is_valid:
            if _sampled_out_by_parent(parent) is not None:  # Redox's own trace, sampled out
                token = otel_context.attach(parent)
                try:
                    await self._app(scope, receive, send)
                finally:
                    otel_context.detach(token)
                return
        elif (sampled_out := _sampled_out_root()) is not None:
            reset = _SAMPLED_OUT.set(sampled_out)
            try:
                await self._app(scope, receive, send)
            finally:
                _SAMPLED_OUT.reset(reset)
            return
        method = scope.get("method", "")
        route = path if path in self._routes else None
        attributes: dict[str, str | int] = {"http.request.method": method}
        if route is not None:
            attributes["http.route"] = route
        with _tracer().start_as_current_span(
            f"{method} {route}" if route else method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
        ) as span:

            async def send_status(message: Any) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            await self._app(scope, receive, send_status)


def _sampled_out_root() -> bytes | None:
    """The ``traceparent`` of a new trace that is sampled out, or ``None`` to trace it.

    Decided as the provider's sampler would (:class:`ParentBasedRatio`): a new trace id,
    sampled by ratio. A sampled trace's id is handed to the SDK (:class:`DecidedTraceIds`), so
    that its span is the one decided on. With any other sampler, ``None``: every request takes
    the SDK's path.
    """
    assert _provider is not None
    sampler, ids = _provider.sampler, _provider.id_generator
    if not isinstance(sampler, ParentBasedRatio) or not isinstance(ids, DecidedTraceIds):
        return None
    # Ids as the SDK's RandomIdGenerator draws them (0 is the invalid id), two calls fewer.
    trace_id = random.getrandbits(128) or 1
    if sampler.samples_root(trace_id):
        ids.preset_trace_id(trace_id)
        return None
    # The flags the SDK gives a trace sampled out: not sampled (01 clear), a random id (02).
    return f"00-{trace_id:032x}-{random.getrandbits(64) or 1:016x}-02".encode()


def _sampled_out_by_parent(parent: Context | None) -> Span | None:
    """The parent span when a parent-based sampler drops its child: it is not sampled.

    ``parent`` ``None`` is the current context. The child then gets no span of its own (the
    SDK would make a non-recording one, with the same trace id and flags).
    """
    assert _provider is not None
    if not isinstance(_provider.sampler, ParentBasedRatio):
        return None
    span = trace.get_current_span(parent)
    context = span.get_span_context()
    return span if context.is_valid and not context.trace_flags.sampled else None


@contextlib.contextmanager
def _without_span(parent: Context | None, span: Span) -> Iterator[Span]:
    """``parent`` as the current context (so that headers carry its decision), no new span."""
    if parent is None:
        yield span
        return
    token = otel_context.attach(parent)
    try:
        yield span
    finally:
        otel_context.detach(token)


def instrument_engine(engine: Any) -> None:
    """SQLAlchemy spans for an async engine (statement text only, never its parameters)."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpMeter

    usage = NoOpMeter("claimflow").create_up_down_counter("db.client.connections.usage")
    tracer = trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", tracer_provider=_provider)
    EngineTracer(tracer, engine.sync_engine, usage, enable_commenter=False)  # type: ignore[no-untyped-call]


# -- the trace context in Kafka headers ------------------------------------------------------


def trace_headers() -> dict[str, bytes]:
    """``traceparent`` (and ``tracestate``) of the current span; empty when there is none."""
    if _provider is None:
        return {}
    sampled_out = _SAMPLED_OUT.get()
    if sampled_out is not None:
        return {TRACEPARENT: sampled_out}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return {name: value.encode() for name, value in carrier.items()}


def current_traceparent() -> str | None:
    """The current span's ``traceparent`` (kept with a request that a timer sends later)."""
    value = trace_headers().get(TRACEPARENT)
    return value.decode() if value is not None else None


@overload
def inject_trace_headers(headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]: ...
@overload
def inject_trace_headers(headers: Mapping[str, bytes]) -> dict[str, bytes]: ...
def inject_trace_headers(
    headers: list[tuple[str, bytes]] | Mapping[str, bytes],
) -> list[tuple[str, bytes]] | Mapping[str, bytes]:
    """``headers`` with the current span's trace context, replacing any copied from an input.

    Takes the two shapes producers use: a list of ``(name, bytes)`` pairs, or a dict.
    """
    carrier = trace_headers()
    if isinstance(headers, Mapping):
        return {**headers, **carrier}
    if not carrier:
        return headers
    kept: list[tuple[str, bytes]] = [
        (name, value) for name, value in headers if name not in _TRACE_HEADERS
    ]
    return [*kept, *carrier.items()]


def extract_trace_context(
    headers: Mapping[str, bytes] | Iterable[tuple[str, bytes | None]] | None,
) -> Context | None:
    """The trace context a message carries (``None`` if none, or if tracing is off)."""
    if _provider is None or headers is None:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    carrier = {
        name: value.decode("latin-1")
        for name, value in pairs
        if name in _TRACE_HEADERS and value is not None
    }
    if TRACEPARENT not in carrier:
        return None
    return _PROPAGATOR.extract(carrier)


def _context_of_traceparent(traceparent: str | None) -> Context | None:
    if _provider is None or not traceparent:
        return None
    return _PROPAGATOR.extract({TRACEPARENT: traceparent})


def _link_to(context: Context | None) -> Link | None:
    if context is None:
        return None
    span_context = trace.get_current_span(context).get_span_context()
    return Link(span_context) if span_context.is_valid else None


def links_to(contexts: Iterable[Context | None]) -> list[Link]:
    """Links to the spans of ``contexts`` (those that are valid)."""
    return [link for link in map(_link_to, contexts) if link is not None]


def _messaging(
    topic: str, *, operation: str, partition: int | None, offset: int | None, message_id: Any
) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.operation.type": operation,
    }
    if partition is not None:
        attributes["messaging.destination.partition.id"] = str(partition)
    if offset is not None:
        attributes["messaging.kafka.offset"] = offset
    if isinstance(message_id, bytes):
        message_id = message_id.decode("utf-8", "replace")
    if isinstance(message_id, str) and message_id:
        attributes["messaging.message.id"] = message_id
    return attributes


def _message_id_of(
    headers: Mapping[str, bytes] | Sequence[tuple[str, bytes | None]] | None,
) -> bytes | None:
    from router.topics import HEADERS

    if headers is None:
        return None
    if isinstance(headers, Mapping):
        return headers.get(HEADERS.MESSAGE_ID)
    for name, value in headers:
        if name == HEADERS.MESSAGE_ID:
            return value
    return None


@contextlib.contextmanager
def consumer_span(
    topic: str,
    headers: Mapping[str, bytes] | Sequence[tuple[str, bytes | None]] | None,
    *,
    operation: str = "process",
    partition: int | None = None,
    offset: int | None = None,
    links: Sequence[Link] = (),
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[Span | None]:
    """A CONSUMER span continuing the trace of the message (``None`` when tracing is off)."""
    if _provider is None:
        yield None
        return
    parent = extract_trace_context(headers)
    if parent is not None and (dropped := _sampled_out_by_parent(parent)) is not None:
        with _without_span(parent, dropped) as span:
            yield span
        return
    with _tracer().start_as_current_span(
        f"{topic} {operation}",
        context=parent,
        kind=SpanKind.CONSUMER,
        links=links,
    ) as span:
        if span.is_recording():  # a trace sampled out costs no attributes
            span.set_attributes(
                _messaging(
                    topic,
                    operation=operation,
                    partition=partition,
                    offset=offset,
                    message_id=_message_id_of(headers),
                )
            )
            span.set_attributes(attributes or {})
        yield span


_NO_SPAN: contextlib.nullcontext[None] = contextlib.nullcontext()
_NO_SPAN_SAMPLED_OUT = contextlib.nullcontext(trace.INVALID_SPAN)


def producer_span(
    topic: str,
    headers: Mapping[str, bytes] | Sequence[tuple[str, bytes | None]] | None = None,
    *,
    operation: str = "publish",
    parent_from_headers: bool = False,
    attributes: Mapping[str, str | int] | None = None,
) -> contextlib.AbstractContextManager[Span | None]:
    """A PRODUCER span for a message written to ``topic``; inject its context into the message.

    With ``parent_from_headers``, a message that already carries a ``traceparent`` (an outbox
    message, stored with the context of the message that caused it) continues that trace.
    ``None`` when tracing is off; a non-recording span in a request sampled out (no span: its
    headers say "not sampled"), without building a context manager for it.
    """
    if _provider is None:
        return _NO_SPAN
    if not parent_from_headers and _SAMPLED_OUT.get() is not None:
        return _NO_SPAN_SAMPLED_OUT
    return _producer_span(
        topic,
        headers,
        operation=operation,
        parent_from_headers=parent_from_headers,
        attributes=attributes,
    )


@contextlib.contextmanager
def _producer_span(
    topic: str,
    headers: Mapping[str, bytes] | Sequence[tuple[str, bytes | None]] | None,
    *,
    operation: str,
    parent_from_headers: bool,
    attributes: Mapping[str, str | int] | None,
) -> Iterator[Span | None]:
    assert _provider is not None
    parent = extract_trace_context(headers) if parent_from_headers else None
    if (dropped := _sampled_out_by_parent(parent)) is not None:
        with _without_span(parent, dropped) as span:
            yield span
        return
    with _tracer().start_as_current_span(
        f"{topic} {operation}",
        context=parent,
        kind=SpanKind.PRODUCER,
    ) as span:
        if span.is_recording():  # a trace sampled out costs no attributes
            span.set_attributes(
                _messaging(
                    topic,
                    operation="send" if operation == "publish" else operation,
                    partition=None,
                    offset=None,
                    message_id=_message_id_of(headers),
                )
            )
            span.set_attributes(attributes or {})
        yield span


@contextlib.contextmanager
def internal_span(
    name: str,
    *,
    traceparent: str | None = None,
    links: Sequence[Link] = (),
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[Span | None]:
    """An INTERNAL span; with ``traceparent``, it continues that (stored) trace context."""
    if _provider is None:
        yield None
        return
    with _tracer().start_as_current_span(
        name,
        context=_context_of_traceparent(traceparent),
        kind=SpanKind.INTERNAL,
        links=links,
        attributes=attributes,
    ) as span:
        yield span


@contextlib.contextmanager
def within_span(span: Span | None) -> Iterator[None]:
    """Continue in ``span``, ended or not (nothing when it is None): what starts here is its
    child, and the headers written here carry its trace (work done for a message after its
    own span, such as a batch's end for its last message)."""
    if span is None:
        yield
        return
    with trace.use_span(span, end_on_exit=False):
        yield


def current_span_link() -> list[Link]:
    """A link to the current span (for a span that starts a trace of its own, or not)."""
    return links_to([otel_context.get_current()])
