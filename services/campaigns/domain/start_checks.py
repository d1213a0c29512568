"""Why a campaign cannot start, one clear reason at a time (the first problem found, in the
order a person would fix them: the customer, the payment record, the steps), so the answer to
a refused start says what to change. Pure: the caller loads the records."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

CONTACT_NEEDED = {"email": "email", "sms": "phone", "voice": "phone", "human": None}


@dataclass(frozen=True)
class CustomerFacts:
    id: uuid.UUID
    company_name: str
    is_active: bool
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class PaymentFacts:
    id: uuid.UUID
    customer_id: uuid.UUID
    invoice_number: str
    status: str


@dataclass(frozen=True)
class StepFacts:
    channel: str
    delay: timedelta


def step_problem(steps: Sequence[StepFacts]) -> str | None:
    """Steps must exist, start no earlier than the campaign, and come in order."""
    if not steps:
        return "Campaign has no escalation steps"
    previous = timedelta(0)
    for number, step in enumerate(steps, start=1):
        if step.channel not in CONTACT_NEEDED:
            return f"Step {number} has unknown channel {step.channel!r}"
        if step.delay < timedelta(0):
            return f"Step {number} has a negative delay"
        if step.delay < previous:
            return f"Step {number} comes before step {number - 1}: delays must not decrease"
        previous = step.delay
    return None


def start_problem(
    customer: CustomerFacts | None,
    customer_id: uuid.UUID,
    payment: PaymentFacts | None,
    payment_id: uuid.UUID,
    steps: Sequence[StepFacts],
    start_at: datetime | None,
    now: datetime,
) -> str | None:
    """The first reason the campaign cannot start, or None when it can."""
    if customer is None:
        return f"Customer {customer_id} does not exist"
    if not customer.is_active:
        return f"Customer {customer.company_name} is inactive"
    if payment is None:
        return f"Payment record {payment_id} does not exist"
    if payment.customer_id != customer.id:
        return f"Payment record {payment.invoice_number} belongs to another customer"
    if payment.status == "paid":
        return f"Payment record {payment.invoice_number} is already paid"
    if payment.status == "written_off":
        return f"Payment record {payment.invoice_number} is written off"
    if payment.status == "disputed":
        return f"Payment record {payment.invoice_number} is disputed; settle the dispute first"
    problem = step_problem(steps)
    if problem:
        return problem
    for number, step in enumerate(steps, start=1):
        needed = CONTACT_NEEDED[step.channel]
        if needed and not getattr(customer, needed):
            return f"Step {number} ({step.channel}) needs the customer's {needed}, which is missing"
    if start_at is not None and start_at <= now:
        return f"Start date {start_at.isoformat()} is not in the future; omit startAt to start now"
    return None
