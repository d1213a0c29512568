"""The admins' console screens: a request traced across the services (through the diagnostics
API's trace), and users invited, changed, deactivated and unlocked."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.auth_helpers import bearer, mails_to
from tests.campaign_helpers import customer, payment
from tests.console_helpers import form_token, signed_in
from tests.helpers import eventually


async def test_an_sre_pastes_a_request_id_and_sees_every_service(console, client, admin_token):
    owed = await customer(client, admin_token)
    record = await payment(client, admin_token, owed["id"])
    body = {"name": "Traced", "customerId": owed["id"], "paymentId": record["id"],
            "steps": [{"channel": "email", "delay": "P0D"}]}  # fmt: skip
    made = await client.post("/api/v1/campaigns", json=body, headers=bearer(admin_token))
    request_id = f"console-trace-{uuid.uuid4().hex[:12]}"
    started = await client.post(
        f"/api/v1/campaigns/{made.json()['id']}/start",
        headers={**bearer(admin_token), "X-Request-ID": request_id},
    )
    assert started.status_code == 200
    await signed_in(console, client, admin_token, "admin")

    async def traced() -> str:
        answer: httpx.Response = await console.get("/trace", params={"request_id": request_id})
        return answer.text

    page = await eventually(traced, lambda text: 'class="service">notifier<' in text)
    for service in ("campaigns", "agents", "notifier"):
        assert f'class="service">{service}<' in page
    assert "outcome: no failure recorded" in page


async def test_the_trace_api_refuses_an_id_no_service_would_keep(client, admin_token):
    answer = await client.get(
        "/api/v1/diagnostics/trace/has%20a%20space", headers=bearer(admin_token)
    )
    assert answer.status_code == 400 and answer.json()["error"] == "Validation error"
    unknown = await client.get(
        f"/api/v1/diagnostics/trace/never-{uuid.uuid4().hex}", headers=bearer(admin_token)
    )
    assert unknown.status_code == 200 and unknown.json()["steps"] == []


async def test_the_admin_screens_are_for_admins(console, client, admin_token):
    await signed_in(console, client, admin_token, "manager")
    home = await console.get("/")
    assert 'href="/trace"' not in home.text and 'href="/users"' not in home.text
    assert (await console.get("/trace", params={"request_id": "x"})).status_code == 403
    assert (await console.get("/users")).status_code == 403


async def test_an_admin_invites_changes_and_deactivates_a_user(console, client, admin_token):
    await signed_in(console, client, admin_token, "admin")
    page = await console.get("/users")
    email = f"invited-{uuid.uuid4().hex[:8]}@example.com"
    weak = await console.post(
        "/users",
        data={"csrf": form_token(page.text), "email": email, "password": "short", "role": "agent"},
    )
    assert weak.status_code == 400 and 'id="password-error"' in weak.text
    assert f'value="{email}"' in weak.text and 'value="short"' not in weak.text
    invited = await console.post(
        "/users",
        data={"csrf": form_token(page.text), "email": email,
              "password": "a-long-enough-password", "role": "agent"},
    )  # fmt: skip
    assert invited.status_code == 303
    page = await console.get(invited.headers["location"])
    row = page.text.split(f'data-email="{email}"')[1].split("</tr>")[0]
    user_id = row.split('action="/users/')[1].split("/")[0]
    promoted = await console.post(
        f"/users/{user_id}/role", data={"csrf": form_token(page.text), "role": "manager"}
    )
    assert promoted.status_code == 303
    deactivated = await console.post(
        f"/users/{user_id}/deactivate", data={"csrf": form_token(page.text)}
    )
    assert deactivated.status_code == 303
    user = (await client.get(f"/api/v1/users/{user_id}", headers=bearer(admin_token))).json()
    assert user["role"] == "manager" and user["isActive"] is False


async def test_an_admin_invites_a_user_to_choose_their_own_password(
    console, client, admin_token, platform
):
    await signed_in(console, client, admin_token, "admin")
    page = await console.get("/users")
    email = f"invitee-{uuid.uuid4().hex[:8]}@example.com"
    invited = await console.post(
        "/users", data={"csrf": form_token(page.text), "email": email, "role": "viewer"}
    )
    assert invited.status_code == 303 and "invitation" in invited.headers["location"]

    async def inbox() -> list[Any]:
        return mails_to(platform.state_dir / "mail", email)

    mails = await eventually(inbox, lambda found: len(found) == 1)
    assert mails[0]["Subject"] == "You are invited to Remit"
