"""Helpers for the notifier tests."""

from __future__ import annotations

from typing import Any

from tests.auth_helpers import bearer
from tests.helpers import schema_sql


async def notifier_sql(settings, query: str, *args: Any) -> list[Any]:
    return await schema_sql(settings, "notifier", query, *args)


async def messages_of(client, token, campaign_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/messages?campaignId={campaign_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])
