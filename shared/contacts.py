"""Phone numbers, time zones and currencies as every service accepts them: E.164, canonical
IANA names and ISO 4217 codes."""

from __future__ import annotations

import importlib.resources
from datetime import date
from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

import phonenumbers
from pydantic import AfterValidator, Field

PHONE_FORMAT_HINT = "use the international E.164 format, e.g. +1XXXXXXXXXX"


def to_e164(raw: str) -> str:
    """The number in E.164, or ValueError saying which format is expected."""
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"is not a valid phone number; {PHONE_FORMAT_HINT}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"is not a valid phone number; {PHONE_FORMAT_HINT}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@cache
def _zones() -> frozenset[str]:
    """The canonical IANA zones, as the tzdata package lists them (its `Z` lines: not the
    backward-compatible links such as US/Eastern, nor `Factory`, `localtime` or the POSIX-rule
    names such as EST5EDT), and UTC."""
    listing = (importlib.resources.files("tzdata") / "zoneinfo" / "tzdata.zi").read_text()
    zones = {
        fields[1]
        for fields in (line.split() for line in listing.splitlines())
        if len(fields) > 1 and fields[0] == "Z" and "/" in fields[1]
    }
    return frozenset(zones & available_timezones()) | {"UTC"}


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def known_time_zone(name: str) -> str:
    """A zone Python can compute local times in: what a stored contact's zone needs (it may
    date from before input was held to the canonical list)."""
    if name not in _known_zones():
        raise ValueError("must be an IANA time zone such as Europe/Paris or America/New_York")
    return name


def check_time_zone(name: str) -> str:
    """A zone a request may give: the canonical list only."""
    if name not in _zones():
        raise ValueError(
            "must be a canonical IANA time zone such as Europe/Paris or America/New_York, or UTC"
        )
    return name


@cache
def _currencies() -> frozenset[str]:
    """ISO 4217 codes (pycountry's table), without the codes for no currency and for tests."""
    import pycountry

    return frozenset(currency.alpha_3 for currency in pycountry.currencies) - {"XXX", "XTS"}


def check_currency(code: str) -> str:
    if code not in _currencies():
        raise ValueError("must be an ISO 4217 currency code such as EUR, USD or GBP")
    return code


PhoneNumber = Annotated[str, AfterValidator(to_e164)]
TimeZone = Annotated[str, AfterValidator(check_time_zone)]
Currency = Annotated[
    str, AfterValidator(check_currency), Field(description="ISO 4217 code, e.g. EUR")
]


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
