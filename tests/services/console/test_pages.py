"""The operator console through the gateway: sign-in and its sessions, the dashboard, and the
customer screens, each only for the roles the API allows."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import date, timedelta

import httpx
from redis.asyncio import Redis

from tests.auth_helpers import bearer, forge, new_user
from tests.console_helpers import form_token, sign_in, signed_in


def _session_key(console: httpx.AsyncClient) -> str:
    cookie = console.cookies["remit_console"]
    return f"console:session:{hashlib.sha256(cookie.encode()).hexdigest()}"


async def test_a_wrong_password_shows_the_apis_message_and_keeps_the_email(console):
    page = await console.get("/login")
    assert page.status_code == 200 and 'for="email"' in page.text
    answer = await console.post(
        "/login",
        data={"email": "nobody@example.com", "password": "wrong-password-here",
              "csrf": form_token(page.text), "next": "/"},
    )  # fmt: skip
    assert answer.status_code == 400
    assert "Email or password is incorrect" in answer.text
    assert 'value="nobody@example.com"' in answer.text


async def test_a_sign_in_without_its_form_token_is_refused(gateway_url):
    async with httpx.AsyncClient(base_url=gateway_url) as elsewhere:
        answer = await elsewhere.post(
            "/login", data={"email": "a@example.com", "password": "x", "csrf": "forged"}
        )
    assert answer.status_code == 403 and "The sign-in form expired" in answer.text


async def test_a_page_sends_to_sign_in_and_back(console, client, admin_token):
    first = await console.get("/customers?q=ada")
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=/customers%3Fq%3Dada"
    user = await new_user(client, admin_token, role="viewer")
    signed = await sign_in(console, user["email"], next="/customers?q=ada")
    assert signed.status_code == 303 and signed.headers["location"] == "/customers?q=ada"
    cookie = signed.headers["set-cookie"].lower()
    assert "remit_console=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert (await console.get("/customers?q=ada")).status_code == 200


async def test_the_way_back_never_leaves_the_console(console, client, admin_token):
    user = await new_user(client, admin_token, role="viewer")
    for elsewhere in ("//evil.example/", "https://evil.example/", "/\\evil.example",
                      "/\t/evil.example", "/\n/evil.example"):  # fmt: skip
        console.cookies.clear()
        signed = await sign_in(console, user["email"], next=elsewhere)
        assert signed.headers["location"] == "/"


async def _new_customer(console: httpx.AsyncClient) -> str:
    """A customer created through the console's form; the path of its page."""
    form = await console.get("/customers/new")
    created = await console.post(
        "/customers/new",
        data={"csrf": form_token(form.text), "companyName": f"Console Co {uuid.uuid4().hex[:6]}",
              "contactName": "Ada Payer", "email": "ada@example.com", "phone": "+442079460958",
              "timezone": "Europe/London"},
    )  # fmt: skip
    assert created.status_code == 303, created.text
    return created.headers["location"].split("?")[0]


async def test_a_manager_creates_a_customer_and_sees_it_listed(console, client, admin_token):
    await signed_in(console, client, admin_token, "manager")
    customer = await _new_customer(console)
    shown = await console.get(customer, params={"notice": "Customer created."})
    assert shown.status_code == 200 and "Customer created." in shown.text
    company = shown.text.split("<h1>")[1].split("</h1>")[0]
    listed = await console.get("/customers", params={"q": company})
    assert f'href="{customer}"' in listed.text and company in listed.text


async def test_a_customers_details_are_edited_with_the_apis_checks(console, client, admin_token):
    await signed_in(console, client, admin_token, "manager")
    customer = await _new_customer(console)
    form = await console.get(f"{customer}/edit")
    assert 'value="Europe/London"' in form.text
    refused = await console.post(
        f"{customer}/edit",
        data={"csrf": form_token(form.text), "companyName": "Renamed Ltd", "contactName": "Bo",
              "timezone": "Mars/Olympus"},
    )  # fmt: skip
    assert refused.status_code == 400 and 'id="timezone-error"' in refused.text
    assert 'value="Renamed Ltd"' in refused.text
    saved = await console.post(
        f"{customer}/edit",
        data={"csrf": form_token(form.text), "companyName": "Renamed Ltd", "contactName": "Bo",
              "timezone": "Europe/Paris"},
    )  # fmt: skip
    assert saved.status_code == 303
    page = await console.get(saved.headers["location"])
    assert "<h1>Renamed Ltd</h1>" in page.text and "Europe/Paris" in page.text


