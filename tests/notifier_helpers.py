"""Helpers for the notifier tests."""

from __future__ import annotations

from typing import Any

from shared.db import connect
from tests.auth_helpers import bearer


async def notifier_sql(settings, query: str, *args: Any) -> list[Any]:
    connection = await connect(settings.database_url, "notifier")
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def messages_of(client, token, campaign_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/messages?campaignId={campaign_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])
