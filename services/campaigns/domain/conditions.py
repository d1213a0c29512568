"""Optional step conditions, checked when the step falls due. Pure."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any


def skip_reason(
    conditions: dict[str, Any], outstanding: Decimal, last_reply_at: datetime | None
) -> str | None:
    """Why the due step should be skipped, or None to send it.

    `minOutstanding`: send only while at least this much is still owed.
    `skipIfReplied`: skip once the customer has replied to the campaign.
    """
    minimum = conditions.get("minOutstanding")
    if minimum is not None and outstanding < Decimal(str(minimum)):
        return f"outstanding {outstanding:.2f} is below minOutstanding {Decimal(str(minimum)):.2f}"
    if conditions.get("skipIfReplied") and last_reply_at is not None:
        return "the customer has replied"
    return None
