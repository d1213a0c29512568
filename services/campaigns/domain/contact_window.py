"""When a customer may be contacted: daily hours in their own time zone, allowed weekdays, and
holidays. Pure functions: the scheduler and the schedule preview both use them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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

    def narrowed(self, opens: time | None, closes: time | None) -> ContactWindow:
        """The window within the hours a customer prefers: only the part of them inside it
        (the law's hours win); the whole window when they chose none or none overlap."""
        if opens is None or closes is None:
            return self
        opens, closes = max(self.opens, opens), min(self.closes, closes)
        return replace(self, opens=opens, closes=closes) if opens < closes else self

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


# Preferred hours shorter than this would leave a step waiting for days.
SHORTEST_HOURS = timedelta(hours=1)


def hours_problem(opens: time | None, closes: time | None, window: ContactWindow) -> str | None:
    """Why these preferred hours cannot be kept, in the debtor's words, or None."""
    if opens is None and closes is None:
        return None
    if opens is None or closes is None:
        return '"contactFrom" and "contactUntil" go together: give both, or neither'
    if not window.opens <= opens < closes <= window.closes:
        return (
            f"Choose hours between {window.opens:%H:%M} and {window.closes:%H:%M}, "
            "the first before the second"
        )
    day = date(2000, 1, 1)
    if datetime.combine(day, closes) - datetime.combine(day, opens) < SHORTEST_HOURS:
        return "Choose at least an hour"
    return None
