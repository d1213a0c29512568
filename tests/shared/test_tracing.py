"""Spans go to an OTLP/HTTP collector when OTEL_EXPORTER_OTLP_ENDPOINT is set."""

from __future__ import annotations

import itertools
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from shared.context import request_id_var
from shared.tracing import (
    TraceContextMiddleware,
    WorkingIn,
    build_tracer_provider,
    continued,
    continued_span,
    current_traceparent,
)


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Collector.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


def test_spans_are_exported_over_otlp_http():
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        provider = build_tracer_provider("campaigns", f"http://127.0.0.1:{server.server_port}")
        with provider.get_tracer("test").start_as_current_span("campaign.start"):
            pass
        assert provider.force_flush(10_000)
        provider.shutdown()
    finally:
        server.shutdown()
    paths = [path for path, _ in _Collector.received]
    assert paths and set(paths) == {"/v1/traces"}
    body = b"".join(body for _, body in _Collector.received)
    assert b"campaign.start" in body and b"campaigns" in body


def test_no_exporter_without_endpoint_yet_ids_carry_on():
    """Nothing recorded, but a span continued from an event's `traceparent` stays in its
    trace (the logs' trace ID), and passes on a child of its own."""
    provider = build_tracer_provider("auth", None)
    assert provider._active_span_processor._span_processors == ()
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    span = provider.get_tracer("test").start_span(
        "event process", context=propagate.extract({"traceparent": parent})
    )
    assert not span.is_recording()
    with trace.use_span(span, end_on_exit=True):
        passed_on = current_traceparent() or ""
    _, trace_id, span_id, _ = passed_on.split("-")
    assert trace_id == "0af7651916cd43dd8448eb211c80319c" and span_id != "b7ad6b7169203331"


@pytest.mark.parametrize(
    "traceparent",
    [
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # sampled
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02",  # a random trace ID
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-more",  # a later version
        None,
        "not a traceparent",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # no trace ID
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # no parent span
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # a forbidden version
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-more",  # extra in version 00
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  # upper case
    ],
)
def test_without_an_exporter_a_continued_span_is_the_one_the_sdk_would_make(
    monkeypatch, traceparent
):
    """Recording nothing, the consumer's span is made by hand: the same trace (or a new one
    for a missing or invalid parent), a new span ID and the same flags as the SDK's."""
    provider = build_tracer_provider("agents", None)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    carrier = {"traceparent": traceparent} if traceparent else {}
    made_by_sdk = provider.get_tracer("test").start_span(
        "event process", context=propagate.extract(carrier)
    )
    made_here = continued_span("event process", traceparent, trace.SpanKind.CONSUMER)
    ours, theirs = made_here.get_span_context(), made_by_sdk.get_span_context()
    assert not made_here.is_recording() and ours.is_valid
    parent = trace.get_current_span(propagate.extract(carrier)).get_span_context()
    if parent.is_valid:
        assert ours.trace_id == theirs.trace_id == parent.trace_id
        assert ours.span_id != parent.span_id
    else:
        assert ours.trace_id != theirs.trace_id  # each began a trace of its own
    assert ours.trace_flags == theirs.trace_flags
    with trace.use_span(made_here):
        assert current_traceparent() == (
            f"00-{ours.trace_id:032x}-{ours.span_id:016x}-{int(ours.trace_flags):02x}"
        )
    with trace.use_span(made_by_sdk):
        injected: dict[str, str] = {}
        propagate.inject(injected)
        assert current_traceparent() == injected["traceparent"]


