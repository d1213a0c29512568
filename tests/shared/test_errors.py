"""Every 4xx/5xx answers `{"error", "details", "requestId"}`; request IDs are kept or minted."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from shared.http import install_http_edge
from shared.logs import json_handler


def _assert_error_shape(response, status, error):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "details", "requestId"}
    assert body["error"] == error
    assert body["requestId"] == response.headers["x-request-id"]
    return body


async def test_malformed_json_is_a_validation_error(client):
    response = await client.post(
        "/api/v1/auth/login",
        content=b'{"email": "a@example.com", "password": ',
        headers={"content-type": "application/json"},
    )
    body = _assert_error_shape(response, 400, "Validation error")
    assert body["details"].startswith("Malformed JSON body")


async def test_an_invalid_email_is_named_in_one_sentence(client):
    response = await client.post("/api/v1/auth/login", json={"email": "nope", "password": "x"})
    body = _assert_error_shape(response, 400, "Validation error")
    assert body["details"] == '"email" must be a valid email'


async def test_wrong_type_and_missing_field(client):
    wrong = await client.post("/api/v1/auth/login", json={"email": "a@example.com", "password": 5})
    assert _assert_error_shape(wrong, 400, "Validation error")["details"] == (
        '"password" must be a string'
    )
    missing = await client.post("/api/v1/auth/login", json={"email": "a@example.com"})
    assert _assert_error_shape(missing, 400, "Validation error")["details"] == (
        '"password" is required'
    )
    not_object = await client.post("/api/v1/auth/login", json=[1, 2])
    _assert_error_shape(not_object, 400, "Validation error")


async def test_unknown_route_and_wrong_method(client):
    unknown = await client.get("/api/v1/no-such-thing")
    body = _assert_error_shape(unknown, 404, "Not Found")
    assert body["details"] == "Route GET /api/v1/no-such-thing does not exist"
    wrong_method = await client.delete("/api/v1/auth/login")
    _assert_error_shape(wrong_method, 405, "Method Not Allowed")


async def test_missing_token_is_401_naming_the_header(client):
    response = await client.get("/api/v1/auth/me")
    body = _assert_error_shape(response, 401, "Unauthorized")
    assert "Authorization: Bearer <token>" in body["details"]


async def test_callers_request_id_is_kept_and_insane_ones_replaced(client):
    mine = f"req-{uuid.uuid4()}"
    kept = await client.get("/api/v1/health", headers={"X-Request-ID": mine})
    assert kept.headers["x-request-id"] == mine
    insane = await client.get("/api/v1/health", headers={"X-Request-ID": "bad id; drop table"})
    assert insane.headers["x-request-id"] != "bad id; drop table"
    uuid.UUID(insane.headers["x-request-id"])
    minted = await client.get("/api/v1/health")
    uuid.UUID(minted.headers["x-request-id"])


async def test_unhandled_error_is_a_clean_500():
    app = FastAPI()
    install_http_edge(app, "tests", slow_request_ms=1000)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    async with AsyncClient(
        transport=ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as http:
        response = await http.get("/boom", headers={"X-Request-ID": "trace-me-1"})
    body = _assert_error_shape(response, 500, "Internal Server Error")
    assert body["requestId"] == "trace-me-1"
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


async def test_slow_requests_warn_with_their_duration_and_errors_log_the_request_id():
    stream = io.StringIO()
    handler = json_handler("campaigns", stream)
    http_logger = logging.getLogger("http")  # shared.http's access and error lines
    http_logger.addHandler(handler)
    app = FastAPI()
    install_http_edge(app, "tests", slow_request_ms=50)

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(0.1)
        return {"ok": True}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    try:
        async with AsyncClient(
            transport=ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
        ) as http:
            await http.get("/slow", headers={"X-Request-ID": "slow-1"})
            await http.get("/boom", headers={"X-Request-ID": "boom-1"})
    finally:
        http_logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    slow_line = next(line for line in lines if line["message"] == "slow request")
    assert slow_line["level"] == "WARNING" and slow_line["request_id"] == "slow-1"
    assert slow_line["path"] == "/slow" and slow_line["duration_ms"] >= 50
    error = next(line for line in lines if line["message"] == "unhandled error")
    assert error["level"] == "ERROR" and error["request_id"] == "boom-1"
    assert error["service"] == "campaigns" and "RuntimeError" in error["exc_info"]
