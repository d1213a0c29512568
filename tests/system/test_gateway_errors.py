"""The gateway's own failures: a service down or too slow answers 502/503/504 in the platform's
error shape, with a request ID in the body and in X-Request-ID, logged in gateway.log under
that ID, and the services get the same ID the gateway reports."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.console.settings import CONSOLE
from shared.devstack.processes import free_port
from shared.devstack.servers import Gateway
from shared.http import SECURITY_HEADERS
from shared.settings import SERVICE_NAMES


def _assert_gateway_error(response: httpx.Response, statuses: tuple[int, ...]) -> str:
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "details", "requestId"}, body
    assert body["error"] == response.reason_phrase
    assert body["details"]
    assert response.headers["x-request-id"] == body["requestId"]
    for name, value in SECURITY_HEADERS:
        assert response.headers.get(name) == value, name
    assert "server" not in response.headers
    return str(body["requestId"])


def _gateway_log(log_dir: Path, request_id: str) -> list[dict[str, object]]:
    lines = (log_dir / "gateway.log").read_text(errors="replace").splitlines()
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("request_id") == request_id:
            entries.append(entry)
    return entries


def test_a_stopped_service_answers_in_the_error_shape_with_a_request_id(platform, gateway_url):
    notifier = platform.services["notifier"]
    notifier.stop(30)
    try:
        with httpx.Client(base_url=gateway_url, timeout=30) as client:
            minted = _assert_gateway_error(client.get("/api/v1/suppressions"), (502, 503))
            assert uuid.UUID(minted)

            given = f"gw-test-{uuid.uuid4().hex}"
            answer = client.get("/api/v1/suppressions", headers={"X-Request-ID": given})
            assert _assert_gateway_error(answer, (502, 503)) == given

            # An ID the services would not keep (a space) is replaced, as they would.
            answer = client.get("/api/v1/suppressions", headers={"X-Request-ID": "not sane"})
            assert uuid.UUID(_assert_gateway_error(answer, (502, 503)))

        deadline = time.monotonic() + 5
        while not (logged := _gateway_log(platform.log_dir, given)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert logged, "the gateway did not log its failure under the request ID"
        assert logged[0]["status"] in (502, 503)
        assert "connection refused" in str(logged[0]["cause"])
    finally:
        platform.start_instance("notifier")


def test_the_gateway_logs_no_line_for_a_service_answer(platform, gateway_url):
    given = f"gw-test-{uuid.uuid4().hex}"
    answer = httpx.get(f"{gateway_url}/api/v1/nope", headers={"X-Request-ID": given}, timeout=30)
    assert answer.status_code == 404 and answer.json()["requestId"] == given
    time.sleep(0.3)
    assert _gateway_log(platform.log_dir, given) == []


class _Silent:
    """An upstream that accepts connections, reads each request and never answers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.requests: list[bytes] = []
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)
            connection.settimeout(5)
            received = b""
            while b"\r\n\r\n" not in received:
                try:
                    chunk = connection.recv(4096)
                except OSError:
                    break
                if not chunk:
                    break
                received += chunk
            self.requests.append(received)

    def close(self) -> None:
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def silent_gateway(tmp_path, monkeypatch) -> Iterator[tuple[Gateway, _Silent]]:
    upstream = _Silent()
    monkeypatch.setenv("GATEWAY_UPSTREAM_TIMEOUT", "1s")
    routed = (*SERVICE_NAMES, CONSOLE)
    gateway = Gateway(free_port(), {name: [upstream.port] for name in routed}, tmp_path)
    gateway.start()
    try:
        yield gateway, upstream
    finally:
        gateway.stop()
        upstream.close()


@pytest.mark.servers  # a gateway of its own
def test_a_service_too_slow_to_answer_is_a_504_with_the_id_it_was_sent(silent_gateway):
    gateway, upstream = silent_gateway
    started = time.monotonic()
    answer = httpx.get(f"{gateway.url}/api/v1/campaigns", timeout=30)
    assert time.monotonic() - started < 10
    request_id = _assert_gateway_error(answer, (504,))
    assert answer.json()["error"] == "Gateway Timeout"
    # The service got the ID the gateway minted, so its logs name the one the caller saw.
    assert len(upstream.requests) == 1
    head = upstream.requests[0].decode("latin-1").lower()
    assert f"x-request-id: {request_id}\r\n" in head
