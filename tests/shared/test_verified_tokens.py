"""A service keeps the access tokens it verified until they expire, so a client's repeated
requests skip the signature check; expiry and revocation still refuse them at once."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.auth_helpers import bearer, forge, login, new_user

PATH = "/api/v1/campaigns"  # answered by the campaigns service, which verifies on its own


async def test_a_verified_token_is_refused_once_it_expires(client, settings, admin_token):
    token = await forge(settings, iat=time.time(), exp=time.time() + 2)
    assert (await client.get(PATH, headers=bearer(token))).status_code == 200
    assert (await client.get(PATH, headers=bearer(token))).status_code == 200  # known now
    await asyncio.sleep(2.5)
    expired = await client.get(PATH, headers=bearer(token))
    assert expired.status_code == 401 and expired.json()["error"] == "Token expired"


@pytest.mark.parametrize(
    "change", [{"isActive": False}, {"role": "viewer"}], ids=["deactivated", "demoted"]
)
async def test_a_verified_token_is_refused_as_soon_as_its_user_changes(client, admin_token, change):
    """No delay: the revocation marker is read with every request's rate-limit hit."""
    user = await new_user(client, admin_token, role="manager")
    token = (await login(client, user["email"], user["password"])).json()["accessToken"]
    for _ in range(2):
        assert (await client.get(PATH, headers=bearer(token))).status_code == 200
    changed = await client.patch(
        f"/api/v1/users/{user['id']}", json=change, headers=bearer(admin_token)
    )
    assert changed.status_code == 200
    refused = await client.get(PATH, headers=bearer(token))
    assert refused.status_code == 401
    assert refused.json()["details"] == "Session has been revoked; log in again"


async def test_a_changed_token_is_verified_not_recognised(client, settings, admin_token):
    token = await forge(settings)
    assert (await client.get(PATH, headers=bearer(token))).status_code == 200
    head, payload, signature = token.split(".")
    tampered = f"{head}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    answer = await client.get(PATH, headers=bearer(tampered))
    assert answer.status_code == 401 and answer.json()["error"] == "Invalid token"
