"""Payment plans: the terms an operator offers on a campaign, and the instalments a debtor's
choice makes of what is owed. Pure functions: the portal and the scheduler use them."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from services.campaigns.domain.money import ZERO_DECIMAL, to_minor

Every = Literal["week", "two_weeks", "month"]
EVERY_DAYS = {"week": 7, "two_weeks": 14}


@dataclass(frozen=True)
class PlanTerms:
    """What a campaign lets its debtor choose: at most `max_instalments` instalments, none
    smaller than `min_instalment`, the first within `first_within_days` of the day the plan is
    made."""

    max_instalments: int
    min_instalment: Decimal
    first_within_days: int

    @classmethod
    def of(cls, stored: dict[str, object] | None) -> PlanTerms | None:
        if not stored:
            return None
        return cls(
            int(str(stored["maxInstalments"])),
            Decimal(str(stored["minInstalment"])),
            int(str(stored["firstWithinDays"])),
        )


@dataclass(frozen=True)
class Instalment:
    number: int
    due_date: date
    amount: Decimal


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or that month's last day when it is shorter (31 January
    plus one month is 28 or 29 February)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_dates(first: date, count: int, every: Every) -> list[date]:
    if every == "month":
        return [add_months(first, n) for n in range(count)]
    return [first + timedelta(days=EVERY_DAYS[every] * n) for n in range(count)]


def split(total: Decimal, count: int, currency: str) -> list[Decimal]:
    """`total` in `count` equal parts in the currency's smallest unit, the remainder spread
    over the first ones (100.00 in 3: 33.34, 33.33, 33.33)."""
    # Amounts are kept to the cent, so a three-decimal currency is split in cents too.
    quantum = Decimal(1) if currency.upper() in ZERO_DECIMAL else Decimal("0.01")
    share, extra = divmod(int(total / quantum), count)
    return [
        ((share + (1 if n < extra else 0)) * quantum).quantize(Decimal("0.01"))
        for n in range(count)
    ]


def plan_problem(
    terms: PlanTerms | None,
    outstanding: Decimal,
    currency: str,
    count: int,
    first: date,
    today: date,
) -> str | None:
    """Why this plan cannot be offered, in the debtor's words, or None."""
    if terms is None:
        return "Payment plans are not offered on this invoice; please contact us"
    if not 2 <= count <= terms.max_instalments:
        return f'"instalments" must be between 2 and {terms.max_instalments}'
    latest = today + timedelta(days=terms.first_within_days)
    if not today <= first <= latest:
        return f'"firstDate" must be between {today.isoformat()} and {latest.isoformat()}'
    if to_minor(outstanding, currency) is None:
        return "This amount cannot be paid online; please contact us"
    smallest = min(split(outstanding, count, currency))
    if smallest < terms.min_instalment:
        return (
            f"Each instalment must be at least {terms.min_instalment:.2f} {currency}: "
            f"choose fewer than {count} instalments"
        )
    return None


def instalments(
    outstanding: Decimal, currency: str, count: int, first: date, every: Every
) -> list[Instalment]:
    return [
        Instalment(number, day, amount)
        for number, (day, amount) in enumerate(
            zip(due_dates(first, count, every), split(outstanding, count, currency), strict=True),
            start=1,
        )
    ]
