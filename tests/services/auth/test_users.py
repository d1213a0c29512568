"""The user admin API: list with filters and pages, change role, (de)activate, guard rails."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.auth_helpers import auth_sql, bearer, new_user, tokens


async def test_list_filters_and_pages(client, admin_token):
    marker = uuid.uuid4().hex[:8]
    created: list[dict[str, str]] = []
    for role in ("viewer", "viewer", "manager"):
        response = await client.post(
            "/api/v1/users",
            json={
                "email": f"{marker}-{role}-{len(created)}@example.com",
                "password": "long-enough-pass",
                "role": role,
            },
            headers=bearer(admin_token),
        )
        created.append(response.json())
    page = await client.get(
        f"/api/v1/users?email={marker}&role=viewer&limit=1", headers=bearer(admin_token)
    )
    assert page.status_code == 200
    body = page.json()
    assert body["total"] == 2 and len(body["items"]) == 1 and body["limit"] == 1
    second = await client.get(
        f"/api/v1/users?email={marker}&role=viewer&limit=1&offset=1", headers=bearer(admin_token)
    )
    assert {body["items"][0]["id"], second.json()["items"][0]["id"]} == {
        u["id"] for u in created[:2]
    }
    await client.patch(
        f"/api/v1/users/{created[2]['id']}", json={"isActive": False}, headers=bearer(admin_token)
    )
    inactive = await client.get(
        f"/api/v1/users?email={marker}&isActive=false", headers=bearer(admin_token)
    )
    assert [u["id"] for u in inactive.json()["items"]] == [created[2]["id"]]
    beyond = await client.get(
        f"/api/v1/users?email={marker}&offset=50", headers=bearer(admin_token)
    )
    assert beyond.json()["items"] == [] and beyond.json()["total"] == 3


async def test_bad_updates_and_missing_users(client, admin_token):
    user = await new_user(client, admin_token)
    empty = await client.patch(f"/api/v1/users/{user['id']}", json={}, headers=bearer(admin_token))
    assert (
        empty.status_code == 400
        and "Give at least one of role, isActive" in empty.json()["details"]
    )
    bad_role = await client.patch(
        f"/api/v1/users/{user['id']}", json={"role": "owner"}, headers=bearer(admin_token)
    )
    assert bad_role.status_code == 400
    assert bad_role.json()["details"] == '"role" must be one of [admin, manager, agent, viewer]'
    missing = await client.get(f"/api/v1/users/{uuid.uuid4()}", headers=bearer(admin_token))
    assert missing.status_code == 404 and missing.json()["error"] == "Not Found"
    not_uuid = await client.get("/api/v1/users/42", headers=bearer(admin_token))
    assert (
        not_uuid.status_code == 400
        and not_uuid.json()["details"] == '"user_id" must be a valid GUID'
    )
    weak = await client.post(
        "/api/v1/users",
        json={"email": "weak@example.com", "password": "short", "role": "viewer"},
        headers=bearer(admin_token),
    )
    assert weak.status_code == 400
    assert weak.json()["details"] == '"password" length must be at least 12 characters long'


@pytest.mark.parametrize(
    ("email", "password", "said"),
    [
        ("common@example.com", "Password123!", "is one of the most common passwords"),
        ("common2@example.com", "qwertyuiopasdfgh", "is one of the most common passwords"),
        ("ada.lovelace@example.com", "Ada.Lovelace-1815", "contains the name of the account"),
    ],
)
async def test_a_common_password_or_one_built_on_the_email_is_refused(
    client, admin_token, email, password, said
):
    refused = await client.post(
        "/api/v1/users",
        json={"email": email, "password": password, "role": "viewer"},
        headers=bearer(admin_token),
    )
    assert refused.status_code == 400 and refused.json()["error"] == "Validation error"
    assert refused.json()["details"].startswith('"password" ') and said in refused.json()["details"]
    long_enough = "a" * 20 + "-unusual-" * 7  # 83 characters: 64 and more are allowed
    made = await client.post(
        "/api/v1/users",
        json={"email": email, "password": long_enough, "role": "viewer"},
        headers=bearer(admin_token),
    )
    assert made.status_code == 201, made.text


async def test_the_last_admin_cannot_be_removed(client, admin_token):
    me = (await client.get("/api/v1/auth/me", headers=bearer(admin_token))).json()
    others = await client.get("/api/v1/users?role=admin&isActive=true", headers=bearer(admin_token))
    if others.json()["total"] == 1:
        refused = await client.patch(
            f"/api/v1/users/{me['id']}", json={"role": "viewer"}, headers=bearer(admin_token)
        )
        assert refused.status_code == 409 and "last active admin" in refused.json()["details"]
    second = await new_user(client, admin_token, role="admin")
    second_token = (await tokens(client, second["email"]))["accessToken"]
    demoted = await client.patch(
        f"/api/v1/users/{second['id']}", json={"isActive": False}, headers=bearer(second_token)
    )
    assert demoted.status_code == 200  # another admin remains


async def test_passwords_and_tokens_never_reach_the_logs(platform, client, admin_token):
    from tests.auth_helpers import PASSWORD
    from tests.conftest import ADMIN_PASSWORD

    user = await new_user(client, admin_token)
    pair = await tokens(client, user["email"])
    logs = "".join(
        (platform.log_dir / f"{name}.log").read_text()
        for name in ("auth", "campaigns", "agents", "notifier")
    )
    for secret in (
        ADMIN_PASSWORD,
        PASSWORD,
        pair["refreshToken"],
        pair["accessToken"],
        admin_token,
    ):
        assert secret not in logs


async def test_an_offset_beyond_postgres_bigint_is_a_client_error(client, admin_token):
    response = await client.get(f"/api/v1/users?offset={2**70}", headers=bearer(admin_token))
    assert response.status_code == 400
    assert '"offset" must be less than or equal to' in response.json()["details"]


async def test_identical_patches_at_once_tell_one_change(client, settings, admin_token):
    """The row is locked while compared: the second PATCH finds the role already changed and
    emits nothing; a PATCH that changes nothing emits nothing either."""
    user = await new_user(client, admin_token, role="agent")
    patches = [
        client.patch(
            f"/api/v1/users/{user['id']}", json={"role": "manager"}, headers=bearer(admin_token)
        )
        for _ in range(3)
    ]
    answers = await asyncio.gather(*patches)
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert {answer.json()["role"] for answer in answers} == {"manager"}
    same = await client.patch(
        f"/api/v1/users/{user['id']}", json={"isActive": True}, headers=bearer(admin_token)
    )
    assert same.status_code == 200
    events = await auth_sql(
        settings,
        "SELECT topic FROM auth.outbox WHERE event_key = $1 ORDER BY id",
        user["id"],
    )
    assert [event["topic"] for event in events] == ["user.created", "user.updated"]


async def test_a_look_alike_of_an_account_email_is_refused(client, admin_token):
    """A Cyrillic a (U+0430) in place of the Latin a of an existing account."""
    look_alike = "\u0430dmin@example.com"
    refused = await client.post(
        "/api/v1/users",
        json={"email": look_alike, "password": "look-alike-account-1", "role": "admin"},
        headers=bearer(admin_token),
    )
    assert refused.status_code == 400
    assert refused.json()["details"].startswith('"email" mixes scripts with look-alike')
    accented = await client.post(
        "/api/v1/users",
        json={"email": f"jos\u00e9-{uuid.uuid4().hex[:6]}@example.com",
              "password": "an-accented-name-1", "role": "viewer"},
        headers=bearer(admin_token),
    )  # fmt: skip
    assert accented.status_code == 201, accented.text  # one script, accents and all
