"""One real flow across services: auth's `user.created` reaches agents, once, with the
request ID and trace of the HTTP call that caused it."""

from __future__ import annotations

import uuid

from shared.db import connect
from tests.agents_helpers import directory_row
from tests.helpers import eventually, log_records, publish_raw, run_remit, user_created


async def _processed_rows(settings, event_id):
    connection = await connect(settings.database_url, "agents")
    try:
        return await connection.fetch(
            "SELECT * FROM processed_events WHERE event_id = $1", event_id
        )
    finally:
        await connection.close()


async def _create_user(client, admin_token, request_id):
    response = await client.post(
        "/api/v1/users",
        json={
            "email": f"u{uuid.uuid4().hex[:8]}@example.com",
            "password": "a-long-password-1",
            "role": "agent",
        },
        headers={"Authorization": f"Bearer {admin_token}", "X-Request-ID": request_id},
    )
    assert response.status_code == 201, response.text
    assert response.headers["x-request-id"] == request_id
    return response.json()


async def test_request_id_crosses_http_outbox_kafka_and_consumer(
    platform, settings, client, admin_token
):
    request_id = f"flow-{uuid.uuid4()}"
    user = await _create_user(client, admin_token, request_id)
    user_id = uuid.UUID(user["id"])

    row = await eventually(lambda: directory_row(settings, user_id), lambda r: r is not None)
    assert row["email"] == user["email"] and row["role"] == "agent"

    auth = await connect(settings.database_url, "auth")
    try:
        envelope = await auth.fetchval(
            "SELECT envelope FROM outbox WHERE envelope->'payload'->>'userId' = $1", user["id"]
        )
    finally:
        await auth.close()
    assert envelope["request_id"] == request_id
    assert envelope["type"] == "user.created" and envelope["producer"] == "auth"
    assert envelope["traceparent"]

    processed = await _processed_rows(settings, uuid.UUID(envelope["event_id"]))
    assert [r["request_id"] for r in processed] == [request_id]

    def lines(service):
        return [
            r
            for r in log_records(platform.log_dir / f"{service}.log")
            if r.get("request_id") == request_id
        ]

    auth_lines = await eventually(
        _async(lambda: lines("auth")),
        lambda found: any(r.get("path") == "/api/v1/users" for r in found),
    )
    agents_lines = await eventually(
        _async(lambda: lines("agents")),
        lambda found: any(r["message"] == "event handled" for r in found),
    )
    http_line = next(r for r in auth_lines if r.get("path") == "/api/v1/users")
    assert http_line["method"] == "POST" and http_line["status"] == 201
    assert http_line["level"] == "INFO" and http_line["service"] == "auth"
    assert isinstance(http_line["duration_ms"], float)
    handled = next(r for r in agents_lines if r["message"] == "event handled")
    assert handled["service"] == "agents"
    # One trace: the consumer's span continues the HTTP request's trace via Kafka headers.
    assert handled["trace_id"] == http_line["trace_id"] == envelope["traceparent"].split("-")[1]


def _async(function):
    async def probe():
        return function()

    return probe


async def test_redelivered_event_is_handled_once(platform, settings):
    user_id = uuid.uuid4()
    event = user_created(user_id, "twice@example.com")
    event = event.model_copy(update={"request_id": f"redeliver-{uuid.uuid4()}"})
    assert event.request_id
    await publish_raw(
        settings.kafka_bootstrap_servers,
        "user.created",
        [(str(user_id).encode(), event.model_dump_json().encode())] * 3,
        headers=[("x-request-id", event.request_id.encode())],
    )

    def handled_lines():
        return [
            r
            for r in log_records(platform.log_dir / "agents.log")
            if r.get("event_id") == str(event.event_id)
        ]

    found = await eventually(_async(handled_lines), lambda lines: len(lines) == 3)
    assert sorted(r["message"] for r in found) == [
        "duplicate event skipped",
        "duplicate event skipped",
        "event handled",
    ]
    assert len(await _processed_rows(settings, event.event_id)) == 1
    assert (await directory_row(settings, user_id))["email"] == "twice@example.com"


async def test_trace_prints_the_requests_timeline_across_services(
    platform, settings, client, admin_token
):
    import os

    request_id = f"trace-{uuid.uuid4()}"
    await _create_user(client, admin_token, request_id)

    def run_trace() -> str:
        env = {**os.environ, "DATABASE_URL": settings.database_url}
        result = run_remit(
            "trace", request_id, "--logs", str(platform.log_dir), env=env, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return str(result.stdout)

    async def probe() -> str:
        return run_trace()

    timeline = await eventually(probe, lambda out: "event in" in out)
    lines = timeline.splitlines()
    assert any(
        "auth" in line and "http" in line and "POST /api/v1/users → 201" in line for line in lines
    )
    assert any("auth" in line and "event out" in line and "user.created" in line for line in lines)
    assert any("agents" in line and "event in" in line and "user.created" in line for line in lines)
    assert lines[:-1] == sorted(lines[:-1])  # in time order, then how the request went
    assert lines[-1] == "outcome: no failure recorded"

    # Where the logs are a stream (docker compose logs, with its "name  | " prefixes):
    streamed = "".join(
        f"auth-1  | {line}\n" for line in (platform.log_dir / "auth.log").read_text().splitlines()
    )
    env = {**os.environ, "DATABASE_URL": settings.database_url}
    piped = run_remit("trace", request_id, "--logs", "-", env=env, stdin=streamed, timeout=60)
    assert piped.returncode == 0, piped.stderr
    assert "POST /api/v1/users → 201" in piped.stdout
