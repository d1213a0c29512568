"""The campaigns service's pure rules: contact window, state machine, start checks."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.campaigns.domain.contact_window import ContactWindow
from services.campaigns.domain.lifecycle import Action, IllegalTransitionError, Status, transition
from services.campaigns.domain.start_checks import (
    CustomerFacts,
    PaymentFacts,
    StepFacts,
    start_problem,
)
from shared.contacts import parse_weekdays

WINDOW = ContactWindow()  # 08:00 to 21:00, Monday to Saturday


def local(zone: str, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))


@pytest.mark.parametrize(
    ("zone", "instant", "expected"),
    [
        # 03:00 on a Tuesday in New York moves to 08:00 that morning.
        ("America/New_York", (2026, 3, 3, 3, 0), (2026, 3, 3, 8, 0)),
        # Inside the window: unchanged.
        ("Europe/Paris", (2026, 3, 3, 14, 30), (2026, 3, 3, 14, 30)),
        # 21:00 is closed: next morning.
        ("Europe/Paris", (2026, 3, 3, 21, 0), (2026, 3, 4, 8, 0)),
        # Saturday night goes past Sunday to Monday morning.
        ("Asia/Tokyo", (2026, 3, 7, 22, 0), (2026, 3, 9, 8, 0)),
    ],
)
def test_contact_window_moves_into_local_hours(zone, instant, expected):
    moved = WINDOW.next_allowed(local(zone, *instant), zone)
    assert moved == local(zone, *expected)
    assert moved.tzinfo == UTC


def test_same_instant_lands_differently_in_two_zones():
    instant = datetime(2026, 3, 3, 7, 0, tzinfo=UTC)  # 08:00 Paris, 02:00 New York
    assert WINDOW.next_allowed(instant, "Europe/Paris") == instant
    assert WINDOW.next_allowed(instant, "America/New_York") == local(
        "America/New_York", 2026, 3, 3, 8, 0
    )


def test_holidays_and_weekdays_are_configurable():
    window = ContactWindow(
        opens=time(9), closes=time(17), weekdays=parse_weekdays("mon,tue,wed,thu,fri"),
        holidays=frozenset({date(2026, 12, 25)}),
    )  # fmt: skip
    # Christmas is a Friday: the next allowed moment is Monday 09:00.
    moved = window.next_allowed(local("Europe/London", 2026, 12, 24, 18, 0), "Europe/London")
    assert moved == local("Europe/London", 2026, 12, 28, 9, 0)
    with pytest.raises(ValueError, match="unknown weekday"):
        parse_weekdays("mon,funday")


def test_dst_spring_forward_morning_is_handled():
    # 2026-03-08: clocks jump 02:00→03:00 in New York; 02:30 does not exist locally.
    moved = WINDOW.next_allowed(datetime(2026, 3, 8, 7, 30, tzinfo=UTC), "America/New_York")
    assert moved == local("America/New_York", 2026, 3, 9, 8, 0)  # Sunday closed → Monday


def test_transitions_and_illegal_ones_name_the_state():
    assert transition(Status.DRAFT, Action.START) is Status.ACTIVE
    assert transition(Status.DRAFT, Action.START, starts_later=True) is Status.SCHEDULED
    assert transition(Status.ACTIVE, Action.PAUSE) is Status.PAUSED
    assert transition(Status.PAUSED, Action.RESUME) is Status.ACTIVE
    with pytest.raises(IllegalTransitionError, match="Campaign is completed; it cannot resume"):
        transition(Status.COMPLETED, Action.RESUME)
    with pytest.raises(IllegalTransitionError, match="Campaign is active; it cannot start"):
        transition(Status.ACTIVE, Action.START)


NOW = datetime(2026, 3, 3, 12, tzinfo=UTC)
CUSTOMER = CustomerFacts(uuid.uuid4(), "Acme", True, "ap@acme.example", None)
PAYMENT = PaymentFacts(uuid.uuid4(), CUSTOMER.id, "INV-1", "open")
STEPS = [StepFacts("email", timedelta(0))]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"customer": None}, f"Customer {CUSTOMER.id} does not exist"),
        (
            {"customer": CustomerFacts(CUSTOMER.id, "Acme", False, "a@b.c", None)},
            "Customer Acme is inactive",
        ),
        ({"payment": None}, f"Payment record {PAYMENT.id} does not exist"),
        (
            {"payment": PaymentFacts(PAYMENT.id, uuid.uuid4(), "INV-1", "open")},
            "Payment record INV-1 belongs to another customer",
        ),
        (
            {"payment": PaymentFacts(PAYMENT.id, CUSTOMER.id, "INV-1", "paid")},
            "Payment record INV-1 is already paid",
        ),
        ({"steps": []}, "Campaign has no escalation steps"),
        ({"steps": [StepFacts("fax", timedelta(0))]}, "Step 1 has unknown channel 'fax'"),
        ({"steps": [StepFacts("email", timedelta(days=-1))]}, "Step 1 has a negative delay"),
        (
            {
                "steps": [
                    StepFacts("email", timedelta(days=3)),
                    StepFacts("email", timedelta(days=1)),
                ]
            },
            "Step 2 comes before step 1",
        ),
        (
            {"steps": [StepFacts("sms", timedelta(0))]},
            "Step 1 (sms) needs the customer's phone, which is missing",
        ),
        ({"start_at": NOW - timedelta(minutes=1)}, "is not in the future"),
    ],
)
def test_each_start_problem_has_its_own_message(change, message):
    facts = {"customer": CUSTOMER, "payment": PAYMENT, "steps": STEPS, "start_at": None} | change
    problem = start_problem(
        facts["customer"],
        CUSTOMER.id,
        facts["payment"],
        PAYMENT.id,
        facts["steps"],
        facts["start_at"],
        NOW,
    )
    assert problem is not None and message in problem


def test_a_sound_campaign_can_start():
    assert start_problem(CUSTOMER, CUSTOMER.id, PAYMENT, PAYMENT.id, STEPS, None, NOW) is None


def test_step_conditions():
    from decimal import Decimal

    from services.campaigns.domain.conditions import skip_reason

    assert skip_reason({}, Decimal("10.00"), None) is None
    assert skip_reason({"minOutstanding": "50.00"}, Decimal("49.99"), None) == (
        "outstanding 49.99 is below minOutstanding 50.00"
    )
    assert skip_reason({"minOutstanding": "50.00"}, Decimal("50.00"), None) is None
    assert skip_reason({"skipIfReplied": True}, Decimal("1"), NOW) == "the customer has replied"
    assert skip_reason({"skipIfReplied": True}, Decimal("1"), None) is None


def test_the_debtors_hours_narrow_the_window_and_never_widen_it():
    from services.campaigns.domain.contact_window import hours_problem

    evening = WINDOW.narrowed(time(18), time(23))
    assert (evening.opens, evening.closes) == (time(18), time(21))  # the law's hours win
    assert WINDOW.narrowed(None, None) == WINDOW
    assert WINDOW.narrowed(time(22), time(23)) == WINDOW  # no overlap: the whole window
    assert hours_problem(None, None, WINDOW) is None
    assert hours_problem(time(9), time(10), WINDOW) is None
    assert "go together" in (hours_problem(time(9), None, WINDOW) or "")
    assert "between 08:00 and 21:00" in (hours_problem(time(7), time(10), WINDOW) or "")
    assert "between" in (hours_problem(time(12), time(11), WINDOW) or "")
    assert "at least an hour" in (hours_problem(time(9), time(9, 59), WINDOW) or "")


def test_a_plan_splits_the_debt_to_the_cent_on_its_dates():
    from decimal import Decimal

    from services.campaigns.domain.plans import PlanTerms, add_months, instalments, plan_problem

    made = instalments(Decimal("100.00"), "USD", 3, date(2027, 1, 31), "month")
    assert [i.amount for i in made] == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert [i.due_date for i in made] == [date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31)]
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    weekly = instalments(Decimal("1000"), "JPY", 3, date(2027, 1, 1), "week")
    assert [i.amount for i in weekly] == [Decimal("334.00"), Decimal("333.00"), Decimal("333.00")]
    assert weekly[2].due_date == date(2027, 1, 15)
    terms = PlanTerms(max_instalments=4, min_instalment=Decimal("30.00"), first_within_days=10)
    today = date(2027, 1, 1)
    assert plan_problem(terms, Decimal("100.00"), "USD", 3, today, today) is None
    assert "not offered" in (plan_problem(None, Decimal("100"), "USD", 3, today, today) or "")
    assert "between 2 and 4" in (plan_problem(terms, Decimal("100"), "USD", 5, today, today) or "")
    late = today + timedelta(days=11)
    assert "firstDate" in (plan_problem(terms, Decimal("100"), "USD", 2, late, today) or "")
    assert "at least 30.00" in (plan_problem(terms, Decimal("100"), "USD", 4, today, today) or "")