async def test_payment_records_and_receipts_from_the_customers_page(console, client, admin_token):
    await signed_in(console, client, admin_token, "manager")
    customer = await _new_customer(console)
    page = await console.get(customer)
    due = (date.today() + timedelta(days=10)).isoformat()
    added = await console.post(
        f"{customer}/payments",
        data={"csrf": form_token(page.text), "invoiceNumber": "INV-7", "amount": "100.00",
              "currency": "USD", "dueDate": due},
    )  # fmt: skip
    assert added.status_code == 303
    page = await console.get(added.headers["location"])
    assert "Payment record added." in page.text and 'data-invoice="INV-7"' in page.text
    receipts = page.text.split('action="')[1:]
    action = next(a.split('"')[0] for a in receipts if a.split('"')[0].endswith("/receipts"))
    too_much = await console.post(
        action, data={"csrf": form_token(page.text), "amount": "500.00", "reference": "R1"}
    )
    assert too_much.status_code == 400
    assert 'value="500.00"' in too_much.text and "-amount-error" in too_much.text
    paid = await console.post(
        action, data={"csrf": form_token(page.text), "amount": "40.00", "reference": "R1"}
    )
    assert paid.status_code == 303
    row = (await console.get(customer)).text.split('data-invoice="INV-7"')[1].split("</tr>")[0]
    assert "<td>40.00</td><td>60.00</td>" in row
    assert 'data-source="manual">40.00 by manual (R1)<' in row  # each receipt names its source
    found = await console.get("/payments", params={"q": "inv-7"})
    assert "INV-7" in found.text.split('id="payments"')[1]
    listed = await console.get("/payments", params={"status": "partially_paid"})
    assert listed.status_code == 200 and 'id="payments"' in listed.text
    assert '<option value="partially_paid" selected>' in listed.text


async def test_a_refused_payment_record_keeps_what_was_typed(console, client, admin_token):
    await signed_in(console, client, admin_token, "manager")
    customer = await _new_customer(console)
    page = await console.get(customer)
    refused = await console.post(
        f"{customer}/payments",
        data={"csrf": form_token(page.text), "invoiceNumber": "INV-8", "amount": "-3",
              "currency": "USD", "dueDate": date.today().isoformat()},
    )  # fmt: skip
    assert refused.status_code == 400
    assert 'value="INV-8"' in refused.text and 'id="payment-amount-error"' in refused.text


async def test_a_refused_form_keeps_what_was_typed_and_puts_the_error_beside_its_field(
    console, client, admin_token
):
    await signed_in(console, client, admin_token, "manager")
    form = await console.get("/customers/new")
    answer = await console.post(
        "/customers/new",
        data={"csrf": form_token(form.text), "companyName": "Kept Ltd", "contactName": "Bo",
              "email": "not-an-email", "timezone": "UTC"},
    )  # fmt: skip
    assert answer.status_code == 400
    assert 'value="Kept Ltd"' in answer.text and 'value="not-an-email"' in answer.text
    assert 'id="email-error"' in answer.text and 'aria-invalid="true"' in answer.text


async def test_a_form_without_the_sessions_token_changes_nothing(console, client, admin_token):
    await signed_in(console, client, admin_token, "manager")
    company = f"Forged {uuid.uuid4().hex[:6]}"
    answer = await console.post(
        "/customers/new",
        data={"csrf": "forged", "companyName": company, "contactName": "X", "timezone": "UTC"},
    )
    assert answer.status_code == 403
    listed = await client.get(
        "/api/v1/customers", params={"q": company}, headers=bearer(admin_token)
    )
    assert listed.json()["total"] == 0


async def test_a_viewer_is_offered_no_form_and_refused_one(console, client, admin_token):
    await signed_in(console, client, admin_token, "viewer")
    listed = await console.get("/customers")
    assert listed.status_code == 200 and "New customer" not in listed.text
    refused = await console.get("/customers/new")
    assert refused.status_code == 403 and "customers:write" in refused.text
    customers = (await client.get("/api/v1/customers", headers=bearer(admin_token))).json()
    page = await console.get(f"/customers/{customers['items'][0]['id']}")
    assert page.status_code == 200 and 'method="post"' not in page.text.split("</header>")[1]


