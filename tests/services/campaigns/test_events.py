"""The campaigns' events (services/campaigns/events.py): built from their contracts, with the
payloads on the wire exactly as the service has always written them (keys, values, null vs
absent, timestamps as `isoformat` writes them, money with two decimals)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from services.campaigns import events
from tests.helpers import assert_reads_back

CAMPAIGN: dict[str, Any] = {
    "id": uuid.uuid4(),
    "customer_id": uuid.uuid4(),
    "payment_id": uuid.uuid4(),
}
WIRE = {
    "campaignId": str(CAMPAIGN["id"]),
    "customerId": str(CAMPAIGN["customer_id"]),
    "paymentId": str(CAMPAIGN["payment_id"]),
}
NOW = datetime(2030, 1, 2, 9, 30, 0, 123456, tzinfo=UTC)


def test_life_cycle_events_carry_the_campaign_and_their_own_fields():
    paris = timezone(timedelta(hours=1))
    made = [
        (events.campaign_started(CAMPAIGN, NOW), {**WIRE, "startedAt": NOW.isoformat()}),
        (
            events.campaign_paused(CAMPAIGN, NOW.astimezone(paris), "promise to pay", False),
            {**WIRE, "until": "2030-01-02T10:30:00.123456+01:00", "reason": "promise to pay",
             "flagged": False},
        ),
        (
            events.campaign_paused(CAMPAIGN, None, None, True),
            {**WIRE, "until": None, "reason": None, "flagged": True},
        ),
        (events.campaign_resumed(CAMPAIGN), WIRE),
        (events.campaign_completed(CAMPAIGN, "paid in full"), {**WIRE, "reason": "paid in full"}),
        (events.campaign_cancelled(CAMPAIGN, "x"), {**WIRE, "reason": "x"}),
        (events.campaign_failed(CAMPAIGN, "step failed: y"), {**WIRE, "reason": "step failed: y"}),
    ]  # fmt: skip
    for event, wire in made:
        assert event.payload == wire, event.type
        assert_reads_back(event, "campaigns")
    assert made[0][0].payload["startedAt"] == "2030-01-02T09:30:00.123456+00:00"  # not "Z"


def test_step_due_carries_the_customer_the_debt_and_the_debtors_link():
    row = {
        "campaign_id": CAMPAIGN["id"], "id": uuid.uuid4(), "step_id": uuid.uuid4(),
        "position": 2, "channel": "sms", "tone": "firm", "template": None, "attempts": 1,
        "due_at": NOW, "customer_id": CAMPAIGN["customer_id"], "company_name": "Acme",
        "contact_name": "Ann", "email": None, "phone": "+15005550006",
        "timezone": "Europe/Paris", "payment_id": CAMPAIGN["payment_id"],
        "invoice_number": "INV-1", "amount": Decimal("1250.5"), "amount_paid": Decimal("100"),
        "currency": "EUR", "due_date": date(2029, 12, 1),
    }  # fmt: skip
    event = events.step_due(row, "https://pay.example.com/pay/a.b")
    assert event.payload == {
        "campaignId": WIRE["campaignId"],
        "stepRunId": str(row["id"]),
        "stepId": str(row["step_id"]),
        "position": 2,
        "channel": "sms",
        "tone": "firm",
        "template": None,
        "attempt": 2,
        "dueAt": "2030-01-02T09:30:00.123456+00:00",
        "customer": {
            "id": WIRE["customerId"],
            "companyName": "Acme",
            "contactName": "Ann",
            "email": None,
            "phone": "+15005550006",
            "timezone": "Europe/Paris",
        },
        "payment": {
            "id": WIRE["paymentId"],
            "invoiceNumber": "INV-1",
            "amount": "1250.50",
            "amountPaid": "100.00",
            "outstanding": "1150.50",
            "currency": "EUR",
            "dueDate": "2029-12-01",
        },
        "payLink": "https://pay.example.com/pay/a.b",
    }
    assert_reads_back(event, "campaigns")


def test_payment_received():
    event = events.payment_received(
        CAMPAIGN["payment_id"], CAMPAIGN["customer_id"], Decimal("10"), "EUR", Decimal("110.5"),
        "partially_paid",
    )  # fmt: skip
    assert event.payload == {
        "paymentId": WIRE["paymentId"],
        "customerId": WIRE["customerId"],
        "amount": "10.00",
        "currency": "EUR",
        "amountPaid": "110.50",
        "status": "partially_paid",
    }
    assert_reads_back(event, "campaigns")


async def test_publish_keys_campaign_events_by_campaign_and_receipts_by_payment():
    written: list[tuple[str, str]] = []

    class Connection:
        async def execute(self, _sql: str, _ids: Any, types: Any, keys: Any, *_texts: Any) -> None:
            written.extend(zip(types, keys, strict=True))

    received = events.payment_received(
        CAMPAIGN["payment_id"], CAMPAIGN["customer_id"], Decimal(1), "EUR", Decimal(1), "paid"
    )
    await events.publish(Connection(), events.campaign_resumed(CAMPAIGN), received)  # type: ignore[arg-type]
    assert written == [
        ("campaign.resumed", WIRE["campaignId"]),
        ("payment.received", WIRE["paymentId"]),
    ]
