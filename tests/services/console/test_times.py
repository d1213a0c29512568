"""Times in the console: shown in the zone they are about, to the minute; how often a plan's
instalments fall, in words."""

from __future__ import annotations

from services.console.domain.times import how_often, when


def test_a_time_is_shown_in_the_zone_asked_for():
    assert when("2026-12-05T03:47:04.5Z", "Etc/GMT-10") == "2026-12-05 13:47"
    assert when("2026-12-05T03:47:04Z") == "2026-12-05 03:47"


def test_what_cannot_be_read_is_shown_as_it_is():
    assert when(None) == "—" and when("") == "—"
    assert when("not a time") == "not a time"
    assert when("2026-12-05T03:47:04Z", "Not/AZone") == "2026-12-05T03:47:04Z"


def test_how_often_a_plan_falls_reads_as_people_say_it():
    assert how_often("two_weeks") == "every two weeks" and how_often("month") == "every month"
    assert how_often("fortnight_or_so") == "fortnight or so"  # one the console does not know yet
