"""Helpers for the notifier tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.notifier.domain.guards import Facts
from tests.auth_helpers import bearer
from tests.helpers import schema_sql

NOON_NY = datetime(2026, 3, 3, 17, 0, tzinfo=UTC)  # 12:00 New York, 09:00 Los Angeles


def facts(**overrides: Any) -> Facts:
    values: dict[str, Any] = dict(
        channel="sms", recipient="+14155552671", timezone="America/Los_Angeles", now=NOON_NY,
        suppression=None, voice_consent=True, calls_last_7_days=0, last_conversation_at=None,
    )  # fmt: skip
    values.update(overrides)
    return Facts(**values)


async def notifier_sql(settings, query: str, *args: Any) -> list[Any]:
    return await schema_sql(settings, "notifier", query, *args)


async def messages_of(client, token, campaign_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/messages?campaignId={campaign_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])
