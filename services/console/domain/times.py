"""Times as people read them: in a named zone, to the minute."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def when(iso: str | None, zone: str = "UTC") -> str:
    """`2026-12-05T03:47:04Z` as `2026-12-05 13:47` in `zone` (UTC if unknown); "—" for none."""
    if not iso:
        return "—"
    try:
        moment = datetime.fromisoformat(iso)
        local = moment.astimezone(ZoneInfo(zone))
    except (ValueError, ZoneInfoNotFoundError):
        return iso
    return local.strftime("%Y-%m-%d %H:%M")
