"""Request and response bodies of the campaigns API (customers, payments, campaigns)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    EmailStr,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from shared.clock import clock
from shared.contacts import Currency, PhoneNumber, TimeZone
from shared.contracts import ClassifiedChannel, Intent
from shared.message_templates import PLACEHOLDERS, template_problem
from shared.schemas import ApiModel, ApiResponse, CursorPage, Period

Channel = Literal["email", "sms", "voice", "human"]
CampaignStatus = Literal[
    "draft", "scheduled", "active", "paused", "completed", "cancelled", "failed"
]
PaymentStatus = Literal["open", "partially_paid", "paid", "disputed", "written_off"]


def _two_places(value: Decimal) -> Decimal:
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("must have at most 2 decimal places")
    return value.quantize(Decimal("0.01"))


Money = Annotated[
    Decimal,
    Field(gt=0, max_digits=14, decimal_places=2),
    AfterValidator(_two_places),
    PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json"),
]
MoneyOut = Annotated[Decimal, PlainSerializer(lambda v: f"{v:.2f}", return_type=str)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class CustomerIn(ApiModel):
    company_name: Name
    contact_name: Name
    email: EmailStr | None = None
    phone: PhoneNumber | None = None
    timezone: TimeZone
    external_ref: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class CustomerPatch(ApiModel):
    """Only the fields given change; email, phone and externalRef may be cleared with null."""

    company_name: Name | None = None
    contact_name: Name | None = None
    email: EmailStr | None = None
    phone: PhoneNumber | None = None
    timezone: TimeZone | None = None
    is_active: bool | None = None
    external_ref: Annotated[str, Field(min_length=1, max_length=100)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _required_stay_set(cls, data: Any) -> Any:
        if isinstance(data, dict):
            required = {
                "companyName": "company_name",
                "contactName": "contact_name",
                "timezone": "timezone",
                "isActive": "is_active",
            }
            for alias, name in required.items():
                if (alias in data and data[alias] is None) or (name in data and data[name] is None):
                    raise ValueError(f'"{alias}" must not be null')
        return data


class Customer(ApiResponse):
    id: uuid.UUID
    company_name: str
    contact_name: str
    email: str | None
    phone: str | None
    timezone: str
    is_active: bool
    external_ref: str | None
    contact_from: time | None = Field(
        description="The start of the hours the debtor prefers to be contacted (chosen on "
        "their portal; messages go only then, within the legal window)"
    )
    contact_until: time | None = Field(description="The end of those hours")
    created_at: datetime
    updated_at: datetime


class CustomerPage(CursorPage):
    items: list[Customer]


# Dates a payment record may carry: nothing before this, and a due date at most this far
# ahead (a typo such as 2205 or 0202 is refused rather than kept).
EARLIEST = date(2000, 1, 1)
LATEST_DUE_YEARS = 10


def _plausible_due_date(due: date) -> date:
    latest = clock.now().date() + timedelta(days=round(365.25 * LATEST_DUE_YEARS))
    if not EARLIEST <= due <= latest:
        raise ValueError(f"must be between {EARLIEST.isoformat()} and {latest.isoformat()}")
    return due


def _plausible_receipt_time(received: datetime | None) -> datetime | None:
    """Not in the future (a day's leeway for clocks and zones), not before EARLIEST."""
    if received is None:
        return None
    if received.tzinfo is None:
        raise ValueError("needs a time zone offset, e.g. 2030-01-01T09:00:00+01:00")
    latest = clock.now() + timedelta(days=1)
    if not datetime.combine(EARLIEST, time(0), UTC) <= received <= latest:
        raise ValueError(f"must be between {EARLIEST.isoformat()} and now")
    return received


class PaymentIn(ApiModel):
    customer_id: uuid.UUID
    invoice_number: Annotated[str, Field(min_length=1, max_length=64)]
    amount: Money
    currency: Currency
    due_date: Annotated[date, AfterValidator(_plausible_due_date)]


class PaymentPatch(ApiModel):
    status: Literal["open", "disputed", "written_off"]


class ReceiptIn(ApiModel):
    amount: Money
    received_at: Annotated[datetime | None, AfterValidator(_plausible_receipt_time)] = None
    reference: Annotated[str, Field(max_length=200)] | None = None


class Payment(ApiResponse):
    id: uuid.UUID
    customer_id: uuid.UUID
    invoice_number: str
    amount: MoneyOut
    currency: str
    due_date: date
    amount_paid: MoneyOut
    outstanding: MoneyOut
    status: PaymentStatus
    created_at: datetime
    updated_at: datetime


class PaymentPage(CursorPage):
    items: list[Payment]


class CollectedInCurrency(ApiResponse):
    currency: str
    amount: MoneyOut
    receipts: int = Field(description="How many receipts make up the amount")


class Collected(Period):
    totals: list[CollectedInCurrency] = Field(description="One row per currency received")


class Receipt(ApiResponse):
    id: uuid.UUID
    amount: MoneyOut
    refunded: MoneyOut = Field(description="Given back by the provider (a Stripe refund)")
    received_at: datetime
    reference: str | None
    source: Literal["manual", "stripe", "simulated"] = Field(
        description="Recorded by a person or an integration (`manual`), or confirmed by the "
        "payment provider on the debtor's portal"
    )
    created_at: datetime


class ReceiptList(ApiResponse):
    items: list[Receipt]
    total: int


class PayLinksRevoked(ApiResponse):
    revoked: int = Field(description="How many live links ended")
    checkouts_ended: int = Field(
        description="How many checkouts still open through them ended (at the provider too)"
    )


class Reply(ApiResponse):
    id: uuid.UUID
    customer_id: uuid.UUID
    campaign_id: uuid.UUID | None
    channel: ClassifiedChannel | None = Field(
        description="`sms` or `voice` for the customer's answer, `human` for an outcome a "
        "person recorded"
    )
    text: str | None = Field(description="What the customer said, or the person's note")
    intent: Intent
    confidence: float
    promised_date: date | None
    created_at: datetime


class ReplyPage(CursorPage):
    items: list[Reply]


class StepConditions(ApiModel):
    """Checked when the step falls due; a step whose conditions fail is skipped."""

    min_outstanding: Money | None = Field(
        default=None, description="Send only while at least this much is still owed"
    )
    skip_if_replied: bool = Field(
        default=False, description="Skip once the customer has replied to the campaign"
    )


class StepIn(ApiModel):
    channel: Channel
    delay: timedelta = Field(description='ISO 8601 duration from the start, e.g. "P3D", "PT30S"')
    tone: Annotated[str, Field(min_length=1, max_length=40)] = "friendly"
    template: Annotated[
        str | None,
        Field(
            max_length=4000,
            description="The message text with plain placeholders: "
            + ", ".join(f"{{{name}}}" for name in PLACEHOLDERS),
        ),
    ] = None
    conditions: StepConditions = Field(default_factory=StepConditions)

    @field_validator("template")
    @classmethod
    def _plain_placeholders(cls, template: str | None) -> str | None:
        problem = template_problem(template) if template else None
        if problem:
            raise ValueError(problem)
        return template


class PlanTerms(ApiModel):
    """The payment plans a campaign's debtor may set up on their portal."""

    max_instalments: int = Field(ge=2, le=24, description="At most this many instalments")
    min_instalment: Money = Field(description="No instalment smaller than this")
    first_within_days: int = Field(
        ge=0, le=90, description="The first instalment falls within this many days"
    )


class CampaignIn(ApiModel):
    name: Name
    customer_id: uuid.UUID
    payment_id: uuid.UUID
    start_at: datetime | None = None
    steps: Annotated[list[StepIn], Field(min_length=1, max_length=20)]
    plan_terms: PlanTerms | None = Field(
        default=None, description="Payment plans offered on the debtor's portal; none if absent"
    )

    @model_validator(mode="after")
    def _ordered_steps(self) -> CampaignIn:
        from services.campaigns.domain.start_checks import StepFacts, step_problem

        problem = step_problem([StepFacts(s.channel, s.delay) for s in self.steps])
        if problem:
            raise ValueError(problem)
        if self.start_at is not None and self.start_at.tzinfo is None:
            raise ValueError('"startAt" needs a time zone offset, e.g. 2030-01-01T09:00:00+01:00')
        return self


class Step(ApiResponse):
    position: int
    channel: Channel
    delay: timedelta
    tone: str
    template: str | None
    conditions: StepConditions


class Campaign(ApiResponse):
    id: uuid.UUID
    name: str
    customer_id: uuid.UUID
    payment_id: uuid.UUID
    status: CampaignStatus
    start_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    paused_until: datetime | None
    pause_reason: str | None
    flagged: bool
    steps: list[Step]
    plan_terms: PlanTerms | None
    created_at: datetime
    updated_at: datetime


class CampaignPage(CursorPage):
    items: list[Campaign]


class BulkStartIn(ApiModel):
    campaign_ids: Annotated[
        list[uuid.UUID],
        Field(min_length=1, max_length=1000, description="Campaigns to start, at most 1,000"),
    ]


class StartRefused(ApiResponse):
    campaign_id: uuid.UUID
    status: int = Field(description="What POST /campaigns/{id}/start would have answered")
    error: str
    details: str


class BulkStartOut(ApiResponse):
    started: list[uuid.UUID]
    refused: list[StartRefused]


class PauseIn(ApiModel):
    until: datetime | None = None
    reason: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _aware(self) -> PauseIn:
        if self.until is not None and self.until.tzinfo is None:
            raise ValueError('"until" needs a time zone offset, e.g. 2030-01-01T09:00:00+01:00')
        return self


class ScheduledStep(ApiResponse):
    position: int
    channel: Channel
    delay: timedelta
    planned_at: datetime = Field(description="Start plus delay")
    scheduled_at: datetime = Field(description="Moved into the customer's contact window")
    moved: bool
    status: str
    reason: str | None = Field(
        default=None,
        description="Why the step was skipped (a condition, an opt-out, a refused message) or "
        "cancelled, why it failed, or why its last attempt failed while it waits for a retry",
    )


class Schedule(ApiResponse):
    campaign_id: uuid.UUID
    timezone: str
    items: list[ScheduledStep]


class PlanInstalment(ApiResponse):
    number: int
    due_date: date
    amount: MoneyOut
    status: Literal["due", "paid", "missed"]
    linked_at: datetime | None = Field(description="When its pay link was sent, on its date")
    paid_at: datetime | None


class Plan(ApiResponse):
    """A payment plan the debtor set up on their portal."""

    id: uuid.UUID
    payment_id: uuid.UUID
    campaign_id: uuid.UUID | None = Field(description="The campaign whose terms it follows")
    every: Literal["week", "two_weeks", "month"]
    total: MoneyOut
    currency: str
    status: Literal["active", "completed", "missed", "cancelled"] = Field(
        description="`completed` once paid, `missed` when an instalment went unpaid past "
        "PLAN_GRACE_DAYS (its campaigns resumed)"
    )
    created_at: datetime
    ended_at: datetime | None
    instalments: list[PlanInstalment]

    @classmethod
    def of(cls, row: Any) -> Plan:
        return cls.model_validate({**dict(row), "currency": row["currency"].strip()})


class PlanList(ApiResponse):
    items: list[Plan] = Field(description="Newest first")
