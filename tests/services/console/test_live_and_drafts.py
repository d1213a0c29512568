"""The console's parts that keep themselves up to date (the dashboard's figures of the day), and
what happens when a session ends under a page: a refreshing part takes the whole page to
sign-in, and a form sent meanwhile is kept, to be checked and sent again after signing in."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import httpx
from redis.asyncio import Redis

from tests.auth_helpers import bearer
from tests.campaign_helpers import campaign, payment
from tests.console_helpers import form_token, sign_in, signed_in
from tests.helpers import eventually
from tests.notifier_helpers import messages_of


def _figure(page: str, pattern: str) -> str:
    found = re.search(pattern, page, re.DOTALL)
    assert found, pattern
    return found.group(1)


def _sent_by_email(page: str) -> int:
    return int(_figure(page, r'data-channel="email">.*?class="sent">(\d+)<'))


def _collected(page: str, currency: str) -> float:
    found = re.search(rf'class="amount">([\d.]+) {currency}<', page)
    return float(found.group(1)) if found else 0.0


async def test_the_dashboard_shows_todays_messages_and_the_money_collected(
    console, client, admin_token
):
    await signed_in(console, client, admin_token, "manager")
    before = (await console.get("/")).text
    assert "Messages today" in before and "(since 00:00 UTC)" in before
    made = await campaign(client, admin_token, start=True)
    await eventually(
        lambda: messages_of(client, admin_token, made["id"]),
        lambda m: len(m) == 1 and m[0]["status"] == "sent",
        timeout=45,
    )
    owed = await payment(client, admin_token, made["customerId"], currency="CHF", amount="90")
    received = await client.post(
        f"/api/v1/payments/{owed['id']}/receipts",
        json={"amount": "42.50", "receivedAt": datetime.now(UTC).isoformat()},
        headers=bearer(admin_token),
    )
    assert received.status_code == 201, received.text
    after = (await console.get("/", headers={"HX-Request": "true"})).text
    assert after.lstrip().startswith('<div id="live"') and 'hx-trigger="every 15s"' in after
    assert _sent_by_email(after) >= _sent_by_email(before) + 1
    assert round(_collected(after, "CHF") - _collected(before, "CHF"), 2) == 42.50


async def test_a_part_refreshing_after_the_session_ended_takes_the_page_to_sign_in(
    console, client, admin_token, settings
):
    await signed_in(console, client, admin_token, "viewer")
    await _end_session(console, settings)
    part = await console.get("/queue", headers={"HX-Request": "true"})
    # Not a redirect htmx would follow and swap in: it tells htmx to load the page itself.
    assert part.status_code == 204 and part.headers["hx-redirect"] == "/login?next=/queue"
    page = await console.get("/queue")
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/queue"


async def _end_session(console: httpx.AsyncClient, settings) -> None:
    redis = Redis.from_url(settings.redis_url)
    try:
        cookie = console.cookies["remit_console"]
        await redis.delete(f"console:session:{hashlib.sha256(cookie.encode()).hexdigest()}")
    finally:
        await redis.aclose()


async def test_a_form_sent_after_the_session_ended_is_kept_and_sent_again(
    console, client, admin_token, settings, gateway_url
):
    manager = await signed_in(console, client, admin_token, "manager")
    form = await console.get("/customers/new")
    await _end_session(console, settings)
    company = "Kept Across Sessions Ltd"
    lost = await console.post(
        "/customers/new",
        data={"csrf": form_token(form.text), "companyName": company, "contactName": "Kim",
              "email": "kim@kept.example.com", "timezone": "Europe/Paris"},
        headers={"Referer": f"{gateway_url}/customers/new", "Sec-Fetch-Site": "same-origin"},
    )  # fmt: skip
    assert lost.status_code == 303 and lost.headers["location"] == "/login?next=/customers/new"
    assert "remit_console_draft" in console.cookies
    login = await console.get("/login", params={"next": "/customers/new"})
    assert 'id="draft-kept"' in login.text
    back = await sign_in(console, manager["email"], next="/customers/new")
    assert back.headers["location"] == "/resubmit?next=/customers/new"
    offered = await console.get(back.headers["location"])
    assert offered.status_code == 200 and 'action="/customers/new"' in offered.text
    assert f'name="companyName" value="{company}"' in offered.text
    assert "Company name" in offered.text  # the fields named as people read them
    fields = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', offered.text))
    sent = await console.post("/customers/new", data=fields)
    assert sent.status_code == 303, sent.text
    listed = await client.get(
        "/api/v1/customers", params={"q": company}, headers=bearer(admin_token)
    )
    assert listed.json()["total"] == 1
    # Shown once: the draft is gone, and the way on is the page it was on.
    again = await console.get("/resubmit", params={"next": "/customers/new"})
    assert again.status_code == 303 and again.headers["location"] == "/customers/new"


async def test_a_kept_form_never_keeps_a_password(
    console, client, admin_token, settings, gateway_url
):
    admin = await signed_in(console, client, admin_token, "admin")
    users = await console.get("/users")
    await _end_session(console, settings)
    invited = f"invited-{hashlib.sha1(users.text.encode()).hexdigest()[:8]}@example.com"
    secret = "Correct-Horse-Battery-9"
    lost = await console.post(
        "/users",
        data={"csrf": form_token(users.text), "email": invited, "password": secret,
              "role": "viewer"},
        headers={"Origin": gateway_url},  # an older browser: no Sec-Fetch-Site, the Origin
    )  # fmt: skip
    assert lost.status_code == 303
    redis = Redis.from_url(settings.redis_url)
    try:
        kept = [await redis.get(key) async for key in redis.scan_iter("console:draft:*")]
    finally:
        await redis.aclose()
    assert any(invited.encode() in (value or b"") for value in kept)
    assert not any(secret.encode() in (value or b"") for value in kept)
    back = await sign_in(console, admin["email"])
    offered = await console.get(back.headers["location"])
    assert 'for="resubmit-password"' in offered.text and "type it again" in offered.text
    assert secret not in offered.text
    fields = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', offered.text))
    sent = await console.post("/users", data={**fields, "password": secret})
    assert sent.status_code == 303, sent.text
    found = await client.get(
        "/api/v1/users", params={"email": invited}, headers=bearer(admin_token)
    )
    assert [u["email"] for u in found.json()["items"]] == [invited]


async def test_a_post_from_another_site_is_never_kept_to_send_later(
    console, client, admin_token, settings
):
    """Another site's form reaches the console without the session (SameSite=Strict): were it
    kept, the person would be offered, after signing in, to send the attacker's change."""
    admin = await signed_in(console, client, admin_token, "admin")
    await _end_session(console, settings)
    for headers in ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
                    {"Origin": "https://evil.example"}, {}):  # fmt: skip
        forged = await console.post(
            f"/users/{admin['id']}/role", data={"role": "viewer"}, headers=headers
        )
        assert forged.status_code == 303 and forged.headers["location"].startswith("/login")
        assert "remit_console_draft" not in console.cookies
    back = await sign_in(console, admin["email"])
    assert back.headers["location"] == "/"


