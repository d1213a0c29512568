"""Spans go to an OTLP/HTTP collector when OTEL_EXPORTER_OTLP_ENDPOINT is set."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from shared.tracing import build_tracer_provider


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


def test_no_exporter_without_endpoint():
    provider = build_tracer_provider("auth", None)
    assert provider._active_span_processor._span_processors == ()
