"""The notifier's guards, free of I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notifier.domain.guards import Policy, check, is_stop
from tests.notifier_helpers import NOON_NY, facts


def test_invalid_phone_is_refused_with_the_guides_format_hint():
    verdict = check(facts(recipient="555-1234"), Policy())
    assert verdict.action == "fail" and "+1XXXXXXXXXX" in str(verdict.reason)
    assert check(facts(recipient="+1 (415) 555-2671"), Policy()).recipient == "+14155552671"


def test_suppressed_recipient():
    verdict = check(facts(suppression="do_not_call"), Policy())
    assert verdict.action == "suppress" and verdict.reason == "Number is on the Do-Not-Call list"


def test_voice_needs_consent_and_respects_regulation_f():
    assert "TCPA" in str(check(facts(channel="voice", voice_consent=False), Policy()).reason)
    capped = check(facts(channel="voice", calls_last_7_days=7), Policy())
    assert capped.action == "fail" and "Regulation F" in str(capped.reason)
    talked = NOON_NY - timedelta(days=2)
    quiet = check(facts(channel="voice", last_conversation_at=talked), Policy())
    assert quiet.action == "defer" and quiet.send_after == talked + timedelta(days=7)


def test_contact_hours_in_both_the_address_and_the_area_code_zone():
    # A San Francisco number for a customer in New York, at 08:30 New York = 05:30 San Francisco.
    early = datetime(2026, 3, 3, 13, 30, tzinfo=UTC)
    verdict = check(facts(timezone="America/New_York", now=early), Policy())
    assert verdict.action == "defer"
    assert verdict.send_after == datetime(2026, 3, 3, 16, 0, tzinfo=UTC)  # 08:00 San Francisco
    # Late evening in Paris for an email: deferred to the next morning there.
    late = datetime(2026, 3, 3, 21, 30, tzinfo=UTC)  # 22:30 Paris
    email = check(
        facts(channel="email", recipient="a@b.example", timezone="Europe/Paris", now=late), Policy()
    )
    assert email.action == "defer" and email.send_after == datetime(2026, 3, 4, 7, 0, tzinfo=UTC)
    assert check(facts(), Policy()).action == "send"


def test_unknown_time_zone_fails_the_message_instead_of_the_loop():
    verdict = check(facts(timezone="Mars/Olympus"), Policy())
    assert verdict.action == "fail" and "IANA time zone" in str(verdict.reason)


def test_stop_words():
    for word in ("STOP", "stop.", "End", "QUIT", "unsubscribe", "Cancel", "REVOKE", "opt out"):
        assert is_stop(word)
    assert not is_stop("please stop by tomorrow")


def test_closed_days_and_holidays_defer_to_the_next_open_day():
    from datetime import date

    policy = Policy(weekdays=frozenset(range(6)), holidays=frozenset({date(2026, 3, 9)}))
    sunday_noon = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)  # a Sunday, Monday the 9th a holiday
    verdict = check(
        facts(channel="email", recipient="a@b.example", timezone="UTC", now=sunday_noon), policy
    )
    assert verdict.action == "defer" and verdict.send_after == datetime(
        2026, 3, 10, 8, 0, tzinfo=UTC
    )