async def test_a_form_from_a_page_opened_in_an_earlier_session_is_offered_again(
    console, client, admin_token, gateway_url
):
    manager = await signed_in(console, client, admin_token, "manager")
    old = await console.get("/customers/new")
    console.cookies.clear()
    await sign_in(console, manager["email"])  # a new session, its own form token
    company = "Opened Before Ltd"
    stale = await console.post(
        "/customers/new",
        data={"csrf": form_token(old.text), "companyName": company, "contactName": "Lee",
              "timezone": "UTC"},
        headers={"Sec-Fetch-Site": "same-origin", "Referer": f"{gateway_url}/customers/new"},
    )  # fmt: skip
    assert stale.status_code == 303
    assert stale.headers["location"] == "/resubmit?next=/customers/new"
    offered = await console.get(stale.headers["location"])
    assert f'value="{company}"' in offered.text
    # From elsewhere, the same post is refused and nothing is kept.
    forged = await console.post(
        "/customers/new",
        data={"csrf": "forged", "companyName": company},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert forged.status_code == 403 and "remit_console_draft" not in console.cookies


async def test_a_part_refreshing_itself_does_not_keep_the_session_alive(
    console, client, admin_token, settings
):
    await signed_in(console, client, admin_token, "viewer")
    redis = Redis.from_url(settings.redis_url)
    try:
        cookie = console.cookies["remit_console"]
        key = f"console:session:{hashlib.sha256(cookie.encode()).hexdigest()}"
        await redis.expire(key, 120)
        assert (await console.get("/", headers={"HX-Request": "true"})).status_code == 200
        assert await redis.ttl(key) <= 120  # the idle time runs on
        assert (await console.get("/")).status_code == 200
        assert await redis.ttl(key) > 3600  # a person's request starts it again
    finally:
        await redis.aclose()