async def _expire_access_token(console: httpx.AsyncClient, settings) -> tuple[str, str]:
    """The session's access token swapped for an expired one (signed with the real key): the
    session's Redis key and the expired token."""
    redis = Redis.from_url(settings.redis_url)
    try:
        key = _session_key(console)
        session = json.loads(await redis.get(key) or "{}")
        expired = await forge(
            settings, sub=session["user_id"], iat=time.time() - 120, exp=time.time() - 60
        )
        await redis.set(key, json.dumps({**session, "access_token": expired}), ex=600)
    finally:
        await redis.aclose()
    return key, expired


async def test_an_expired_access_token_is_renewed_without_a_word(
    console, client, settings, admin_token
):
    await signed_in(console, client, admin_token, "viewer")
    key, expired = await _expire_access_token(console, settings)
    assert (await console.get("/customers")).status_code == 200
    redis = Redis.from_url(settings.redis_url)
    try:
        renewed = json.loads(await redis.get(key) or "{}")
    finally:
        await redis.aclose()
    assert renewed["access_token"] != expired


async def test_a_page_of_many_calls_renews_an_expired_token_once(
    console, client, settings, admin_token
):
    """The dashboard asks the API a dozen things at once: one renewal, not a dozen (a refresh
    token spent twice would end the session)."""
    await signed_in(console, client, admin_token, "admin")
    await _expire_access_token(console, settings)
    assert (await console.get("/")).status_code == 200
    assert (await console.get("/customers")).status_code == 200  # still signed in


async def test_what_the_console_cannot_read_is_a_page_not_an_error(console, client, admin_token):
    await signed_in(console, client, admin_token, "admin")
    for path in ("/customers/not-an-id", "/campaigns/nope", "/queue/x", "/users/y/role"):
        answer = await console.get(path)
        assert answer.status_code in (400, 404, 405), path
        assert "text/html" in answer.headers["content-type"]
    unkept = await console.get("/trace", params={"request_id": ".."})
    assert unkept.status_code == 400 and "No service keeps a request ID like this" in unkept.text
    home = await console.get("/")
    odd = await console.post("/logout", data={"csrf": "é" * 10})
    assert odd.status_code == 403
    page = await console.get("/compliance")
    empty = await console.post(
        "/compliance/consents/withdraw", data={"csrf": form_token(page.text), "recipient": ""}
    )
    assert empty.status_code == 400 and "Give the phone number" in empty.text
    assert 'id="withdraw-recipient-error"' in empty.text  # beside the field, on the page
    assert (await console.get("/")).status_code == 200
    assert home.status_code == 200


async def test_a_malformed_email_is_refused_beside_the_field(console):
    page = await console.get("/login")
    answer = await console.post(
        "/login",
        data={"email": "not-an-email", "password": "x", "csrf": form_token(page.text)},
    )
    assert answer.status_code == 400 and 'id="email-error"' in answer.text


async def test_a_deactivated_user_is_sent_back_to_sign_in(console, client, admin_token):
    user = await signed_in(console, client, admin_token, "viewer")
    assert (await console.get("/customers")).status_code == 200
    deactivated = await client.patch(
        f"/api/v1/users/{user['id']}", json={"isActive": False}, headers=bearer(admin_token)
    )
    assert deactivated.status_code == 200
    answer = await console.get("/customers")
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/customers"
    assert (await console.get("/")).status_code == 303  # the session is gone


async def test_signing_out_ends_the_session(console, client, admin_token):
    await signed_in(console, client, admin_token, "viewer")
    home = await console.get("/")
    out = await console.post("/logout", data={"csrf": form_token(home.text)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert (await console.get("/")).status_code == 303


async def test_the_dashboard_counts_campaigns_and_shows_admins_the_health(
    console, client, admin_token
):
    await signed_in(console, client, admin_token, "admin")
    page = await console.get("/")
    assert page.status_code == 200
    assert 'data-status="active"' in page.text and "Platform health" in page.text
    assert 'id="messages-by-channel"' in page.text and 'id="lag"' in page.text
    assert 'id="for-people"' in page.text and 'id="collected"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    viewer = await new_user(client, admin_token, role="viewer")
    console.cookies.clear()
    await sign_in(console, viewer["email"])
    as_viewer = (await console.get("/")).text
    assert "Platform health" not in as_viewer and 'id="lag"' not in as_viewer


async def test_an_unknown_page_is_a_console_404_and_the_api_keeps_its_own(console):
    page = await console.get("/no-such-page")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    api = await console.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json()["error"] == "Not Found"
