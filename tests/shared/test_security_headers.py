"""Every answer, through the gateway and straight from a service, errors and token answers
included, carries the platform's security headers and advertises no server software."""

from __future__ import annotations

import httpx
import pytest

from shared.http import SECURITY_HEADERS
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD


def _assert_hardened(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS:
        assert response.headers.get(name) == value, (name, response.request.url)
    assert "server" not in response.headers, response.headers.get("server")
    assert "via" not in response.headers, response.headers.get("via")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/health"),
        ("GET", "/api/v1/customers"),  # 401 in the error shape
        ("GET", "/api/v1/no-such-route"),  # 404 from the catch-all
    ],
)
async def test_answers_through_the_gateway_are_hardened(client, method, path):
    _assert_hardened(await client.request(method, path))


async def test_token_answers_are_not_cached(client):
    login = await client.post(
        "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert login.status_code == 200
    _assert_hardened(login)
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refreshToken": login.json()["refreshToken"]}
    )
    assert refreshed.status_code == 200 and refreshed.headers["cache-control"] == "no-store"


async def test_a_service_answering_directly_is_hardened(settings):
    for name in ("auth", "campaigns", "agents", "notifier"):
        url = settings.service_url(name)  # type: ignore[arg-type]
        async with httpx.AsyncClient(base_url=url, timeout=10) as direct:
            _assert_hardened(await direct.get(f"/api/v1/{name}/health"))
