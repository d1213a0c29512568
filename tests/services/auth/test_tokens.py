"""Access and refresh tokens against the attacks RFC 8725 and the OAuth security BCP list."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from redis.asyncio import Redis

from shared.security import AUDIENCE
from tests.agents_helpers import directory_row
from tests.auth_helpers import auth_sql, bearer, forge, login, new_user, tokens
from tests.helpers import eventually


async def _me(client, token):
    return await client.get("/api/v1/auth/me", headers=bearer(token))


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_alg_none_is_refused(client, admin_token):
    me = (await _me(client, admin_token)).json()
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': me['id'], 'role': 'admin', 'exp': time.time() + 300})}."
    response = await _me(client, unsigned)
    assert response.status_code == 401 and response.json()["error"] == "Invalid token"


@pytest.mark.parametrize(
    "claims",
    [{"aud": "someone-else"}, {"iss": "https://evil.example.com"}],
    ids=["wrong-audience", "wrong-issuer"],
)
async def test_wrong_audience_or_issuer_is_refused(client, settings, admin_token, claims):
    me = (await _me(client, admin_token)).json()
    response = await _me(client, await forge(settings, sub=me["id"], **claims))
    assert response.status_code == 401 and response.json()["error"] == "Invalid token"


async def test_expired_access_token_says_token_expired(client, settings, admin_token):
    me = (await _me(client, admin_token)).json()
    expired = await forge(settings, sub=me["id"], iat=time.time() - 1000, exp=time.time() - 10)
    response = await _me(client, expired)
    assert response.status_code == 401
    assert response.json()["error"] == "Token expired"
    assert "refresh token" in response.json()["details"]


async def test_refresh_rotates_and_reuse_revokes_the_family(client, admin_token):
    user = await new_user(client, admin_token)
    first = await tokens(client, user["email"])
    rotated = await client.post(
        "/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]}
    )
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refreshToken"] != first["refreshToken"]
    assert (await _me(client, second["accessToken"])).status_code == 200

    replay = await client.post("/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert replay.status_code == 401 and "already used" in replay.json()["details"]
    # The thief's replay burned the whole family, the legitimate latest token included.
    after = await client.post("/api/v1/auth/refresh", json={"refreshToken": second["refreshToken"]})
    assert after.status_code == 401


async def test_expired_refresh_token_asks_to_log_in_again(client, settings, admin_token):
    user = await new_user(client, admin_token)
    pair = await tokens(client, user["email"])
    await auth_sql(
        settings, "UPDATE auth.refresh_tokens SET expires_at = now() - interval '1 minute'"
    )
    response = await client.post(
        "/api/v1/auth/refresh", json={"refreshToken": pair["refreshToken"]}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "Token expired"
    assert "log in again" in response.json()["details"]


async def test_refresh_tokens_are_stored_hashed(client, settings, admin_token):
    user = await new_user(client, admin_token)
    pair = await tokens(client, user["email"])
    rows = await auth_sql(settings, "SELECT token_hash FROM auth.refresh_tokens")
    assert all(pair["refreshToken"].encode() not in bytes(row["token_hash"]) for row in rows)
    assert all(len(row["token_hash"]) == 32 for row in rows)


async def test_logout_revokes_the_session(client, admin_token):
    user = await new_user(client, admin_token)
    pair = await tokens(client, user["email"])
    out = await client.post("/api/v1/auth/logout", json={"refreshToken": pair["refreshToken"]})
    assert out.status_code == 204
    again = await client.post("/api/v1/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert again.status_code == 401


async def test_deactivation_cuts_off_a_live_session_at_once(client, settings, admin_token):
    user = await new_user(client, admin_token)
    pair = await tokens(client, user["email"])
    assert (await _me(client, pair["accessToken"])).status_code == 200
    off = await client.patch(
        f"/api/v1/users/{user['id']}", json={"isActive": False}, headers=bearer(admin_token)
    )
    assert off.status_code == 200
    refused = await _me(client, pair["accessToken"])
    assert refused.status_code == 401 and "revoked" in refused.json()["details"]
    assert (
        await client.post("/api/v1/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    ).status_code == 401
    # user.deactivated reaches the other services (agents keeps a directory of users).
    row = await eventually(
        lambda: directory_row(settings, uuid.UUID(user["id"])),
        lambda r: r is not None and not r["is_active"],
    )
    assert row["email"] == user["email"]


async def _demoted_session(client, admin_token) -> dict[str, str]:
    """A manager's tokens, then the manager made a viewer: the access token is refused."""
    user = await new_user(client, admin_token, role="manager")
    pair = await tokens(client, user["email"])
    demoted = await client.patch(
        f"/api/v1/users/{user['id']}", json={"role": "viewer"}, headers=bearer(admin_token)
    )
    assert demoted.status_code == 200
    assert (await _me(client, pair["accessToken"])).status_code == 401
    return dict(pair)


