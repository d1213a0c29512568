"""Stripe's webhook deliveries as Stripe signs them (`t=<time>,v1=<HMAC-SHA256>`), for the
real SDK in the service to check."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from tests.conftest import STRIPE_WEBHOOK_SECRET


def stripe_event(event_type: str, session: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": event_type,
        "api_version": "2025-01-27.acacia",
        "created": int(time.time()),
        "data": {"object": {"object": "checkout.session", **session}},
    }


def signed(event: dict[str, Any], secret: str = STRIPE_WEBHOOK_SECRET) -> tuple[bytes, str]:
    """The body and its `Stripe-Signature` header."""
    body = json.dumps(event).encode()
    stamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={stamp},v1={digest}"
