"""Auth's events (services/auth/events.py): built from their contracts, with the payloads on
the wire exactly as the service has always written them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from services.auth import events
from tests.helpers import assert_reads_back

USER: dict[str, Any] = {"id": uuid.uuid4(), "email": "a@example.com", "role": "agent",
                        "is_active": False}  # fmt: skip
WIRE = {"userId": str(USER["id"]), "email": "a@example.com", "role": "agent", "isActive": False}


def test_user_events_and_the_reset_request():
    expires = datetime(2030, 1, 2, 9, 30, 0, 123456, tzinfo=UTC)
    made = [
        (events.user_created(USER), "user.created", WIRE),
        (events.user_updated(USER), "user.updated", WIRE),
        (events.user_deactivated(USER), "user.deactivated", WIRE),
        (
            events.password_reset_requested(USER, "https://x/reset?token=t", expires),
            "auth.password_reset_requested",
            {"userId": WIRE["userId"], "email": "a@example.com",
             "resetUrl": "https://x/reset?token=t", "expiresAt": expires.isoformat(),
             "purpose": "reset"},
        ),
        (
            events.password_reset_requested(USER, "https://x/r", expires, invitation=True),
            "auth.password_reset_requested",
            {"userId": WIRE["userId"], "email": "a@example.com", "resetUrl": "https://x/r",
             "expiresAt": expires.isoformat(), "purpose": "invitation"},
        ),
    ]  # fmt: skip
    for event, event_type, wire in made:
        assert (event.type, event.payload) == (event_type, wire)
        assert_reads_back(event, "auth")


async def test_publish_keys_by_user():
    written: list[tuple[str, str]] = []

    class Connection:
        async def execute(self, _sql: str, _ids: Any, types: Any, keys: Any, *_texts: Any) -> None:
            written.extend(zip(types, keys, strict=True))

    await events.publish(Connection(), events.user_created(USER))  # type: ignore[arg-type]
    assert written == [("user.created", WIRE["userId"])]
