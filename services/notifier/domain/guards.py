"""The checks every message passes before it may be sent. Pure: the caller gathers the facts.

In order: a valid recipient, the suppression list, consent for AI-voice calls (TCPA), the
Regulation F call caps, then the contact hours at the recipient's local time (a message found
outside them is deferred to the next allowed moment, never dropped).

The first four are refusals: asking again will not change them, so the campaign skips the step
rather than retry it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_zones

from shared.contacts import PHONE_FORMAT_HINT, known_time_zone

STOP_WORDS = frozenset(
    {"stop", "end", "quit", "unsubscribe", "cancel", "revoke", "opt out", "optout", "stopall"}
)
SUPPRESSION_MESSAGES = {
    "do_not_call": "Number is on the Do-Not-Call list",
    "opt_out": "Recipient opted out",
    "bounce": "Email address bounced",
    "manual": "Recipient is suppressed",
}


@dataclass(frozen=True)
class Verdict:
    action: str  # "send", "defer", "suppress", "fail"
    reason: str | None = None
    send_after: datetime | None = None
    recipient: str | None = None  # normalised
    # A refusal no retry can change (the recipient, the consent, the weekly cap): the step
    # is skipped. A failure that is not one (an unknown time zone) leaves the step to fail.
    refused: bool = False


@dataclass(frozen=True)
class Facts:
    channel: str
    recipient: str
    timezone: str
    now: datetime
    suppression: str | None  # reason, when the recipient is suppressed for this channel
    voice_consent: bool
    calls_last_7_days: int
    last_conversation_at: datetime | None


@dataclass(frozen=True)
class Policy:
    opens: time = time(8, 0)
    closes: time = time(21, 0)
    max_calls_per_week: int = 7
    quiet_after_conversation: timedelta = timedelta(days=7)
    weekdays: frozenset[int] = frozenset(range(7))
    holidays: frozenset[date] = frozenset()


def normalise_phone(raw: str) -> str | None:
    number = _valid_phone(raw)
    return None if number is None else _e164(number)


def _valid_phone(raw: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def zones_for(phone: phonenumbers.PhoneNumber | None, address_zone: str) -> list[str]:
    """The customer's zone, and for a phone whose area code lies in one zone, that zone too
    (a number spanning many zones, like a toll-free one, says nothing about the hour)."""
    zones = [address_zone]
    if phone is not None:
        number_zones = phone_zones.time_zones_for_number(phone)
        if len(number_zones) == 1 and number_zones[0] != "Etc/Unknown":
            zones.append(number_zones[0])
    return list(dict.fromkeys(zones))


def _open(moment: datetime, zones: list[str], policy: Policy) -> bool:
    for zone in zones:
        local = moment.astimezone(ZoneInfo(zone))
        if local.weekday() not in policy.weekdays or local.date() in policy.holidays:
            return False
        if not policy.opens <= local.time() < policy.closes:
            return False
    return True


def next_allowed(now: datetime, zones: list[str], policy: Policy) -> datetime:
    """`now` when it is inside the contact hours in every zone, else the first quarter hour
    that is."""
    if _open(now, zones, policy):
        return now
    moment = now.replace(second=0, microsecond=0)
    moment += timedelta(minutes=15 - moment.minute % 15)
    for _ in range(4 * 24 * 14):  # two weeks in quarter hours (weekends, holidays)
        if _open(moment, zones, policy):
            return moment
        moment += timedelta(minutes=15)
    raise ValueError(f"no common contact hours in {', '.join(zones)}")


def check(facts: Facts, policy: Policy) -> Verdict:
    recipient, phone = facts.recipient, None
    if facts.channel in ("sms", "voice"):
        phone = _valid_phone(recipient)  # parsed once: its form and its zones
        if phone is None:
            return Verdict("fail", f"Invalid phone number: {PHONE_FORMAT_HINT}", refused=True)
        recipient = _e164(phone)
    if facts.suppression:
        return Verdict(
            "suppress",
            SUPPRESSION_MESSAGES.get(facts.suppression, facts.suppression),
            recipient=recipient,
            refused=True,
        )
    if facts.channel == "voice":
        if not facts.voice_consent:
            return Verdict(
                "fail",
                "No recorded consent to AI-voice calls (TCPA)",
                recipient=recipient,
                refused=True,
            )
        if facts.calls_last_7_days >= policy.max_calls_per_week:
            # The cap is a moving week, but a step waiting days for it would hold its campaign
            # up: the step is skipped, and a later call step is checked again when it comes.
            return Verdict(
                "fail",
                f"Regulation F: {policy.max_calls_per_week} call attempts for this debt in 7 days",
                recipient=recipient,
                refused=True,
            )
        if (
            facts.last_conversation_at
            and facts.now - facts.last_conversation_at < policy.quiet_after_conversation
        ):
            return Verdict(
                "defer",
                "Regulation F: no calls within 7 days after a conversation",
                facts.last_conversation_at + policy.quiet_after_conversation,
                recipient,
            )
    try:
        zones = zones_for(phone, known_time_zone(facts.timezone))
        opening = next_allowed(facts.now, zones, policy)
    except ValueError as error:
        return Verdict("fail", str(error), recipient=recipient)
    if opening > facts.now:
        return Verdict("defer", f"outside contact hours in {', '.join(zones)}", opening, recipient)
    return Verdict("send", recipient=recipient)


def is_stop(text: str) -> bool:
    return text.strip().lower().rstrip(".!") in STOP_WORDS
