"""Revocation on the request path: read in the rate limit's own round trip, a revoked token
never spends its user's budget, and it is refused even when Redis refuses the limit's script."""

from __future__ import annotations

from redis.asyncio import Redis

from shared.ratelimit import window_key
from tests.auth_helpers import bearer, login, new_user

PATH = "/api/v1/campaigns"  # answered by the campaigns service, which checks on its own


async def _signed_in_viewer(client, admin_token) -> tuple[dict[str, str], str]:
    user = await new_user(client, admin_token, role="viewer")
    token = (await login(client, user["email"], user["password"])).json()["accessToken"]
    assert (await client.get(PATH, headers=bearer(token))).status_code == 200
    return user, token


async def _deactivate(client, admin_token, user: dict[str, str]) -> None:
    answer = await client.patch(
        f"/api/v1/users/{user['id']}", json={"isActive": False}, headers=bearer(admin_token)
    )
    assert answer.status_code == 200


async def test_a_revoked_token_does_not_spend_its_users_budget(client, settings, admin_token):
    user, token = await _signed_in_viewer(client, admin_token)
    budget = window_key(
        settings.api_rate_limit, settings.rate_limit_window, "api", f"user:{user['id']}"
    )
    redis = Redis.from_url(settings.redis_url)
    try:
        spent = await redis.llen(budget)  # type: ignore[misc]
        await _deactivate(client, admin_token, user)
        for _ in range(3):
            assert (await client.get(PATH, headers=bearer(token))).status_code == 401
        assert await redis.llen(budget) == spent  # type: ignore[misc]
    finally:
        await redis.aclose()


async def test_revocation_holds_when_redis_refuses_the_limits_script(client, settings, admin_token):
    user, token = await _signed_in_viewer(client, admin_token)
    budget = window_key(
        settings.api_rate_limit, settings.rate_limit_window, "api", f"user:{user['id']}"
    )
    redis = Redis.from_url(settings.redis_url)
    try:
        await redis.delete(budget)
        await redis.set(budget, "not a list", ex=60)  # the script now fails (WRONGTYPE)
        assert (await client.get(PATH, headers=bearer(token))).status_code == 200  # fails open
        await _deactivate(client, admin_token, user)
        refused = await client.get(PATH, headers=bearer(token))
    finally:
        await redis.delete(budget)
        await redis.aclose()
    assert refused.status_code == 401
    assert refused.json()["details"] == "Session has been revoked; log in again"
