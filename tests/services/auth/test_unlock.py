"""An admin who unlocks or reactivates an account lets its user sign in at once: the lock-out
ends and the per-account login limit (LOGIN_RATE_LIMIT_PER_ACCOUNT, counted in Redis) is
cleared, rather than refusing the user for the rest of its window."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.auth.settings import AuthSettings
from services.auth.stores.login_limits import limiter_pattern
from shared.devstack.platform import Platform
from tests.auth_helpers import auth_sql, bearer, login, new_user
from tests.helpers import eventually, run_remit

WRONG = "not-the-password-at-all"


@pytest.fixture(scope="module")
def auth_config(platform: Platform) -> AuthSettings:
    return platform.settings_for(AuthSettings)


async def _spend_the_login_limit(client, settings: AuthSettings, email: str, password: str) -> None:
    """Logins until the per-account limit refuses even the right password."""
    for _ in range(settings.login_rate_limit_per_account):
        await login(client, email, WRONG)
    refused = await login(client, email, password)
    assert refused.status_code == 429, refused.text


async def test_unlock_ends_the_lock_out_and_the_login_limit(client, admin_token, auth_config):
    user = await new_user(client, admin_token)
    await _spend_the_login_limit(client, auth_config, user["email"], user["password"])
    listed = await client.get(f"/api/v1/users/{user['id']}", headers=bearer(admin_token))
    assert listed.json()["lockedUntil"] is not None  # MAX_FAILED_LOGINS reached on the way

    unlocked = await client.post(f"/api/v1/users/{user['id']}/unlock", headers=bearer(admin_token))

    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["lockedUntil"] is None
    assert unlocked.json()["failedLoginAttempts"] == 0
    signed_in = await login(client, user["email"], user["password"])
    assert signed_in.status_code == 200, signed_in.text


async def test_reactivation_ends_the_login_limit(client, admin_token, auth_config):
    user = await new_user(client, admin_token)
    path = f"/api/v1/users/{user['id']}"
    assert (
        await client.patch(path, json={"isActive": False}, headers=bearer(admin_token))
    ).status_code == 200
    for _ in range(auth_config.login_rate_limit_per_account):
        assert (await login(client, user["email"], user["password"])).status_code == 403
    assert (await login(client, user["email"], user["password"])).status_code == 429

    assert (
        await client.patch(path, json={"isActive": True}, headers=bearer(admin_token))
    ).status_code == 200

    assert (await login(client, user["email"], user["password"])).status_code == 200


async def test_unlock_needs_an_admin_and_an_existing_user(client, admin_token):
    someone = await new_user(client, admin_token)
    agent_token = (await login(client, someone["email"], someone["password"])).json()["accessToken"]
    refused = await client.post(
        f"/api/v1/users/{someone['id']}/unlock", headers=bearer(agent_token)
    )
    assert refused.status_code == 403
    missing = await client.post(f"/api/v1/users/{uuid.uuid4()}/unlock", headers=bearer(admin_token))
    assert missing.status_code == 404
    assert missing.json()["details"].endswith("does not exist")


def test_the_limit_pattern_matches_only_that_email():
    assert limiter_pattern("Ada@Example.com") == "ratelimit:LIMITER/login-account/ada@example.com/*"
    # Glob characters in an address match themselves, not other addresses.
    assert limiter_pattern("a*b?@x.io") == "ratelimit:LIMITER/login-account/a\\*b\\?@x.io/*"


async def test_the_guides_unlock_by_hand_lets_the_user_in(
    client, admin_token, settings, auth_config, platform
):
    user = await new_user(client, admin_token)
    await _spend_the_login_limit(client, auth_config, user["email"], user["password"])
    await auth_sql(
        settings,
        "UPDATE auth.users SET failed_login_attempts = 0, locked_until = NULL WHERE email = $1",
        user["email"],
    )
    assert (await login(client, user["email"], user["password"])).status_code == 429

    cleared = await asyncio.to_thread(
        run_remit,
        "cache",
        "clear",
        f"ratelimit:LIMITER/login-account/{user['email']}/*",
        "--include-protected",
        env=platform.env,
    )

    assert cleared.returncode == 0, cleared.stderr
    assert (await login(client, user["email"], user["password"])).status_code == 200


async def test_unlock_with_redis_down_says_the_limit_was_not_cleared(client, admin_token, platform):
    if platform.redis is None:
        pytest.skip("external Redis; cannot stop it")
    user = await new_user(client, admin_token)
    path = f"/api/v1/users/{user['id']}/unlock"
    await asyncio.to_thread(platform.redis.stop)
    try:
        refused = await client.post(path, headers=bearer(admin_token))
    finally:
        await asyncio.to_thread(platform.redis.start)
    assert refused.status_code == 503, refused.text
    assert refused.json()["details"] == "Redis is unavailable"

    async def again() -> int:
        return int((await client.post(path, headers=bearer(admin_token))).status_code)

    await eventually(again, lambda status: status == 200)
