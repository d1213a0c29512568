"""Every event the auth service publishes, each built from its contract (shared/contracts.py)
and put in the outbox by `publish`, in the transaction of the change it tells.

An event is stamped with the request ID and trace current when it is built: callers build it
where the change is made. Every event is keyed by its user, so one user's events keep their
order.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from shared.contracts import (
    PasswordResetRequested,
    UserCreated,
    UserDeactivated,
    UserEventPayload,
    UserUpdated,
)
from shared.db import Connection
from shared.events import Envelope, event_of
from shared.outbox import enqueue_many

PRODUCER = "auth"
# A row as asyncpg reads it, or any mapping with the same keys.
Row = asyncpg.Record | Mapping[str, Any]


async def publish(connection: Connection, *events: Envelope) -> None:
    """Put these events in the outbox, in this order, each keyed by its user."""
    await enqueue_many(connection, [(event, event.payload["userId"]) for event in events])


def _user(contract: type[UserEventPayload], user: Row) -> Envelope:
    """A user as it stands after the change (the same fields for every `user.*` event)."""
    return event_of(
        contract(
            user_id=user["id"], email=user["email"], role=user["role"], is_active=user["is_active"]
        ),
        PRODUCER,
    )


def user_created(user: Row) -> Envelope:
    return _user(UserCreated, user)


def user_updated(user: Row) -> Envelope:
    return _user(UserUpdated, user)


def user_deactivated(user: Row) -> Envelope:
    return _user(UserDeactivated, user)


def password_reset_requested(
    user: Row, reset_url: str, expires_at: datetime, *, invitation: bool = False
) -> Envelope:
    """An active account's single-use link to choose a password, for the notifier to email
    (`reset_url` holds the secret token): a reset, or a new user's invitation."""
    return event_of(
        PasswordResetRequested(
            user_id=user["id"],
            email=user["email"],
            reset_url=reset_url,
            expires_at=expires_at,
            purpose="invitation" if invitation else "reset",
        ),
        PRODUCER,
    )
