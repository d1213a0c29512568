"""Phone numbers and time zones as every service accepts them: E.164 and IANA names."""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

import phonenumbers
from pydantic import AfterValidator

PHONE_FORMAT_HINT = "use the international E.164 format, e.g. +1XXXXXXXXXX"


def to_e164(raw: str) -> str:
    """The number in E.164, or ValueError with the guide's format advice."""
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"is not a valid phone number; {PHONE_FORMAT_HINT}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"is not a valid phone number; {PHONE_FORMAT_HINT}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_time_zone(name: str) -> str:
    if name not in _zones():
        raise ValueError("must be an IANA time zone such as Europe/Paris or America/New_York")
    return name


PhoneNumber = Annotated[str, AfterValidator(to_e164)]
TimeZone = Annotated[str, AfterValidator(check_time_zone)]


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_weekdays(text: str) -> frozenset[int]:
    """`"mon,tue,wed"` → `{0, 1, 2}`."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in WEEKDAYS]
    if unknown:
        raise ValueError(f"unknown weekday(s) {unknown}; use {', '.join(WEEKDAYS)}")
    return frozenset(WEEKDAYS.index(name) for name in names)


def parse_holidays(text: str) -> frozenset[date]:
    return frozenset(date.fromisoformat(part.strip()) for part in text.split(",") if part.strip())
