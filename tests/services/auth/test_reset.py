"""Password reset: no account enumeration, an emailed single-use expiring link, sessions ended."""

from __future__ import annotations

import asyncio
import uuid

from tests.auth_helpers import auth_sql, bearer, login, mails_to, new_user, reset_token_from, tokens
from tests.helpers import eventually


async def _request_reset(client, email):
    return await client.post("/api/v1/auth/password-reset", json={"email": email})


async def test_reset_link_is_emailed_single_use_and_ends_sessions(platform, client, admin_token):
    user = await new_user(client, admin_token)
    session = await tokens(client, user["email"])
    assert (await _request_reset(client, user["email"])).status_code == 202

    maildir = platform.state_dir / "mail"

    async def inbox():
        return mails_to(maildir, user["email"])

    mails = await eventually(inbox, lambda found: len(found) == 1)
    assert mails[0]["Subject"] == "Reset your Remit password"
    token = reset_token_from(mails[0])

    for refused, said in (
        ("Password123!", "is one of the most common passwords"),
        (f"my-{user['email'].split('@')[0]}-pass", "contains the name of the account"),
    ):
        weak = await client.post(
            "/api/v1/auth/password-reset/confirm", json={"token": token, "newPassword": refused}
        )
        assert weak.status_code == 400 and weak.json()["error"] == "Validation error"
        assert weak.json()["details"].startswith('"newPassword" ') and said in weak.text
    new_password = "a-brand-new-password"  # the link still works after the refusals
    done = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "newPassword": new_password}
    )
    assert done.status_code == 204
    assert (await login(client, user["email"])).status_code == 401
    assert (await login(client, user["email"], new_password)).status_code == 200
    # Every session ended: the old refresh token and the old access token are refused.
    assert (
        await client.post("/api/v1/auth/refresh", json={"refreshToken": session["refreshToken"]})
    ).status_code == 401
    assert (
        await client.get("/api/v1/auth/me", headers=bearer(session["accessToken"]))
    ).status_code == 401

    again = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "newPassword": "yet-another-password"},
    )
    assert again.status_code == 400 and again.json()["error"] == "Invalid token"


async def test_unknown_email_gets_the_same_answer_and_no_mail(platform, client):
    email = "no-such-account@example.com"
    response = await _request_reset(client, email)
    assert response.status_code == 202 and response.content == b""
    await asyncio.sleep(1)
    assert mails_to(platform.state_dir / "mail", email) == []


async def test_expired_reset_link_is_refused(platform, settings, client, admin_token):
    user = await new_user(client, admin_token)
    await _request_reset(client, user["email"])

    async def inbox():
        return mails_to(platform.state_dir / "mail", user["email"])

    token = reset_token_from((await eventually(inbox, lambda found: len(found) == 1))[0])
    await auth_sql(
        settings, "UPDATE auth.password_resets SET expires_at = now() - interval '1 second'"
    )
    expired = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "newPassword": "a-brand-new-password"},
    )
    assert expired.status_code == 400
    assert "expired" in expired.json()["details"]


async def test_the_emailed_link_opens_a_reset_page(client, platform, gateway_url, admin_token):
    user = await new_user(client, admin_token)
    await _request_reset(client, user["email"])

    async def inbox():
        return mails_to(platform.state_dir / "mail", user["email"])

    message = (await eventually(inbox, lambda found: len(found) == 1))[0]
    body = (
        next(p for p in message.walk() if p.get_content_type() == "text/plain")
        .get_payload(decode=True)
        .decode()
    )
    link = next(word for word in body.split() if word.startswith("http"))
    assert link.startswith(f"{gateway_url}/api/v1/auth/reset-password?token=")
    page = await client.get(link.removeprefix(gateway_url))
    assert page.status_code == 200 and "password-reset/confirm" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"


async def test_unknown_emails_lock_out_like_real_accounts(client):
    email = f"ghost-{uuid.uuid4().hex[:8]}@example.com"
    answers = [await login(client, email, "some-wrong-password") for _ in range(6)]
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 403, 403]
    assert answers[4].json()["error"] == "Account is locked"


async def test_a_user_created_without_a_password_is_invited_to_choose_one(
    platform, client, admin_token, settings
):
    email = f"invited-{uuid.uuid4().hex[:8]}@example.com"
    created = await client.post(
        "/api/v1/users", json={"email": email, "role": "agent"}, headers=bearer(admin_token)
    )
    assert created.status_code == 201, created.text

    async def inbox():
        return mails_to(platform.state_dir / "mail", email)

    mails = await eventually(inbox, lambda found: len(found) == 1)
    assert mails[0]["Subject"] == "You are invited to Remit"
    token = reset_token_from(mails[0])
    chosen = "my-own-chosen-words"
    done = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "newPassword": chosen}
    )
    assert done.status_code == 204
    assert (await login(client, email, chosen)).status_code == 200
    # The link lasts INVITATION_TTL (a week by default), not the half hour of a reset.
    lasts = await auth_sql(
        settings,
        "SELECT r.expires_at - r.created_at AS ttl FROM password_resets r "
        "JOIN users u ON u.id = r.user_id WHERE u.email = $1",
        email,
    )
    assert [row["ttl"].days for row in lasts] == [7]


async def test_a_first_password_given_is_checked_and_sends_no_invitation(
    platform, client, admin_token
):
    email = f"given-{uuid.uuid4().hex[:8]}@example.com"
    weak = await client.post(
        "/api/v1/users",
        json={"email": email, "role": "viewer", "password": "Password123!"},
        headers=bearer(admin_token),
    )
    assert weak.status_code == 400 and "most common passwords" in weak.text
    made = await client.post(
        "/api/v1/users",
        json={"email": email, "role": "viewer", "password": "a-perfectly-fine-one"},
        headers=bearer(admin_token),
    )
    assert made.status_code == 201
    await asyncio.sleep(2)
    assert mails_to(platform.state_dir / "mail", email) == []
