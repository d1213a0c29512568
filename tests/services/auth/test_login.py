"""Login: credentials, disabled accounts, lock-out, and no way to tell which emails exist."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

from tests.auth_helpers import PASSWORD, auth_sql, bearer, login, new_user

ACCOUNT_STATUS_QUERY = (
    "SELECT email, is_active, failed_login_attempts FROM auth.users WHERE email = $1"
)


async def test_login_answers_tokens_and_counts_failures(client, settings, admin_token):
    user = await new_user(client, admin_token)
    for expected in (1, 2):
        wrong = await login(client, user["email"], "not-the-password")
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "Invalid credentials"
        rows = await auth_sql(settings, ACCOUNT_STATUS_QUERY, user["email"])
        assert rows[0]["failed_login_attempts"] == expected
    ok = await login(client, user["email"])
    assert ok.status_code == 200
    body = ok.json()
    assert set(body) == {"accessToken", "refreshToken", "expiresIn", "tokenType"}
    assert body["expiresIn"] == 900 and body["tokenType"] == "Bearer"
    assert (await auth_sql(settings, ACCOUNT_STATUS_QUERY, user["email"]))[0][
        "failed_login_attempts"
    ] == 0


async def test_unknown_email_and_wrong_password_look_alike(client, admin_token):
    user = await new_user(client, admin_token)
    unknown = await login(client, "nobody-here@example.com", "whatever-password")
    wrong = await login(client, user["email"], "whatever-password")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["error"] == wrong.json()["error"] == "Invalid credentials"
    assert unknown.json()["details"] == wrong.json()["details"]

    async def timed(email):
        started = time.perf_counter()
        await login(client, email, "whatever-password")
        return time.perf_counter() - started

    # Four of each: the fifth failure would lock the known account.
    unknown_s = statistics.median([await timed("nobody-here@example.com") for _ in range(4)])
    known_s = statistics.median([await timed(user["email"]) for _ in range(3)])
    assert abs(unknown_s - known_s) < max(0.05, 0.5 * known_s), (unknown_s, known_s)


async def test_a_locked_unknown_email_answers_exactly_like_a_locked_account(client, admin_token):
    """Both name one fixed instant, the same on every refusal: the answer cannot tell them
    apart (an unknown email's time used to be worked out afresh from its key's TTL)."""
    user = await new_user(client, admin_token)
    stranger = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    answers: dict[str, list[dict[str, str]]] = {}
    for email in (user["email"], stranger):
        for _ in range(5):
            await login(client, email, "nope-nope-nope")
        answers[email] = []
        for _ in range(2):
            await asyncio.sleep(1.1)  # a TTL-derived time would move on meanwhile
            locked = await login(client, email, "nope-nope-nope")
            assert locked.status_code == 403
            answers[email].append(locked.json())
    for email, refusals in answers.items():
        assert refusals[0]["details"] == refusals[1]["details"], email
        assert refusals[0]["error"] == "Account is locked"
    known, unknown = answers[user["email"]][0]["details"], answers[stranger][0]["details"]
    assert known.split("after ")[0] == unknown.split("after ")[0]
    assert len(known) == len(unknown)  # the same form of timestamp


async def test_lockout_after_max_failures_then_expiry(client, settings, admin_token):
    user = await new_user(client, admin_token)
    for _ in range(4):
        assert (await login(client, user["email"], "nope-nope-nope")).status_code == 401
    locked = await login(client, user["email"], "nope-nope-nope")
    assert locked.status_code == 403
    assert locked.json()["error"] == "Account is locked"
    assert "Too many failed logins" in locked.json()["details"]
    assert (await login(client, user["email"])).status_code == 403  # even the right password
    rows = await auth_sql(settings, ACCOUNT_STATUS_QUERY, user["email"])
    assert rows[0]["failed_login_attempts"] == 5

    await auth_sql(
        settings,
        "UPDATE auth.users SET locked_until = now() - interval '1 second' WHERE email = $1",
        user["email"],
    )
    assert (await login(client, user["email"])).status_code == 200
    assert (await auth_sql(settings, ACCOUNT_STATUS_QUERY, user["email"]))[0][
        "failed_login_attempts"
    ] == 0


async def test_disabled_account_and_its_reactivation_by_sql(client, settings, admin_token):
    user = await new_user(client, admin_token)
    off = await client.patch(
        f"/api/v1/users/{user['id']}", json={"isActive": False}, headers=bearer(admin_token)
    )
    assert off.status_code == 200 and off.json()["isActive"] is False
    disabled = await login(client, user["email"])
    assert disabled.status_code == 403 and disabled.json()["error"] == "Account is disabled"
    # A stranger guessing passwords learns nothing about the account being disabled.
    assert (await login(client, user["email"], "wrong-password-x")).json()[
        "error"
    ] == "Invalid credentials"

    await auth_sql(
        settings, "UPDATE auth.users SET is_active = true WHERE email = $1", user["email"]
    )
    assert (await login(client, user["email"], PASSWORD)).status_code == 200
