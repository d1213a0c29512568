"""The operators' commands from a second terminal: with no variable exported they find the
platform `remit up` runs (any ports, STATE_DIR honoured), and `remit trace` shows a failed
request as failed, whatever its log lines hold."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from shared.devstack.platform import REPO_ROOT
from shared.events import Envelope
from shared.ops.dead_letters import redacted
from tests.auth_helpers import bearer
from tests.helpers import eventually, publish_raw, run_remit, schema_sql


def _second_terminal(state_dir: Path, **extra: str) -> dict[str, str]:
    """An operator's shell: no platform variable exported, STATE_DIR pointing at the stack."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": str(REPO_ROOT),
        "STATE_DIR": str(state_dir),
        **extra,
    }


def _remit(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result: subprocess.CompletedProcess[str] = run_remit(*args, env=env, cwd=cwd)
    return result


async def test_commands_find_the_running_platform_by_themselves(platform, client, tmp_path):
    # The test stack runs on ports other than the defaults, from a state directory of its own.
    env = _second_terminal(platform.state_dir)
    request_id = f"second-terminal-{uuid.uuid4()}"
    assert (await client.get("/api/v1/health", headers={"X-Request-ID": request_id})).is_success

    diagnosed = await asyncio.to_thread(_remit, "diagnose", "--json", env=env, cwd=tmp_path)
    assert diagnosed.returncode == 0, diagnosed.stderr
    report = json.loads(diagnosed.stdout)
    for service, pool in report["pools"].items():
        assert isinstance(pool, dict), f"{service}: {pool}"  # reached, not "unreachable"
    assert "error" not in report["database"] and "error" not in report["kafka"]

    listed = await asyncio.to_thread(_remit, "dlq", "list", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    cleared = await asyncio.to_thread(
        _remit, "cache", "clear", "cache:second-terminal:*", env=env, cwd=tmp_path
    )
    assert cleared.returncode == 0, cleared.stderr
    replayed = await asyncio.to_thread(
        _remit, "dlq", "replay", "user.created.dlq", "--message", "0:999999", env=env, cwd=tmp_path
    )
    assert replayed.returncode == 0, replayed.stderr
    assert "skipped 0:999999: no such message in user.created.dlq" in replayed.stdout

    def traced() -> str:
        result = _remit("trace", request_id, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return result.stdout

    timeline = await eventually(lambda: asyncio.to_thread(traced), lambda out: "http" in out)
    assert "GET /api/v1/health → 200" in timeline  # the logs found without --logs


async def test_a_variable_given_wins_over_the_running_platform(platform, tmp_path):
    env = _second_terminal(platform.state_dir, REDIS_URL="redis://127.0.0.1:1/0")
    result = await asyncio.to_thread(_remit, "cache", "clear", "cache:x:*", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "Redis is unavailable" in result.stderr and "Traceback" not in result.stderr


async def test_with_no_platform_running_the_missing_variable_is_named(tmp_path):
    env = _second_terminal(tmp_path / "no-state")
    result = await asyncio.to_thread(_remit, "diagnose", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "DATABASE_URL is required but not set" in result.stderr
    assert "no platform started by `remit up`" in result.stderr


@pytest.fixture
async def broken_agents_table(settings):
    """The agents table renamed away: listing agents fails with an error no handler expects."""
    await schema_sql(settings, "agents", "ALTER TABLE agents RENAME TO agents_away")
    try:
        yield
    finally:
        await schema_sql(settings, "agents", "ALTER TABLE agents_away RENAME TO agents")


async def test_trace_shows_a_500_and_its_error_as_a_failure(
    platform, client, admin_token, broken_agents_table, tmp_path
):
    request_id = f"trace-500-{uuid.uuid4()}"
    answer = await client.get(
        "/api/v1/agents",
        headers={"Authorization": f"Bearer {admin_token}", "X-Request-ID": request_id},
    )
    assert answer.status_code == 500
    env = _second_terminal(platform.state_dir)

    def traced() -> subprocess.CompletedProcess[str]:
        return _remit("trace", request_id, env=env, cwd=tmp_path)

    result = await eventually(
        lambda: asyncio.to_thread(traced), lambda done: "GET /api/v1/agents" in done.stdout
    )
    assert result.returncode == 0, result.stderr  # the `unhandled error` line has no method
    lines = result.stdout.splitlines()
    assert any("GET /api/v1/agents → 500" in line and "FAILED" in line for line in lines)
    errors = [line for line in lines if " error " in line and "unhandled error" in line]
    assert errors and "UndefinedTableError" in errors[0]
    assert lines[-1].startswith("outcome: FAILED")


def test_trace_passes_over_lines_it_cannot_read(tmp_path):
    request_id = "odd-lines-1"
    lines = [
        f"plain text mentioning {request_id}",
        f'{{"request_id": "{request_id}"}}',  # no time
        f'{{"request_id": "{request_id}", "time": "yesterday"}}',
        f'["{request_id}"]',
        f'{{"request_id": "{request_id}", "time": "2026-01-01T00:00:00+00:00", "level": '
        '"ERROR", "message": "connection pool exhausted", "service": "campaigns", '
        '"path": "/api/v1/customers", "error": "no connection within 5 s"}',
    ]
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = run_remit("trace", request_id, "--logs", "-", env=env, stdin="\n".join(lines))
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert "connection pool exhausted (/api/v1/customers): error=no connection within 5 s" in out[0]
    assert out[1].startswith("outcome: FAILED")
    assert out[2].startswith("database: unavailable:")


async def test_a_dead_lettered_reset_email_is_listed_with_its_token_redacted(
    platform, settings, client, admin_token
):
    # A reset request the notifier cannot read (no email) is retried, then dead-lettered.
    secret = f"secret-{uuid.uuid4().hex}"
    user_id = uuid.uuid4()
    request_id = f"dead-letter-{uuid.uuid4()}"
    event = Envelope(
        type="auth.password_reset_requested",
        producer="tests",
        request_id=request_id,
        payload={
            "userId": str(user_id),
            "resetUrl": f"{platform.env['PUBLIC_URL']}/api/v1/auth/reset-password?token={secret}",
            "expiresAt": "2030-01-01T00:00:00+00:00",
        },
    )
    await publish_raw(
        settings.kafka_bootstrap_servers,
        "auth.password_reset_requested",
        [(str(user_id).encode(), event.model_dump_json().encode())],
    )
    topic = "auth.password_reset_requested.dlq"

    async def listed() -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(run_remit, "dlq", "list", topic, env=platform.env)

    shown = await eventually(listed, lambda done: str(event.event_id) in done.stdout, 90)
    assert "reset-password?token=[redacted]" in shown.stdout
    as_json = await asyncio.to_thread(run_remit, "dlq", "list", topic, "--json", env=platform.env)
    api = await client.get(f"/api/v1/diagnostics/dead-letters/{topic}", headers=bearer(admin_token))
    for text in (shown.stdout, as_json.stdout, api.text):
        assert str(event.event_id) in text
        assert secret not in text
    # The request that caused it shows the dead letter, and reads as failed.
    traced = await asyncio.to_thread(
        run_remit, "trace", request_id, "--logs", str(platform.log_dir), env=platform.env
    )
    lines = traced.stdout.splitlines()
    assert any(" error " in line and "event dead-lettered" in line for line in lines), lines
    assert lines[-1].startswith("outcome: FAILED")
    assert secret not in traced.stdout


def test_secrets_are_redacted_wherever_they_sit():
    letter = {
        "payload": {
            "email": "ada@example.com",
            "resetUrl": "https://remit.example/reset-password?token=abc.def&lang=en",
            "nested": [{"password": "hunter2-hunter2"}, {"accessToken": "eyJ..."}],
            "count": 3,
        },
        "error": "ValidationError for Authorization: Bearer eyJabc.def.ghi in header",
        "raw": '{"payload": {"newPassword": "hunter2 \\"quoted\\"", "name": "Ada"}',
    }
    assert redacted(letter) == {
        "payload": {
            "email": "ada@example.com",
            "resetUrl": "https://remit.example/reset-password?token=[redacted]&lang=en",
            "nested": [{"password": "[redacted]"}, {"accessToken": "[redacted]"}],
            "count": 3,
        },
        "error": "ValidationError for Authorization: Bearer [redacted] in header",
        "raw": '{"payload": {"newPassword": "[redacted]", "name": "Ada"}',
    }


def _record(time: str, service: str, level: str, message: str, **extra: object) -> str:
    return json.dumps(
        {"time": time, "level": level, "service": service, "message": message, **extra}
    )


def test_logs_are_merged_in_time_order_and_filtered(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    auth = [
        _record("2026-12-01T10:00:00.100+00:00", "auth", "INFO", "request",
                path="/api/v1/auth/login", status=200, duration_ms=3, request_id="r1"),
        "Traceback (most recent call last): not a JSON line",
        _record("2026-12-01T10:00:00.400+00:00", "auth", "ERROR", "unhandled error",
                path="/api/v1/users", request_id="r2"),
    ]  # fmt: skip
    slow = _record("2026-12-01T10:00:00.200+00:00", "campaigns", "WARNING", "slow request",
                   path="/api/v1/customers", status=200, duration_ms=1500, request_id="r1")  # fmt: skip
    replica = _record("2026-12-01T10:00:00.300+00:00", "campaigns", "INFO", "request",
                      path="/api/v1/customers", status=200, duration_ms=2, request_id="r3")  # fmt: skip
    (logs / "auth.log").write_text("\n".join(auth) + "\n")
    (logs / "campaigns.log").write_text(slow + "\n")
    (logs / "campaigns-2.log").write_text(replica + "\n")
    caddy = {"level": "error", "ts": 1796119200.5, "logger": "http.log.error", "msg": "dial",
             "request": {"uri": "/api/v1/messages"}, "request_id": "r4", "status": 502}  # fmt: skip
    warned = {"level": "warn", "ts": 1796119200.6, "logger": "tls", "msg": "stapling"}
    (logs / "gateway.log").write_text(json.dumps(caddy) + "\n" + json.dumps(warned) + "\n")

    def remit_logs(*args: str) -> list[dict[str, object]]:
        result = run_remit("logs", "--logs", str(logs), *args, env=dict(os.environ), timeout=60)
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    everything = remit_logs()
    assert [r.get("time", r.get("ts")) for r in everything] == [
        "2026-12-01T10:00:00.100+00:00",
        "2026-12-01T10:00:00.200+00:00",
        "2026-12-01T10:00:00.300+00:00",
        "2026-12-01T10:00:00.400+00:00",
        1796119200.5,
        1796119200.6,
    ]
    assert [r["message"] for r in remit_logs("--level", "WARNING", "--service", "auth",
                                             "--service", "campaigns")] == [
        "slow request", "unhandled error"]  # fmt: skip
    assert [r["request_id"] for r in remit_logs("--path", "/api/v1/customers")] == ["r1", "r3"]
    assert [r["message"] for r in remit_logs("--request-id", "r1")] == ["request", "slow request"]
    assert remit_logs("--service", "gateway", "--level", "ERROR") == [caddy]
    assert remit_logs("--service", "gateway", "--level", "WARNING") == [caddy, warned]
    assert [r.get("request_id") for r in remit_logs("--tail", "2")] == ["r4", None]


async def test_logs_find_the_running_platform(platform, client, tmp_path):
    request_id = f"logs-{uuid.uuid4()}"
    assert (await client.get("/api/v1/health", headers={"X-Request-ID": request_id})).is_success
    env = _second_terminal(platform.state_dir)

    def logged() -> str:
        result = _remit("logs", "--request-id", request_id, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return result.stdout

    out = await eventually(lambda: asyncio.to_thread(logged), lambda text: request_id in text)
    assert json.loads(out.splitlines()[0])["path"] == "/api/v1/health"


async def test_trace_shows_a_request_the_gateway_could_not_deliver(platform, client, tmp_path):
    request_id = f"gateway-502-{uuid.uuid4()}"
    await asyncio.to_thread(platform.services["notifier"].stop, 30)
    try:
        answer = await client.get("/api/v1/suppressions", headers={"X-Request-ID": request_id})
    finally:
        await asyncio.to_thread(platform.start_instance, "notifier")
    assert answer.status_code in (502, 503)
    env = _second_terminal(platform.state_dir)

    def traced() -> str:
        result = _remit("trace", request_id, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return result.stdout

    out = await eventually(lambda: asyncio.to_thread(traced), lambda text: "gateway" in text)
    lines = out.splitlines()
    assert any(
        "gateway" in line and "GET /api/v1/suppressions → 50" in line and "FAILED" in line
        for line in lines
    ), lines
    assert lines[-1].startswith("outcome: FAILED (1 answers 5xx")


def test_trace_without_a_database_setting_still_reads_the_logs(tmp_path):
    record = _record("2026-12-01T10:00:00+00:00", "auth", "INFO", "request",
                     method="GET", path="/api/v1/auth/me", status=200, duration_ms=2,
                     request_id="no-db-1")  # fmt: skip
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO_ROOT)}
    result = run_remit(
        "trace", "no-db-1", "--logs", "-", env=env, stdin=record, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "GET /api/v1/auth/me → 200" in lines[0]
    assert lines[-1].startswith("database: not configured")


def test_logs_refuse_a_tail_of_nothing(tmp_path):
    result = run_remit("logs", "--logs", str(tmp_path), "--tail", "0", env=dict(os.environ))
    assert result.returncode == 2
    assert "is not a whole number of 1 or more" in result.stderr
    assert "Traceback" not in result.stderr