async def test_role_change_retires_tokens_carrying_the_old_role(client, admin_token):
    pair = await _demoted_session(client, admin_token)
    fresh = await client.post("/api/v1/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert fresh.status_code == 200
    me = await _me(client, fresh.json()["accessToken"])
    assert me.status_code == 200 and me.json()["role"] == "viewer"


async def test_key_rotation_keeps_old_tokens_valid(client, admin_token):
    user = await new_user(client, admin_token)
    before = await tokens(client, user["email"])
    rotated = await client.post("/api/v1/auth/keys/rotate", headers=bearer(admin_token))
    assert rotated.status_code == 201
    jwks = (await client.get("/api/v1/auth/.well-known/jwks.json")).json()
    assert rotated.json()["kid"] in {key["kid"] for key in jwks["keys"]}
    after = await tokens(client, user["email"])
    assert (await _me(client, before["accessToken"])).status_code == 200
    assert (await _me(client, after["accessToken"])).status_code == 200
    viewer = await new_user(client, admin_token, role="viewer")
    forbidden = await client.post(
        "/api/v1/auth/keys/rotate",
        headers=bearer((await tokens(client, viewer["email"]))["accessToken"]),
    )
    assert forbidden.status_code == 403 and "keys:rotate" in forbidden.json()["details"]


async def test_login_limits_are_told_in_headers_and_enforced(client):
    email = f"nobody-limited-{uuid.uuid4().hex[:6]}@example.com"
    answers = [await login(client, email, "whatever-password") for _ in range(11)]
    # Four wrong guesses, then locked (as a real account would be), then rate limited.
    assert [a.status_code for a in answers] == [401] * 4 + [403] * 6 + [429]
    for answer in answers:
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(
            answer.headers
        )
    limited = answers[-1]
    assert limited.json()["error"] == "Too Many Requests"
    assert int(limited.headers["retry-after"]) > 0
    assert limited.headers["x-ratelimit-remaining"] == "0"


@pytest.mark.parametrize(
    ("claims", "said"),
    [
        ({"aud": [AUDIENCE, "someone-else"]}, "other audiences"),
        ({"exp": time.time() + 86_400}, "lives longer than access tokens may"),
    ],
    ids=["extra-audience", "a-day-long"],
)
async def test_tokens_beyond_ours_are_refused(client, settings, admin_token, claims, said):
    """Signed with our real key, yet not what auth issues: another audience beside ours, or a
    lifetime beyond ACCESS_TOKEN_TTL (plus a minute of clock skew)."""
    me = (await _me(client, admin_token)).json()
    response = await _me(client, await forge(settings, sub=me["id"], **claims))
    assert response.status_code == 401 and said in response.json()["details"]


async def test_a_revocation_survives_redis_losing_its_data(client, settings, admin_token):
    """Demotion revokes the old tokens; Redis then forgets everything (as a restart without
    persistence does); auth puts the revocation back within seconds."""
    pair = await _demoted_session(client, admin_token)
    redis = Redis.from_url(settings.redis_url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()
    refused = await eventually(
        lambda: _me(client, pair["accessToken"]),
        lambda answer: answer.status_code == 401,
        timeout=20,
    )
    assert "revoked" in refused.json()["details"]
