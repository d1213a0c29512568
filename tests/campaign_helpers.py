"""Helpers for the campaigns tests: customers, payments and campaigns through the gateway."""

from __future__ import annotations

import uuid
from typing import Any

from shared.db import connect
from tests.auth_helpers import bearer


async def customer(client, token, **fields: Any) -> dict[str, Any]:
    body = {
        "companyName": f"Acme {uuid.uuid4().hex[:6]}",
        "contactName": "Ada Payer",
        "email": f"ap-{uuid.uuid4().hex[:8]}@acme.example.com",
        "phone": "+14155552671",
        "timezone": "Europe/Paris",
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
    connection = await connect(settings.database_url, "campaigns")
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def events_for(settings, campaign_id: str, event_type: str) -> list[dict[str, Any]]:
    rows = await campaigns_sql(
        settings,
        "SELECT envelope FROM outbox WHERE topic = $1 AND envelope->'payload'->>'campaignId' = $2 ORDER BY id",
        event_type,
        campaign_id,
    )
    return [row["envelope"] for row in rows]
