"""Rate limits shared through Redis: login per address and per account, and the general API
limit per user or address, each told in X-RateLimit-* headers, 429 with Retry-After."""

from __future__ import annotations

import sys
import uuid

import httpx
import pytest

from shared.devstack.platform import REPO_ROOT
from shared.devstack.processes import ManagedProcess, free_port, wait_for_port
from tests.auth_helpers import bearer, new_user, tokens


@pytest.fixture(scope="module")
def strict_auth(platform):
    """A second auth replica with tight limits, behind no gateway, sharing Redis and Postgres."""
    port = free_port()
    env = {
        **platform.env,
        "LOGIN_RATE_LIMIT_PER_IP": "3",
        "API_RATE_LIMIT": "4",
        "RATE_LIMIT_WINDOW": "60",
    }
    process = ManagedProcess(
        "auth-strict",
        [sys.executable, "-m", "shared.ops.cli", "serve", "auth", "--port", str(port)],
        platform.log_dir / "auth-strict.log",
        env=env,
        cwd=REPO_ROOT,
    )
    process.start()
    wait_for_port(port, 60, process)
    yield f"http://127.0.0.1:{port}"
    process.stop()


def _from(address: str) -> dict[str, str]:
    # uvicorn takes the client address from X-Forwarded-For sent by the trusted local proxy.
    return {"X-Forwarded-For": address}


async def test_login_limit_per_address(strict_auth):
    address = f"198.51.100.{uuid.uuid4().int % 250}"
    async with httpx.AsyncClient(base_url=strict_auth) as http:
        seen = []
        for _ in range(4):
            response = await http.post(
                "/api/v1/auth/login",
                json={
                    "email": f"{uuid.uuid4().hex[:8]}@example.com",
                    "password": "whatever-password",
                },
                headers=_from(address),
            )
            seen.append(response)
        other = await http.post(
            "/api/v1/auth/login",
            json={"email": "x@example.com", "password": "whatever-password"},
            headers=_from("203.0.113.9"),
        )
    assert [r.status_code for r in seen] == [401, 401, 401, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in seen] == ["2", "1", "0", "0"]
    assert seen[0].headers["x-ratelimit-limit"] == "3"
    assert int(seen[3].headers["retry-after"]) <= 60
    assert other.status_code == 401  # another address has its own budget


async def test_api_limit_per_user_across_replicas(strict_auth, client, admin_token):
    user = await new_user(client, admin_token)
    access = (await tokens(client, user["email"]))["accessToken"]
    async with httpx.AsyncClient(base_url=strict_auth) as http:
        codes = [
            (await http.get("/api/v1/auth/me", headers=bearer(access))).status_code
            for _ in range(5)
        ]
        anonymous = await http.get("/api/v1/auth/me", headers=_from("192.0.2.77"))
    assert codes == [200, 200, 200, 200, 429]
    assert anonymous.status_code == 401  # a caller without a token is counted by address
    assert anonymous.headers["x-ratelimit-limit"] == "4"


async def test_health_is_not_rate_limited(strict_auth):
    async with httpx.AsyncClient(base_url=strict_auth) as http:
        for _ in range(6):
            response = await http.get("/api/v1/auth/health", headers=_from("192.0.2.1"))
            assert response.status_code == 200
            assert "x-ratelimit-limit" not in response.headers
