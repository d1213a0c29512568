"""The `notifier.webhook_receipts` store: which of Twilio's webhooks were handled already."""

from __future__ import annotations

from shared.db import Connection


async def first_receipt(connection: Connection, kind: str, provider_sid: str) -> bool:
    """Record that the webhook `kind` for `provider_sid` was handled; False when it already
    was (a replay, or Twilio retrying it), in which case the caller does nothing again."""
    inserted = await connection.fetchval(
        "INSERT INTO webhook_receipts (kind, provider_sid) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING RETURNING true",
        kind,
        provider_sid,
    )
    return bool(inserted)
