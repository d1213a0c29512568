"""Times as people read them: in a named zone, to the minute; how often a plan's instalments
fall."""

from __future__ import annotations

from datetime import datetime, time
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


def start_of_day(moment: datetime, zone: str) -> datetime:
    """Midnight of `moment`'s day in `zone` (a named zone, known to be valid)."""
    local = moment.astimezone(ZoneInfo(zone))
    return datetime.combine(local.date(), time(0), local.tzinfo)


_HOW_OFTEN = {"week": "every week", "two_weeks": "every two weeks", "month": "every month"}


def how_often(every: str) -> str:
    """A payment plan's `every` as people say it: `two_weeks` as "every two weeks"."""
    return _HOW_OFTEN.get(every, every.replace("_", " "))
