"""Helpers for the campaigns tests: customers, payments and campaigns through the gateway."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from shared.contracts import PAYLOADS
from shared.events import Envelope
from tests.auth_helpers import bearer
from tests.helpers import eventually, publish_raw, schema_sql
from tests.notifier_helpers import messages_of


async def customer(client, token, **fields: Any) -> dict[str, Any]:
    body = {
        "companyName": f"Acme {uuid.uuid4().hex[:6]}",
        "contactName": "Ada Payer",
        "email": f"ap-{uuid.uuid4().hex[:8]}@acme.example.com",
        # A freephone number, unique per customer: it has no zone of its own, so the
        # customer's (daytime) zone alone decides when it may be contacted.
        "phone": f"+8001{uuid.uuid4().int % 10**7:07d}",
        "timezone": daytime_zone(),
        **fields,
    }
    response = await client.post("/api/v1/customers", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def payment(client, token, customer_id, **fields: Any) -> dict[str, Any]:
    body = {
        "customerId": customer_id,
        "invoiceNumber": f"INV-{uuid.uuid4().hex[:8]}",
        "amount": "1250.00",
        "currency": "EUR",
        "dueDate": "2026-01-31",
        **fields,
    }
    response = await client.post("/api/v1/payments", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def campaign(client, token, steps=None, start=False, **fields: Any) -> dict[str, Any]:
    if "customerId" not in fields:
        fields["customerId"] = (await customer(client, token))["id"]
    if "paymentId" not in fields:
        fields["paymentId"] = (await payment(client, token, fields["customerId"]))["id"]
    body = {
        "name": "Overdue January",
        "steps": steps or [{"channel": "email", "delay": "P0D"}],
        **fields,
    }
    response = await client.post("/api/v1/campaigns", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    created = dict(response.json())
    if start:
        started = await client.post(
            f"/api/v1/campaigns/{created['id']}/start", headers=bearer(token)
        )
        assert started.status_code == 200, started.text
        return dict(started.json())
    return created


async def campaigns_sql(settings, query: str, *args: Any) -> list[Any]:
    return await schema_sql(settings, "campaigns", query, *args)


async def events_for(settings, campaign_id: str, event_type: str) -> list[dict[str, Any]]:
    rows = await campaigns_sql(
        settings,
        "SELECT envelope FROM outbox WHERE topic = $1 AND envelope->'payload'->>'campaignId' = $2 ORDER BY id",
        event_type,
        campaign_id,
    )
    return [row["envelope"] for row in rows]


def daytime_zone(at: datetime | None = None) -> str:
    """An IANA zone where it is early afternoon `at` (by default now), so steps due then are
    sendable."""
    hour = (at or datetime.now(UTC)).astimezone(UTC).hour
    offset = (13 - hour + 12) % 24 - 12  # local hour ≈ 13:00, offset within -12..+11
    # Etc/GMT zones carry the inverted POSIX sign: Etc/GMT-3 is UTC+3.
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def _filler(event_type: str) -> dict[str, Any]:
    """What a producer always sends beside the fields a test cares about."""
    some = {"taskId": str(uuid.uuid4()), "customerId": str(uuid.uuid4()), "channel": "email"}
    fillers: dict[str, dict[str, Any]] = {
        "message.failed": {
            "messageId": str(uuid.uuid4()),
            "idempotencyKey": uuid.uuid4().hex,
            "channel": "email",
            "status": "failed",
            "retryable": True,
            "outcomeUnknown": False,
        },
        "task.completed": some,
        "task.failed": {**some, "retryable": True, "outcomeUnknown": False},
        "reply.classified": {"confidence": 1.0},
        "reply.received": {"from": "+14155550100"},
        "message.requested": {
            "taskId": str(uuid.uuid4()),
            "campaignId": str(uuid.uuid4()),
            "stepRunId": str(uuid.uuid4()),
            "customerId": str(uuid.uuid4()),
            "paymentId": str(uuid.uuid4()),
            "composedBy": "tests",
        },
    }
    return fillers.get(event_type, {})


async def send_event(settings, event_type: str, key: str, payload: dict[str, Any]) -> Envelope:
    """Publish an event as another service would (through Kafka, not our code): the fields
    given, the rest of what its producer always sends, held to the event's contract."""
    payload = {**_filler(event_type), **payload}
    PAYLOADS[event_type].model_validate(payload)
    event = Envelope(type=event_type, producer="tests", payload=payload)
    await publish_raw(
        settings.kafka_bootstrap_servers,
        event_type,
        [(key.encode(), event.model_dump_json().encode())],
    )
    return event


async def runs_of(settings, campaign_id: str) -> list[Any]:
    return await campaigns_sql(
        settings,
        "SELECT * FROM step_runs WHERE campaign_id = $1 ORDER BY position",
        uuid.UUID(campaign_id),
    )


def night_phone() -> str:
    """A number whose own time zone is at night now: the notifier defers SMS to it, so a
    test can drive a step's results itself without a real send racing it."""
    from zoneinfo import ZoneInfo

    candidates = {
        "+14155552671": "America/Los_Angeles",
        "+442079460123": "Europe/London",
        "+81312345678": "Asia/Tokyo",
        "+61291234567": "Australia/Sydney",
        "+5511987654321": "America/Sao_Paulo",
    }
    for number, zone in candidates.items():
        hour = datetime.now(ZoneInfo(zone)).hour
        if hour < 7 or hour >= 22:  # an hour of margin around the 08:00-21:00 window
            return number
    raise AssertionError("no candidate number is at night now")


async def deferred_sms_campaign(client, token) -> dict[str, Any]:
    """A started one-step SMS campaign whose message the notifier defers (it is night at the
    number): the test itself plays the step's results, with no real send racing it."""
    owner = await customer(client, token, phone=night_phone())
    return await campaign(
        client,
        token,
        customerId=owner["id"],
        steps=[{"channel": "sms", "delay": "P0D"}],
        start=True,
    )


PAY_LINK = re.compile(r"https?://[^\s/]+/pay/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")


async def pay_links_sent(client, token: str, campaign_id: str, count: int) -> list[str]:
    """The tokens of the debtor's links in the campaign's `count` messages, once sent."""
    sent = await eventually(
        lambda: messages_of(client, token, campaign_id),
        lambda m: len(m) == count and all(x["status"] == "sent" for x in m),
        timeout=45,
    )
    found = [PAY_LINK.search(message["body"]) for message in sent]
    assert all(found), [message["body"] for message in sent]
    return [match.group(1) for match in found if match]
