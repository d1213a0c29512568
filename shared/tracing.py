"""OpenTelemetry: one tracer provider per process, context carried in Kafka headers."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter


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
