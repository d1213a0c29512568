"""What customers answered, listed for a customer and a campaign, and the money collected over
a period, per currency."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.auth_helpers import bearer
from tests.campaign_helpers import campaign, campaigns_sql, customer, payment, send_event
from tests.helpers import eventually, publish_raw


async def test_replies_are_kept_once_and_listed_for_the_customer_and_the_campaign(
    client, settings, admin_token
):
    made = await campaign(client, admin_token, start=True)
    customer_id, campaign_id = made["customerId"], made["id"]
    promise = await send_event(
        settings,
        "reply.classified",
        customer_id,
        {
            "customerId": customer_id,
            "campaignId": campaign_id,
            "channel": "sms",
            "text": "I will pay on Friday",
            "intent": "promise_to_pay",
            "confidence": 0.93,
            "promisedDate": "2030-01-04",
        },
    )
    # A reply tied to no campaign is the customer's, not the campaign's.
    await send_event(
        settings,
        "reply.classified",
        customer_id,
        {"customerId": customer_id, "channel": "voice", "text": "who is this", "intent": "other"},
    )
    # The same event delivered again adds nothing.
    await publish_raw(
        settings.kafka_bootstrap_servers,
        "reply.classified",
        [(customer_id.encode(), promise.model_dump_json().encode())],
    )

    async def customer_replies() -> list[dict[str, Any]]:
        answer = await client.get(
            f"/api/v1/customers/{customer_id}/replies", headers=bearer(admin_token)
        )
        assert answer.status_code == 200, answer.text
        return list(answer.json()["items"])

    listed = await eventually(customer_replies, lambda items: len(items) == 2)
    assert [r["intent"] for r in listed] == ["promise_to_pay", "other"]
    first = listed[0]
    assert first["id"] == str(promise.event_id)
    assert first["text"] == "I will pay on Friday" and first["channel"] == "sms"
    assert first["promisedDate"] == "2030-01-04" and first["confidence"] == 0.93

    of_campaign = await client.get(
        f"/api/v1/campaigns/{campaign_id}/replies", headers=bearer(admin_token)
    )
    assert of_campaign.status_code == 200
    body = of_campaign.json()
    assert body["total"] == 1 and body["items"][0]["id"] == str(promise.event_id)


async def test_replies_of_something_unknown_are_a_404(client, admin_token):
    for path in ("customers", "campaigns"):
        missing = uuid.uuid4()
        answer = await client.get(f"/api/v1/{path}/{missing}/replies", headers=bearer(admin_token))
        assert answer.status_code == 404
        assert str(missing) in answer.json()["details"]


async def test_a_reply_for_an_unknown_customer_is_not_kept(client, settings, admin_token):
    stranger = str(uuid.uuid4())
    await send_event(
        settings, "reply.classified", stranger, {"customerId": stranger, "intent": "other"}
    )
    known = (await customer(client, admin_token))["id"]
    # Events on one key are handled in order: once the known customer's reply is listed, the
    # stranger's was handled before it.
    await send_event(
        settings, "reply.classified", stranger, {"customerId": known, "intent": "paid"}
    )
    await eventually(
        lambda: client.get(f"/api/v1/customers/{known}/replies", headers=bearer(admin_token)),
        lambda answer: answer.json()["total"] == 1,
    )

    assert (
        await campaigns_sql(
            settings, "SELECT 1 FROM replies WHERE customer_id = $1", uuid.UUID(stranger)
        )
        == []
    )


async def test_money_collected_over_a_period_is_summed_per_currency(client, admin_token):
    someone = (await customer(client, admin_token))["id"]
    now = datetime.now(UTC)
    since = now - timedelta(hours=1)
    euros = await payment(client, admin_token, someone, amount="500.00", currency="EUR")
    pounds = await payment(client, admin_token, someone, amount="80.00", currency="GBP")
    before = await client.get(
        "/api/v1/payments/collected",
        params={"since": since.isoformat()},
        headers=bearer(admin_token),
    )
    assert before.status_code == 200, before.text
    base = {t["currency"]: t for t in before.json()["totals"]}
    receipts = [
        (euros, "120.50", now - timedelta(minutes=5)),
        (euros, "79.50", now - timedelta(minutes=1)),
        (pounds, "80.00", now - timedelta(minutes=2)),
        (euros, "300.00", now - timedelta(days=2)),  # before the period
    ]
    for record, amount, received in receipts:
        answer = await client.post(
            f"/api/v1/payments/{record['id']}/receipts",
            json={"amount": amount, "receivedAt": received.isoformat()},
            headers=bearer(admin_token),
        )
        assert answer.status_code == 201, answer.text
    after = await client.get(
        "/api/v1/payments/collected",
        params={"since": since.isoformat()},
        headers=bearer(admin_token),
    )
    totals = {t["currency"]: t for t in after.json()["totals"]}

    def grown(currency: str) -> tuple[str, int]:
        was = base.get(currency, {"amount": "0", "receipts": 0})
        return (
            f"{float(totals[currency]['amount']) - float(was['amount']):.2f}",
            totals[currency]["receipts"] - was["receipts"],
        )

    assert grown("EUR") == ("200.00", 2)
    assert grown("GBP") == ("80.00", 1)
    by_default = await client.get("/api/v1/payments/collected", headers=bearer(admin_token))
    window = by_default.json()
    assert datetime.fromisoformat(window["until"]) - datetime.fromisoformat(
        window["since"]
    ) == timedelta(days=30)


async def test_a_period_that_ends_before_it_starts_or_has_no_zone_is_refused(client, admin_token):
    now = datetime.now(UTC)
    backwards = await client.get(
        "/api/v1/payments/collected",
        params={"since": now.isoformat(), "until": (now - timedelta(days=1)).isoformat()},
        headers=bearer(admin_token),
    )
    assert backwards.status_code == 400
    assert backwards.json()["details"] == '"since" must be before "until"'
    naive = await client.get(
        "/api/v1/payments/collected",
        params={"since": "2026-01-01T00:00:00"},
        headers=bearer(admin_token),
    )
    assert naive.status_code == 400
    assert naive.json()["error"] == "Validation error"


async def test_a_period_outside_the_years_the_platform_counts_is_refused(client, admin_token):
    for params in ({"until": "0001-01-01T00:00:00Z"}, {"since": "0001-01-01T00:00:00+14:00"},
                   {"since": "2150-01-01T00:00:00Z", "until": "2151-01-01T00:00:00Z"}):  # fmt: skip
        for path in ("/api/v1/payments/collected", "/api/v1/messages/summary"):
            answer = await client.get(path, params=params, headers=bearer(admin_token))
            assert answer.status_code == 400, (path, params, answer.text)
            assert "between 2000-01-01 and 2100-01-01" in answer.json()["details"]


async def test_payment_records_are_found_by_part_of_their_invoice_number(client, admin_token):
    someone = (await customer(client, admin_token))["id"]
    marker = uuid.uuid4().hex[:6].upper()
    await payment(client, admin_token, someone, invoiceNumber=f"INV-{marker}-7")
    await payment(client, admin_token, someone, invoiceNumber="INV-OTHER")
    found = await client.get(
        "/api/v1/payments", params={"q": marker.lower()}, headers=bearer(admin_token)
    )
    assert [p["invoiceNumber"] for p in found.json()["items"]] == [f"INV-{marker}-7"]
    wildcard = await client.get("/api/v1/payments", params={"q": "%"}, headers=bearer(admin_token))
    assert wildcard.json()["total"] == 0  # matched as itself, not as a wildcard
