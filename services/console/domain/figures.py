"""The dashboard's figures, from what the API counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# The message statuses each column of the dashboard adds up.
SENT = ("sent", "delivered")
FAILED = ("failed", "bounced", "suppressed")
WAITING = ("queued", "sending", "deferred")


@dataclass(frozen=True)
class ChannelFigures:
    channel: str
    sent: int
    failed: int
    refused: int  # of the failed, those refused before sending (suppressed, no consent, ...)
    waiting: int


def channel_figures(channels: Iterable[dict[str, Any]]) -> list[ChannelFigures]:
    """A row per channel of `GET /messages/summary`'s `channels`."""
    return [
        ChannelFigures(
            channel=counts["channel"],
            sent=sum(counts["byStatus"].get(status, 0) for status in SENT),
            failed=sum(counts["byStatus"].get(status, 0) for status in FAILED),
            refused=counts["refused"],
            waiting=sum(counts["byStatus"].get(status, 0) for status in WAITING),
        )
        for counts in channels
    ]
