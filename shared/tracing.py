"""OpenTelemetry: one tracer provider per process, context carried in Kafka headers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from shared.context import request_id_var

HEADER_TRACEPARENT = "traceparent"
tracer = trace.get_tracer(__name__)


def build_tracer_provider(service: str, otlp_endpoint: str | None) -> TracerProvider:
    """Spans named for `service`, exported over OTLP/HTTP only when an endpoint is set."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if otlp_endpoint:
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
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get(HEADER_TRACEPARENT)


@contextmanager
def continued(
    span_name: str,
    request_id: str | None,
    traceparent: str | None,
    kind: trace.SpanKind,
    attributes: Mapping[str, str] | None = None,
) -> Iterator[None]:
    """Work done on behalf of an earlier request (an event, a step it scheduled): its logs
    carry that request's ID and its span joins that request's trace."""
    span = continued_span(span_name, traceparent, kind, attributes)
    with trace.use_span(span, end_on_exit=True), with_request_id(request_id):
        yield


def continued_span(
    span_name: str,
    traceparent: str | None,
    kind: trace.SpanKind,
    attributes: Mapping[str, str] | None = None,
) -> trace.Span:
    """A span started as a child of `traceparent` (a new trace without one), not yet current:
    the caller makes it current (`trace.use_span`) while working in it, and ends it."""
    carrier = {HEADER_TRACEPARENT: traceparent} if traceparent else {}
    return tracer.start_span(
        span_name, context=context_from_headers(carrier), kind=kind, attributes=attributes
    )


@contextmanager
def with_request_id(request_id: str | None) -> Iterator[None]:
    """Log lines and events made inside carry `request_id`."""
    token = request_id_var.set(request_id)
    try:
        yield
    finally:
        request_id_var.reset(token)
