"""Hostile input, generated: schemathesis fuzzes every operation of every service's OpenAPI
document, through the gateway, as the admin. No answer may be a 5xx, and every answer must be
as documented: its status code, its content type and its body's schema.

It runs as schemathesis's own command line (`st run`): the pytest integration's
`from_fixture(...).parametrize()`, which a schema served by a fixture's platform needs, fails on
this pytest (schemathesis 4.32 sets `Node._nodeid`, which pytest 9.2 no longer has)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis

from shared.settings import SERVICE_NAMES, ServiceSettings

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
# Left out because fuzzing them would break the rest of the test session.
EXCLUDED: dict[str, list[str]] = {
    # Each call retires the signing key the session's tokens were issued with.
    "auth": ["POST /api/v1/auth/keys/rotate"],
}
# Values are generated, never taken from earlier answers: an id or email read from a response
# would aim the fuzzer at the session's own admin (wrong-password logins lock the account,
# PATCH /users/{id} deactivates or demotes it), at the Default AI agent later tests' campaigns
# need (PATCH /agents/{id} disables it), and so on. Generated UUIDs name nothing, so those
# operations are still fuzzed, down to their 404s.
CONFIG = """
[phases.examples.extra-data-sources]
responses = false
[phases.coverage.extra-data-sources]
responses = false
[phases.fuzzing.extra-data-sources]
responses = false

# A run the rate limit cut short tested little: no pass.
[warnings]
fail-on = ["rate_limited"]
"""
ST = Path(sys.executable).with_name("st")
# Per operation: the examples of the fuzzing phase (the coverage phase adds its own cases).
MAX_EXAMPLES = 25
# Operations per `st run`: each run fits within the admin's API limit (1000 requests in 15
# minutes, for all services together), which is forgotten between runs.
BATCH = 6


async def test_documents_list_the_errors_answered(client) -> None:
    """What the fuzzing below holds the services to, pinned down where it once went wrong."""
    for service in SERVICE_NAMES:
        document = (await client.get(f"/api/v1/{service}/openapi.json")).json()
        assert "ErrorBody" in document["components"]["schemas"]
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                statuses = set(operation["responses"])
                where = f"{method.upper()} {path}"
                if operation.get("parameters") or "requestBody" in operation:
                    assert "400" in statuses, where  # FastAPI says 422; the edge answers 400
                if operation.get("security"):
                    assert {"401", "403", "429"} <= statuses, where
        assert "HTTPValidationError" not in document["components"]["schemas"]
    campaigns = (await client.get("/api/v1/campaigns/openapi.json")).json()["paths"]
    assert "422" in campaigns["/api/v1/campaigns/{campaign_id}/start"]["post"]["responses"]
    auth = (await client.get("/api/v1/auth/openapi.json")).json()["paths"]
    assert "content" not in auth["/api/v1/auth/password-reset"]["post"]["responses"]["202"]
    notifier = (await client.get("/api/v1/notifier/openapi.json")).json()["paths"]
    sms = notifier["/api/v1/webhooks/twilio/sms"]["post"]["responses"]
    assert list(sms["200"]["content"]) == ["application/xml"] and "403" in sms


def _forget_rate_limits(settings: ServiceSettings) -> None:
    """The fuzzer spends the admin's API limit and the login and reset limits of 127.0.0.1,
    which the rest of the session shares: they are forgotten before each run and after."""
    redis = Redis.from_url(settings.redis_url)
    try:
        for key in redis.scan_iter("ratelimit*"):
            redis.delete(key)
    finally:
        redis.close()


def _batches(document: dict[str, Any], excluded: set[str]) -> list[list[str]]:
    """The document's operations by name, in batches small enough for one rate-limit window."""
    names = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
    ]
    wanted = [name for name in names if name not in excluded]
    assert excluded <= set(names), "an exclusion names no operation; update EXCLUDED"
    return [wanted[i : i + BATCH] for i in range(0, len(wanted), BATCH)]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_answers_are_documented(
    service: str, gateway_url: str, admin_token: str, settings: ServiceSettings, tmp_path: Path
) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    location = f"{gateway_url}/api/v1/{service}/openapi.json"
    excluded = set(EXCLUDED.get(service, []))
    if settings.clock_control and service == "campaigns":
        excluded.add("POST /api/v1/clock/advance")  # every service would follow the jump
    failed = []
    for batch in _batches(httpx.get(location, timeout=30).json(), excluded):
        _forget_rate_limits(settings)
        command = [
            str(ST),
            f"--config-file={config}",
            "run",
            location,
            f"--url={gateway_url}",
            f"--header=Authorization: Bearer {admin_token}",
            f"--checks={','.join(CHECKS)}",
            "--phases=examples,coverage,fuzzing",
            f"--max-examples={MAX_EXAMPLES}",
            "--workers=1",
            "--generation-deterministic",
            "--suppress-health-check=all",
            "--request-timeout=30",
            "--no-color",
            *(f"--include-name={name}" for name in batch),
        ]
        # In tmp_path, where it keeps its crash cache and Hypothesis its files.
        run = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path)
        if run.returncode != 0:
            failed.append(run.stdout[-15_000:] + run.stderr)
    _forget_rate_limits(settings)
    assert not failed, "\n".join(failed)
