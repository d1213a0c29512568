"""When a customer may be contacted: daily hours in their own time zone, allowed weekdays, and
holidays. Pure functions: the scheduler and the schedule preview both use them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class ContactWindow:
    opens: time = time(8, 0)
    closes: time = time(21, 0)
    weekdays: frozenset[int] = frozenset(range(6))  # Monday=0 … Saturday=5
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.opens >= self.closes:
            raise ValueError("the contact window must open before it closes")
        if not self.weekdays:
            raise ValueError("the contact window needs at least one weekday")

    def _open_on(self, day: date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays

    def next_allowed(self, instant: datetime, zone: str) -> datetime:
        """`instant` itself when it is inside the window, else the window's next opening (UTC)."""
        tz = ZoneInfo(zone)
        local = instant.astimezone(tz)
        for offset in range(0, 366):
            day = local.date() + timedelta(days=offset)
            if not self._open_on(day):
                continue
            opening = datetime.combine(day, self.opens, tz)
            closing = datetime.combine(day, self.closes, tz)
            if offset == 0 and opening <= local < closing:
                return instant.astimezone(UTC)
            if local < opening:
                return opening.astimezone(UTC)
        raise ValueError(
            "no allowed contact time within a year; check the contact days and holidays"
        )
