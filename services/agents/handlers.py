"""Event handlers of the agents service."""

from __future__ import annotations

import uuid

from shared.consumer import Subscription
from shared.db import Connection
from shared.events import Envelope


async def remember_user(connection: Connection, event: Envelope) -> None:
    """Keep the user directory in step with auth's `user.*` events."""
    payload = event.payload
    await connection.execute(
        "INSERT INTO user_directory (user_id, email, role, is_active) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, role = EXCLUDED.role, "
        "is_active = EXCLUDED.is_active, updated_at = now()",
        uuid.UUID(payload["userId"]),
        payload["email"],
        payload["role"],
        payload["isActive"],
    )


SUBSCRIPTIONS = (
    Subscription("user.created", remember_user),
    Subscription("user.updated", remember_user),
    Subscription("user.deactivated", remember_user),
)
