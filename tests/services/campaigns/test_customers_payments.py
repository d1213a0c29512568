"""Customers and payment records through the gateway: validation, lists, cache, receipts."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.auth_helpers import bearer, new_user, tokens
from tests.campaign_helpers import campaigns_sql, customer, payment


async def test_customer_validation_names_the_field(client, admin_token):
    bad_phone = await client.post(
        "/api/v1/customers",
        json={
            "companyName": "X",
            "contactName": "Y",
            "phone": "555-1234",
            "timezone": "Europe/Paris",
        },
        headers=bearer(admin_token),
    )
    assert bad_phone.status_code == 400
    assert bad_phone.json()["details"].startswith('"phone" is not a valid phone number')
    assert "+1XXXXXXXXXX" in bad_phone.json()["details"]
    bad_zone = await client.post(
        "/api/v1/customers",
        json={"companyName": "X", "contactName": "Y", "timezone": "Mars/Olympus"},
        headers=bearer(admin_token),
    )
    assert bad_zone.json()["details"].startswith('"timezone" must be a canonical IANA time zone')
    normalised = await customer(client, admin_token, phone="+1 (415) 555-2671")
    assert normalised["phone"] == "+14155552671"


async def test_customer_list_search_and_cursor(client, admin_token):
    marker = uuid.uuid4().hex[:8]
    made = [await customer(client, admin_token, companyName=f"{marker} Corp {i}") for i in range(5)]
    seen, cursor = [], None
    while True:
        query = f"/api/v1/customers?q={marker}&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(query, headers=bearer(admin_token))).json()
        assert page["total"] == 5
        seen += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [c["id"] for c in made]
    by_email = await client.get(
        f"/api/v1/customers?q={made[0]['email'][:11]}", headers=bearer(admin_token)
    )
    assert made[0]["id"] in [c["id"] for c in by_email.json()["items"]]
    bad = await client.get("/api/v1/customers?cursor=garbage", headers=bearer(admin_token))
    assert bad.status_code == 400 and bad.json()["details"] == '"cursor" is invalid'


async def test_write_invalidates_the_cached_read(client, admin_token):
    made = await customer(client, admin_token)
    first = await client.get(f"/api/v1/customers/{made['id']}", headers=bearer(admin_token))
    assert first.json()["contactName"] == "Ada Payer"
    changed = await client.patch(
        f"/api/v1/customers/{made['id']}",
        json={"contactName": "Grace Payer", "isActive": False},
        headers=bearer(admin_token),
    )
    assert changed.status_code == 200
    after = await client.get(f"/api/v1/customers/{made['id']}", headers=bearer(admin_token))
    assert after.json()["contactName"] == "Grace Payer" and after.json()["isActive"] is False
    null_name = await client.patch(
        f"/api/v1/customers/{made['id']}", json={"companyName": None}, headers=bearer(admin_token)
    )
    assert (
        null_name.status_code == 400
        and '"companyName" must not be null' in null_name.json()["details"]
    )


async def test_permissions_and_missing_resources(client, admin_token):
    viewer = await new_user(client, admin_token, role="viewer")
    token = (await tokens(client, viewer["email"]))["accessToken"]
    listed = await client.get("/api/v1/customers", headers=bearer(token))
    assert listed.status_code == 200
    refused = await client.post(
        "/api/v1/customers",
        json={"companyName": "X", "contactName": "Y", "timezone": "UTC"},
        headers=bearer(token),
    )
    assert refused.status_code == 403 and "customers:write" in refused.json()["details"]
    missing = await client.get(f"/api/v1/customers/{uuid.uuid4()}", headers=bearer(admin_token))
    assert missing.status_code == 404
    anonymous = await client.get("/api/v1/customers")
    assert anonymous.status_code == 401


async def test_payments_receipts_and_exact_money(client, settings, admin_token):
    owner = await customer(client, admin_token)
    record = await payment(client, admin_token, owner["id"], amount="100.10")
    assert (
        record["amount"] == "100.10"
        and record["amountPaid"] == "0.00"
        and record["status"] == "open"
    )
    duplicate = await client.post(
        "/api/v1/payments",
        json={
            "customerId": owner["id"],
            "invoiceNumber": record["invoiceNumber"],
            "amount": "1.00",
            "currency": "EUR",
            "dueDate": "2026-01-01",
        },
        headers=bearer(admin_token),
    )
    assert duplicate.status_code == 409
    floaty = await client.post(
        "/api/v1/payments",
        json={
            "customerId": owner["id"],
            "invoiceNumber": "F-1",
            "amount": "10.005",
            "currency": "EUR",
            "dueDate": "2026-01-01",
        },
        headers=bearer(admin_token),
    )
    assert floaty.status_code == 400 and "2 decimal places" in floaty.json()["details"]
    part = await client.post(
        f"/api/v1/payments/{record['id']}/receipts",
        json={"amount": "0.10"},
        headers=bearer(admin_token),
    )
    assert part.status_code == 201
    assert part.json()["status"] == "partially_paid" and part.json()["outstanding"] == "100.00"
    rest = await client.post(
        f"/api/v1/payments/{record['id']}/receipts",
        json={"amount": "100.00"},
        headers=bearer(admin_token),
    )
    assert rest.json()["status"] == "paid" and rest.json()["amountPaid"] == "100.10"
    more = await client.post(
        f"/api/v1/payments/{record['id']}/receipts",
        json={"amount": "1.00"},
        headers=bearer(admin_token),
    )
    assert more.status_code == 409
    events = await campaigns_sql(
        settings,
        "SELECT envelope FROM outbox WHERE topic = 'payment.received' AND event_key = $1 ORDER BY id",
        record["id"],
    )
    assert [e["envelope"]["payload"]["status"] for e in events] == ["partially_paid", "paid"]
    listed = await client.get(
        f"/api/v1/payments?customerId={owner['id']}&status=paid", headers=bearer(admin_token)
    )
    assert [p["id"] for p in listed.json()["items"]] == [record["id"]]


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("currency", "ABC", '"currency" must be an ISO 4217 currency code'),
        ("currency", "XXX", '"currency" must be an ISO 4217 currency code'),
        ("dueDate", "1999-12-31", '"dueDate" must be between 2000-01-01 and'),
        ("dueDate", "2205-01-31", '"dueDate" must be between 2000-01-01 and'),
    ],
)
async def test_implausible_payment_records_are_refused(client, admin_token, field, value, said):
    owner = await customer(client, admin_token)
    body = {"customerId": owner["id"], "invoiceNumber": "INV-X", "amount": "10.00",
            "currency": "EUR", "dueDate": "2026-01-01", field: value}  # fmt: skip
    refused = await client.post("/api/v1/payments", json=body, headers=bearer(admin_token))
    assert refused.status_code == 400 and refused.json()["details"].startswith(said)


@pytest.mark.parametrize("zone", ["localtime", "Factory", "EST5EDT", "US/Eastern", "Mars/Olympus"])
async def test_only_canonical_time_zones_are_accepted(client, admin_token, zone):
    body = {"companyName": "Acme", "contactName": "Ada", "email": "ada@example.com",
            "timezone": zone}  # fmt: skip
    refused = await client.post("/api/v1/customers", json=body, headers=bearer(admin_token))
    assert refused.status_code == 400
    assert refused.json()["details"].startswith('"timezone" must be a canonical IANA time zone')


async def test_a_receipt_from_the_future_is_refused(client, admin_token):
    owner = await customer(client, admin_token)
    record = await payment(client, admin_token, owner["id"])
    for when in ("2999-01-01T00:00:00+00:00", "1990-01-01T00:00:00+00:00"):
        refused = await client.post(
            f"/api/v1/payments/{record['id']}/receipts",
            json={"amount": "1.00", "receivedAt": when},
            headers=bearer(admin_token),
        )
        assert refused.status_code == 400
        assert refused.json()["details"].startswith('"receivedAt" must be between 2000-01-01')


async def test_the_same_receipt_posted_twice_at_once_counts_once(client, admin_token):
    owner = await customer(client, admin_token)
    record = await payment(client, admin_token, owner["id"], amount="80.00")
    receipt = {"amount": "40.00", "reference": "SEPA 4711"}
    answers = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/payments/{record['id']}/receipts",
                json=receipt,
                headers=bearer(admin_token),
            )
            for _ in range(2)
        )
    )
    assert sorted(answer.status_code for answer in answers) == [201, 409]
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert 'reference "SEPA 4711" is already recorded' in refused.json()["details"]
    now = await client.get(f"/api/v1/payments/{record['id']}", headers=bearer(admin_token))
    assert now.json()["amountPaid"] == "40.00" and now.json()["status"] == "partially_paid"
