"""Paying on the debtor's portal: through the simulated provider when no Stripe key is set, and
through Stripe's signed webhooks (the real SDK checks them): money is recorded only when the
provider confirms it, once, naming its source; paid in full completes the campaign."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.auth_helpers import bearer
from tests.campaign_helpers import campaign, campaigns_sql, pay_links_sent
from tests.stripe_helpers import signed, stripe_event

pytestmark = pytest.mark.usefixtures("portal_budget")

TWO_STEPS = [{"channel": "email", "delay": "P0D"}, {"channel": "email", "delay": "P5D"}]


async def _state(client, token: str, made: dict[str, Any]) -> tuple[str, str]:
    campaign_state = await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(token))
    payment = await client.get(f"/api/v1/payments/{made['paymentId']}", headers=bearer(token))
    return campaign_state.json()["status"], payment.json()["status"]


async def _receipts(settings, payment_id: str) -> list[Any]:
    return await campaigns_sql(
        settings,
        "SELECT amount, reference, source FROM payment_receipts WHERE payment_id = $1",
        uuid.UUID(payment_id),
    )


async def test_paying_through_the_simulated_provider_completes_the_campaign(
    client, admin_token, settings
):
    made = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    (link,) = await pay_links_sent(client, admin_token, made["id"], 1)
    opened = await client.post(f"/api/v1/portal/{link}/checkout")
    assert opened.status_code == 201, opened.text
    url = opened.json()["checkoutUrl"]
    assert f"/pay/{link}/checkout/" in url
    checkout_id = url.rsplit("/", 1)[1]
    assert await _state(client, admin_token, made) == ("active", "open")  # not paid yet
    paid = await client.post(f"/api/v1/portal/{link}/checkout/{checkout_id}/simulated-payment")
    assert paid.status_code == 201 and "1250.00 EUR" in paid.json()["noted"]
    assert await _state(client, admin_token, made) == ("completed", "paid")
    again = await client.post(f"/api/v1/portal/{link}/checkout/{checkout_id}/simulated-payment")
    assert again.status_code == 201
    (receipt,) = await _receipts(settings, made["paymentId"])
    assert receipt["source"] == "simulated" and str(receipt["amount"]) == "1250.00"
    nothing_owed = await client.post(f"/api/v1/portal/{link}/checkout")
    assert nothing_owed.status_code == 409
    schedule = await client.get(
        f"/api/v1/campaigns/{made['id']}/schedule", headers=bearer(admin_token)
    )
    assert schedule.json()["items"][1]["status"] == "cancelled"  # the rest is not sent


async def test_a_simulated_payment_for_another_debt_is_refused(client, admin_token):
    first = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    second = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    (link1,) = await pay_links_sent(client, admin_token, first["id"], 1)
    (link2,) = await pay_links_sent(client, admin_token, second["id"], 1)
    opened = await client.post(f"/api/v1/portal/{link1}/checkout")
    checkout_id = opened.json()["checkoutUrl"].rsplit("/", 1)[1]
    foreign = await client.post(f"/api/v1/portal/{link2}/checkout/{checkout_id}/simulated-payment")
    assert foreign.status_code == 404
    assert await _state(client, admin_token, first) == ("active", "open")


async def _stripe_checkout(settings, made: dict[str, Any]) -> str:
    """A checkout opened with Stripe (its session ID), as the portal makes one with a key."""
    session_id = f"cs_test_{uuid.uuid4().hex}"
    link_id = (
        await campaigns_sql(
            settings,
            "SELECT id FROM pay_links WHERE payment_id = $1",
            uuid.UUID(made["paymentId"]),
        )
    )[0]["id"]
    await campaigns_sql(
        settings,
        "INSERT INTO checkouts (id, payment_id, link_id, provider, provider_session_id, amount, "
        "currency) VALUES ($1, $2, $3, 'stripe', $4, 1250.00, 'EUR')",
        uuid.uuid4(), uuid.UUID(made["paymentId"]), link_id, session_id,
    )  # fmt: skip
    return session_id


async def test_a_stripe_webhook_records_the_payment_once_and_completes_the_campaign(
    client, admin_token, settings
):
    made = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    await pay_links_sent(client, admin_token, made["id"], 1)
    session_id = await _stripe_checkout(settings, made)
    event = stripe_event(
        "checkout.session.completed",
        {"id": session_id, "payment_status": "paid", "amount_total": 125000, "currency": "eur",
         "payment_intent": "pi_test_123"},
    )  # fmt: skip
    body, signature = signed(event)
    forged_body, forged = signed(event, secret="whsec_someone_else")
    refused = await client.post(
        "/api/v1/payments/webhooks/stripe", content=forged_body,
        headers={"Stripe-Signature": forged, "Content-Type": "application/json"},
    )  # fmt: skip
    assert refused.status_code == 400 and refused.json()["error"] == "Bad Request"
    assert await _state(client, admin_token, made) == ("active", "open")
    for _ in range(2):  # Stripe delivers again when unsure: the second does nothing
        answer = await client.post(
            "/api/v1/payments/webhooks/stripe", content=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
    assert await _state(client, admin_token, made) == ("completed", "paid")
    (receipt,) = await _receipts(settings, made["paymentId"])
    assert (receipt["source"], receipt["reference"]) == ("stripe", "pi_test_123")


async def test_a_failed_stripe_payment_records_nothing(client, admin_token, settings):
    made = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    await pay_links_sent(client, admin_token, made["id"], 1)
    session_id = await _stripe_checkout(settings, made)
    body, signature = signed(
        stripe_event(
            "checkout.session.async_payment_failed",
            {"id": session_id, "payment_status": "unpaid", "amount_total": 125000},
        )
    )
    answer = await client.post(
        "/api/v1/payments/webhooks/stripe", content=body,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )  # fmt: skip
    assert answer.status_code == 200
    status = await campaigns_sql(
        settings, "SELECT status FROM checkouts WHERE provider_session_id = $1", session_id
    )
    assert status[0]["status"] == "failed"
    assert await _state(client, admin_token, made) == ("active", "open")
    assert await _receipts(settings, made["paymentId"]) == []


async def test_a_stripe_refund_brings_the_receipt_and_the_record_down_once(
    client, admin_token, settings
):
    made = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    await pay_links_sent(client, admin_token, made["id"], 1)
    session_id = await _stripe_checkout(settings, made)
    intent = f"pi_{uuid.uuid4().hex}"
    deliveries = [
        stripe_event(
            "checkout.session.completed",
            {"id": session_id, "payment_status": "paid", "amount_total": 125000,
             "currency": "eur", "payment_intent": intent},
        ),
        {**stripe_event("charge.refunded", {}), "data": {"object": {
            "object": "charge", "id": "ch_1", "payment_intent": intent, "currency": "eur",
            "amount_refunded": 50000, "refunded": False}}},
    ]  # fmt: skip
    deliveries.append(deliveries[1])  # delivered twice
    for event in deliveries:
        body, signature = signed(event)
        answer = await client.post(
            "/api/v1/payments/webhooks/stripe", content=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
    payment = await client.get(f"/api/v1/payments/{made['paymentId']}", headers=bearer(admin_token))
    assert payment.json()["amountPaid"] == "750.00"
    assert payment.json()["status"] == "partially_paid"
    receipts = await client.get(
        f"/api/v1/payments/{made['paymentId']}/receipts", headers=bearer(admin_token)
    )
    (receipt,) = receipts.json()["items"]
    assert (receipt["amount"], receipt["refunded"], receipt["source"]) == (
        "1250.00",
        "500.00",
        "stripe",
    )
    assert receipt["reference"] == intent


async def test_receipts_recorded_by_hand_say_so(client, admin_token):
    made = await campaign(client, admin_token)
    recorded = await client.post(
        f"/api/v1/payments/{made['paymentId']}/receipts",
        json={"amount": "100.00", "reference": "bank-42"},
        headers=bearer(admin_token),
    )
    assert recorded.status_code == 201
    listed = await client.get(
        f"/api/v1/payments/{made['paymentId']}/receipts", headers=bearer(admin_token)
    )
    assert [(r["source"], r["amount"]) for r in listed.json()["items"]] == [("manual", "100.00")]
    missing = await client.get(
        f"/api/v1/payments/{uuid.uuid4()}/receipts", headers=bearer(admin_token)
    )
    assert missing.status_code == 404


async def _deliver(client, event: dict[str, Any]) -> int:
    body, signature = signed(event)
    answer = await client.post(
        "/api/v1/payments/webhooks/stripe", content=body,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )  # fmt: skip
    status: int = answer.status_code
    return status


async def test_money_charged_beyond_the_debt_is_refunded_first(client, admin_token, settings):
    made = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    await pay_links_sent(client, admin_token, made["id"], 1)
    session_id = await _stripe_checkout(settings, made)
    by_hand = await client.post(
        f"/api/v1/payments/{made['paymentId']}/receipts",
        json={"amount": "1000.00"}, headers=bearer(admin_token),
    )  # fmt: skip
    assert by_hand.status_code == 201  # paid by bank transfer while the checkout was open
    intent = f"pi_{uuid.uuid4().hex}"
    paid = stripe_event(
        "checkout.session.completed",
        {"id": session_id, "payment_status": "paid", "amount_total": 125000, "currency": "eur",
         "payment_intent": intent},
    )  # fmt: skip
    assert await _deliver(client, paid) == 200
    receipts = await client.get(
        f"/api/v1/payments/{made['paymentId']}/receipts", headers=bearer(admin_token)
    )
    assert [r["amount"] for r in receipts.json()["items"]] == ["1000.00", "250.00"]

    def refund(cents: int) -> dict[str, Any]:
        return {**stripe_event("charge.refunded", {}), "data": {"object": {
            "object": "charge", "id": "ch_1", "payment_intent": intent, "currency": "eur",
            "amount_refunded": cents}}}  # fmt: skip

    assert await _deliver(client, refund(100000)) == 200  # the excess given back: still paid
    payment = await client.get(f"/api/v1/payments/{made['paymentId']}", headers=bearer(admin_token))
    assert (payment.json()["amountPaid"], payment.json()["status"]) == ("1250.00", "paid")
    assert await _deliver(client, refund(125000)) == 200  # all of it: 250.00 owed again
    payment = await client.get(f"/api/v1/payments/{made['paymentId']}", headers=bearer(admin_token))
    assert (payment.json()["amountPaid"], payment.json()["status"]) == ("1000.00", "partially_paid")


async def test_a_webhook_without_an_object_or_in_another_currency_records_nothing(
    client, admin_token, settings
):
    made = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    await pay_links_sent(client, admin_token, made["id"], 1)
    session_id = await _stripe_checkout(settings, made)
    bare = {**stripe_event("checkout.session.completed", {}), "data": {}}
    assert await _deliver(client, bare) == 400
    elsewhere = stripe_event(
        "checkout.session.completed",
        {"id": session_id, "payment_status": "paid", "amount_total": 140000, "currency": "usd",
         "payment_intent": "pi_usd"},
    )  # fmt: skip
    assert await _deliver(client, elsewhere) == 200
    assert await _receipts(settings, made["paymentId"]) == []


async def test_pressing_pay_again_returns_to_the_same_checkout(client, admin_token):
    made = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    (link,) = await pay_links_sent(client, admin_token, made["id"], 1)
    first = await client.post(f"/api/v1/portal/{link}/checkout")
    second = await client.post(f"/api/v1/portal/{link}/checkout")
    assert first.status_code == second.status_code == 201
    assert first.json()["checkoutUrl"] == second.json()["checkoutUrl"]
