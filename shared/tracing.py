"""OpenTelemetry: one tracer provider per process, context carried in Kafka headers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextvars import Token
from types import TracebackType

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import Status, StatusCode
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.context import request_id_var
from shared.http import loggable_path

HEADER_TRACEPARENT = "traceparent"
tracer = trace.get_tracer(__name__)


def build_tracer_provider(service: str, otlp_endpoint: str | None) -> TracerProvider:
    """Spans named for `service`, exported over OTLP/HTTP only when an endpoint is set. Without
    one, no span is recorded: each still gets its IDs (the logs' trace ID, the `traceparent`
    passed on with events), but building spans nobody reads would cost every event's hops."""
    resource = Resource.create({"service.name": service})
    if not otlp_endpoint:
        return TracerProvider(resource=resource, sampler=ALWAYS_OFF)
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(otlp_endpoint)))
    return provider


def configure_tracing(service: str, otlp_endpoint: str | None) -> None:
    """Install the process's tracer provider once."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(build_tracer_provider(service, otlp_endpoint))


def _otlp_exporter(endpoint: str) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")


def context_from_headers(headers: Mapping[str, str]) -> Context:
    """The trace context a Kafka message carried (W3C `traceparent`)."""
    return propagate.extract(dict(headers))


def current_traceparent() -> str | None:
    """The current span's W3C `traceparent` (as the trace-context propagator writes it), or
    None outside any trace."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


class WorkingIn:
    """While inside, `span` is the current span and `request_id` the current request's: log
    lines, rows and events made there carry both. An exception escaping is recorded on a
    recording span, as `trace.use_span` records it, and the span ends on leaving when
    `end_on_exit`. A class rather than generator-based context managers: every event's
    handling enters one, several per hop."""

    __slots__ = ("_end_on_exit", "_request_id", "_span", "_tokens")

    def __init__(self, span: trace.Span, request_id: str | None, *, end_on_exit: bool = False):
        self._span = span
        self._request_id = request_id
        self._end_on_exit = end_on_exit
        self._tokens: tuple[object, Token[str | None]] | None = None

    def __enter__(self) -> None:
        self._tokens = (
            otel_context.attach(trace.set_span_in_context(self._span)),
            request_id_var.set(self._request_id),
        )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._tokens is not None
        context_token, request_token = self._tokens
        request_id_var.reset(request_token)
        otel_context.detach(context_token)  # type: ignore[arg-type]
        if isinstance(error, Exception) and self._span.is_recording():
            self._span.record_exception(error)
            self._span.set_status(
                Status(StatusCode.ERROR, description=f"{type(error).__name__}: {error}")
            )
        if self._end_on_exit:
            self._span.end()


def continued(
    span_name: str,
    request_id: str | None,
    traceparent: str | None,
    kind: trace.SpanKind,
    attributes: Mapping[str, str] | None = None,
) -> WorkingIn:
    """Work done on behalf of an earlier request (an event, a step it scheduled): its logs
    carry that request's ID and its span joins that request's trace."""
    span = continued_span(span_name, traceparent, kind, attributes)
    return WorkingIn(span, request_id, end_on_exit=True)


def continued_span(
    span_name: str,
    traceparent: str | None,
    kind: trace.SpanKind,
    attributes: Mapping[str, str] | None = None,
) -> trace.Span:
    """A span started as a child of `traceparent` (a new trace without one), not yet current:
    the caller makes it current (`trace.use_span`) while working in it, and ends it.

    When this process records no spans, the child is made here, as the SDK would make it (the
    parent's trace, a new span ID, not sampled), without the propagator's parsing and the
    tracer's machinery: every event's hops pay for this."""
    if _records_nothing():
        parent = _parent_of(traceparent)
        trace_id, random_id = parent if parent else (_IDS.generate_trace_id(), True)
        return trace.NonRecordingSpan(
            trace.SpanContext(
                trace_id=trace_id,
                span_id=_IDS.generate_span_id(),
                is_remote=False,
                trace_flags=_RANDOM_ID_FLAGS if random_id else _NO_FLAGS,
            )
        )
    carrier = {HEADER_TRACEPARENT: traceparent} if traceparent else {}
    return tracer.start_span(
        span_name, context=context_from_headers(carrier), kind=kind, attributes=attributes
    )


def _records_nothing() -> bool:
    """The process's provider samples nothing (no exporter: `build_tracer_provider`)."""
    provider = trace.get_tracer_provider()
    return isinstance(provider, TracerProvider) and provider.sampler is ALWAYS_OFF


# W3C trace context: version, trace ID, parent span ID, flags (a later version may add fields).
_TRACEPARENT = re.compile(
    r"^[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?[ \t]*$"
)


_RANDOM_ID_FLAGS = trace.TraceFlags(trace.TraceFlags.RANDOM_TRACE_ID)
_NO_FLAGS = trace.TraceFlags(0)


def _parent_of(traceparent: str | None) -> tuple[int, bool] | None:
    """The trace a `traceparent` continues (its ID, and whether that ID is random), or None when
    it is absent or invalid (then a new trace begins), with the rules of OpenTelemetry's
    trace-context propagator."""
    match = _TRACEPARENT.match(traceparent) if traceparent else None
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    parent_trace = int(trace_id, 16)
    if parent_trace == trace.INVALID_TRACE_ID or int(span_id, 16) == trace.INVALID_SPAN_ID:
        return None
    return parent_trace, bool(int(flags, 16) & trace.TraceFlags.RANDOM_TRACE_ID)


_IDS = RandomIdGenerator()


class TraceContextMiddleware:
    """Each request's trace context, without a span: the caller's `traceparent` continued (or a
    new trace begun) and made current while the request runs, so its log lines carry the trace
    ID and the events it publishes carry the context on. For services that export no spans:
    building a server span per request is then a fifth of the request's CPU, spent on nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        caller = trace.get_current_span(_incoming(scope)).get_span_context()
        span_context = trace.SpanContext(
            trace_id=caller.trace_id if caller.is_valid else _IDS.generate_trace_id(),
            span_id=_IDS.generate_span_id(),
            is_remote=False,
            trace_flags=caller.trace_flags if caller.is_valid else trace.TraceFlags(0),
        )
        token = otel_context.attach(trace.set_span_in_context(trace.NonRecordingSpan(span_context)))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)


# Where the HTTP instrumentation records the request's address, by either naming convention.
_ADDRESS_ATTRIBUTES = ("http.target", "http.url", "url.path", "url.full")


def redact_addresses(span: trace.Span, scope: Mapping[str, object]) -> None:
    """A server span keeps the request's address without its credentials (a debtor's link
    token), as the logs do: exported spans leave the platform."""
    attributes = getattr(span, "attributes", None)
    if not span.is_recording() or not attributes:
        return
    for name in _ADDRESS_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str):
            span.set_attribute(name, loggable_path(value))


def _incoming(scope: Scope) -> Context | None:
    for name, value in scope["headers"]:
        if name == b"traceparent":
            return context_from_headers({HEADER_TRACEPARENT: value.decode("latin-1")})
    return None