def test_work_continued_from_recorded_trace_context_chains_parent_to_child():
    """In memory: the start request's span, the scheduler's step_due publish (from the
    traceparent the campaign recorded), the agents' consumer span (from the event's) and the
    notifier's send (from the message's) form one trace, each the child of the one before."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    start = provider.get_tracer("campaigns").start_as_current_span(
        "POST /api/v1/campaigns/{id}/start", kind=trace.SpanKind.SERVER
    )
    with start:
        recorded = current_traceparent()  # what the campaign row keeps
    chain = [
        ("campaign.step_due publish", trace.SpanKind.PRODUCER),
        ("campaign.step_due process", trace.SpanKind.CONSUMER),
        ("message.send", trace.SpanKind.CLIENT),
    ]
    for name, kind in chain:
        with continued(name, "req-chain", recorded, kind):
            recorded = current_traceparent()  # what the next hop records (envelope, row)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    names = ["POST /api/v1/campaigns/{id}/start"] + [name for name, _ in chain]
    assert len({spans[name].context.trace_id for name in names}) == 1
    for parent, child in itertools.pairwise(names):
        link = spans[child].parent
        assert link is not None and link.span_id == spans[parent].context.span_id
    assert [spans[name].kind for name, _ in chain] == [kind for _, kind in chain]


async def _traceparent_seen(headers: dict[str, str]) -> str:
    """What a request handled behind TraceContextMiddleware would pass on to its events."""

    async def endpoint(scope, receive, send) -> None:
        body = (current_traceparent() or "").encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    transport = httpx.ASGITransport(app=TraceContextMiddleware(endpoint))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return (await http.get("/", headers=headers)).text


async def test_a_request_without_spans_continues_its_callers_trace():
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    seen = await _traceparent_seen({"traceparent": caller})
    version, trace_id, span_id, flags = seen.split("-")
    assert (version, trace_id, flags) == ("00", "0af7651916cd43dd8448eb211c80319c", "01")
    assert span_id != "b7ad6b7169203331"  # this request's own place in the trace


async def test_a_request_without_a_caller_begins_a_trace_of_its_own():
    first, second = [await _traceparent_seen({}) for _ in range(2)]
    assert first.split("-")[1] != second.split("-")[1]
    assert first.endswith("-00")  # nothing was recorded, and the flag says so
    assert await _traceparent_seen({"traceparent": "garbage"}) != ""


async def test_exported_server_spans_keep_no_link_token():
    """The HTTP instrumentation records each request's address; a debtor's link token in it
    is replaced before the span leaves, as in the logs."""
    from fastapi import FastAPI
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    from shared.tracing import redact_addresses

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = FastAPI()

    @app.get("/api/v1/portal/{token}")
    async def portal(token: str) -> dict[str, str]:
        return {"seen": "yes"}

    FastAPIInstrumentor.instrument_app(
        app,
        exclude_spans=["receive", "send"],
        server_request_hook=redact_addresses,
        tracer_provider=provider,
    )
    token = "AbCdEfGhIjKlMnOpQrStUv.0123456789abcdef"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://portal.test"
    ) as client:
        assert (await client.get(f"/api/v1/portal/{token}?paid=1")).status_code == 200
    (span,) = exporter.get_finished_spans()
    recorded = " ".join(str(value) for value in (span.attributes or {}).values())
    assert "/api/v1/portal/<token>" in recorded and token not in recorded + span.name


def test_an_error_escaping_continued_work_is_recorded_on_its_span_and_the_context_restored():
    """As `trace.use_span` would: the exception is recorded and the span's status is ERROR,
    the span ends, and the request ID and current span are the caller's again."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("agents").start_span("task.compose")
    with (
        pytest.raises(ValueError, match="no template"),
        WorkingIn(span, "req-err", end_on_exit=True),
    ):
        assert request_id_var.get() == "req-err"
        assert trace.get_current_span() is span
        raise ValueError("no template")
    assert request_id_var.get() is None and trace.get_current_span() is not span
    (finished,) = exporter.get_finished_spans()
    assert finished.status.status_code is StatusCode.ERROR
    assert finished.status.description == "ValueError: no template"
    assert [event.name for event in finished.events] == ["exception"]
    kept = provider.get_tracer("agents").start_span("still open")
    with WorkingIn(kept, "req-ok"):
        pass
    assert kept.is_recording() and request_id_var.get() is None  # not ended, nothing recorded
