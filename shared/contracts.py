"""The event contracts: one pydantic model per event type's `payload`.

Producers' payloads are checked against them when an event is made (`shared.events.new_event`),
and the AsyncAPI document shows them. Python attributes are snake_case, JSON keys camelCase
(`to_camel`, or an explicit alias where a key does not follow it). A field some producer leaves
out, or sends as null, is optional. Unknown keys are ignored, so a consumer reading with these
models accepts payloads that carry more (the versioning rule in docs/architecture.md).

Ids are UUIDs; timestamps and dates are ISO 8601 strings on the wire; money is a string with
two decimals ("1250.00"); closed sets are `Literal` where every value is known.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel

# --- shared field types -------------------------------------------------------------------------


def _isoformat(value: datetime) -> str:
    return value.isoformat()


# A moment, written as `datetime.isoformat` writes it (`+00:00`, not pydantic's `Z`), as the
# producers have always sent it.
Timestamp = Annotated[
    datetime,
    PlainSerializer(_isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]

Money = Annotated[str, Field(pattern=r"^\d+\.\d{2}$", description='Two decimals, e.g. "10.00"')]
Currency = Annotated[str, Field(description="ISO 4217 code, e.g. EUR")]

Role = Literal["admin", "manager", "agent", "viewer"]
# A campaign step's (and a task's) channel; `human` is a person working the task.
StepChannel = Literal["email", "sms", "voice", "human"]
# What the notifier sends through.
MessageChannel = Literal["email", "sms", "voice"]
# Where a customer's reply came from.
ReplyChannel = Literal["sms", "voice"]
# A classified reply's channel: the reply's, or `human` for a person's outcome.
ClassifiedChannel = Literal["sms", "voice", "human", "portal"]
Intent = Literal[
    "promise_to_pay", "dispute", "paid", "opt_out", "wrong_person", "question", "other"
]
# `sent`/`delivered` for a message; otherwise the outcome a person recorded.
TaskOutcome = Literal[
    "sent",
    "delivered",
    "reached",
    "promise_to_pay",
    "dispute",
    "paid",
    "no_answer",
    "wrong_number",
    "other",
]
MessageFailure = Literal["failed", "bounced", "suppressed", "unknown"]
ReceiptStatus = Literal["partially_paid", "paid"]


class EventPayload(BaseModel):
    """The payload of one event type (the `payload` of `shared.events.Envelope`)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )

    event_type: ClassVar[str]


class PayloadPart(BaseModel):
    """A nested object inside a payload; same JSON conventions, no event type of its own."""

    model_config = EventPayload.model_config


# --- auth ---------------------------------------------------------------------------------------


class UserEventPayload(EventPayload):
    """A user as it stands after the change (the same keys for every `user.*` event)."""

    user_id: uuid.UUID
    email: str
    role: Role
    is_active: bool


class UserCreated(UserEventPayload):
    """A user account was created, by an administrator or as the first administrator."""

    event_type: ClassVar[str] = "user.created"


class UserUpdated(UserEventPayload):
    """A user's role or activity changed (any change other than a deactivation)."""

    event_type: ClassVar[str] = "user.updated"


class UserDeactivated(UserEventPayload):
    """An active user was deactivated; their sessions and tokens stop working.

    `is_active` is always false here."""

    event_type: ClassVar[str] = "user.deactivated"


class PasswordResetRequested(EventPayload):
    """Someone asked to reset the password of an active account, or an admin invited a new
    user to choose theirs: email it a single-use link.

    `reset_url` holds the secret reset token; `purpose` is `invitation` for a new user."""

    event_type: ClassVar[str] = "auth.password_reset_requested"

    user_id: uuid.UUID
    email: str
    reset_url: str
    expires_at: Timestamp
    purpose: Literal["reset", "invitation"] = "reset"


# --- campaigns ----------------------------------------------------------------------------------


class CampaignEventPayload(EventPayload):
    """What every `campaign.*` life-cycle event carries (not `campaign.step_due`)."""

    campaign_id: uuid.UUID
    customer_id: uuid.UUID
    payment_id: uuid.UUID


class CampaignStarted(CampaignEventPayload):
    """A campaign became active (started now, or its start time came) and its steps were
    scheduled."""

    event_type: ClassVar[str] = "campaign.started"

    started_at: Timestamp


class CampaignPaused(CampaignEventPayload):
    """A campaign was paused: by an operator, a promise to pay, a dispute or wrong person, or
    the customer's deactivation.

    `until` and `reason` are always sent, possibly null: `until` is when it resumes by itself
    (a promise to pay, or an operator's pause with an end); `reason` is `promise to pay`,
    `dispute`, `wrong_person`, `customer deactivated`, or the operator's own text. `flagged`
    means someone must look into it before it goes on."""

    event_type: ClassVar[str] = "campaign.paused"

    until: Timestamp | None = None
    reason: str | None = None
    flagged: bool


class CampaignResumed(CampaignEventPayload):
    """A paused campaign became active again (by an operator, or when its pause ran out)."""

    event_type: ClassVar[str] = "campaign.resumed"


class CampaignCompleted(CampaignEventPayload):
    """A campaign is done: every step ran, the debt was paid in full, or the customer said it
    was paid. Its open tasks are cancelled.

    `reason`: `every step has run`, `paid in full` or `customer reports paid`."""

    event_type: ClassVar[str] = "campaign.completed"

    reason: str


class CampaignCancelled(CampaignEventPayload):
    """A campaign was cancelled by an operator, or because its debt was written off. Its open
    tasks are cancelled.

    `reason`: `cancelled by an operator` or `payment written off`."""

    event_type: ClassVar[str] = "campaign.cancelled"

    reason: str


class CampaignFailed(CampaignEventPayload):
    """A step failed for good and the campaign was set to fail with it. Its open tasks are
    cancelled.

    `reason`: `step failed: ` followed by the failed task's reason."""

    event_type: ClassVar[str] = "campaign.failed"

    reason: str


class StepDueCustomer(PayloadPart):
    """The customer's contact details as they are when the step falls due."""

    id: uuid.UUID
    company_name: str
    contact_name: str
    email: str | None = None
    phone: str | None = None  # E.164
    timezone: str  # IANA name


class StepDuePayment(PayloadPart):
    """The debt as it stands when the step falls due."""

    id: uuid.UUID
    invoice_number: str
    amount: Money
    amount_paid: Money
    outstanding: Money
    currency: Currency
    due_date: date


class StepDue(EventPayload):
    """A campaign step fell due: everything an agent needs to act on it, so the agents never
    read the campaigns' data.

    A step asked for again because its result was never heard comes with the same `step_run_id`
    and `attempt`; a retried step with the same `step_run_id` and the next `attempt`."""

    event_type: ClassVar[str] = "campaign.step_due"

    campaign_id: uuid.UUID
    step_run_id: uuid.UUID
    step_id: uuid.UUID
    position: int
    channel: StepChannel
    tone: str
    template: str | None = None
    attempt: int  # counts from 1
    due_at: Timestamp
    customer: StepDueCustomer
    payment: StepDuePayment
    pay_link: str | None = Field(
        default=None,
        description="The debtor's portal for this payment record (signed, expiring), for the "
        "message's {pay_link}",
    )


class DebtorResponded(EventPayload):
    """The debtor acted on their portal: promised to pay by a date, disputed the debt (with a
    reason and their words), or stopped a channel. Their campaigns were acted on in the same
    transaction, as for a classified reply; a dispute also needs a person (the agents open a
    human task), and a stopped channel is an opt-out the notifier keeps (`recipient`, the
    address or number on that channel, with `channel`).

    `campaign_id` is the payment record's latest running campaign, null when none runs."""

    event_type: ClassVar[str] = "debtor.responded"

    customer_id: uuid.UUID
    payment_id: uuid.UUID
    campaign_id: uuid.UUID | None = None
    intent: Literal["promise_to_pay", "dispute", "opt_out"]
    promised_date: date | None = None
    reason: str | None = None
    text: str | None = None
    channel: Literal["email", "sms", "voice"] | None = None
    recipient: str | None = None


class PaymentReceived(EventPayload):
    """Money was recorded against a payment record.

    `amount` is this receipt, `amount_paid` the total received so far, `status` the record's
    status after the receipt."""

    event_type: ClassVar[str] = "payment.received"

    payment_id: uuid.UUID
    customer_id: uuid.UUID
    amount: Money
    currency: Currency
    amount_paid: Money
    status: ReceiptStatus


class InstalmentDue(EventPayload):
    """An instalment of the debtor's payment plan falls due today (in their zone, inside their
    contact hours): the notifier sends them its pay link, by email, else SMS, through the
    collection guards. Sent once per instalment."""

    event_type: ClassVar[str] = "plan.instalment_due"

    instalment_id: uuid.UUID
    plan_id: uuid.UUID
    campaign_id: uuid.UUID | None = Field(
        default=None, description="The campaign whose terms the plan follows"
    )
    number: int
    due_date: date
    amount: Money
    customer: StepDueCustomer
    payment_id: uuid.UUID
    invoice_number: str
    currency: Currency
    pay_link: str = Field(description="The debtor's portal, where the instalment is paid")


# --- agents -------------------------------------------------------------------------------------


class TaskEventPayload(EventPayload):
    """What every `task.*` event carries: the task and the step run it works on."""

    task_id: uuid.UUID
    campaign_id: uuid.UUID
    step_run_id: uuid.UUID
    customer_id: uuid.UUID
    channel: StepChannel


class TaskCreated(TaskEventPayload):
    """A task was made for a step that fell due, or for a reply a person must read."""

    event_type: ClassVar[str] = "task.created"


class TaskAssigned(TaskEventPayload):
    """A task was given to an AI agent, or a person claimed it."""

    event_type: ClassVar[str] = "task.assigned"

    agent_id: uuid.UUID


class TaskCompleted(TaskEventPayload):
    """A task was done: its message was sent or delivered, or a person recorded an outcome.
    Its step run completes.

    `promised_date` comes only with a person's outcome (and may be null there)."""

    event_type: ClassVar[str] = "task.completed"

    outcome: TaskOutcome
    promised_date: date | None = None


class TaskFailed(TaskEventPayload):
    """A task failed: its message failed its last try, or could not be sent at all. The step is
    retried, fails, or (refused) is skipped.

    `retryable` false means another attempt cannot help; `outcome_unknown` means the message
    may have gone out, so it must not be sent again and a person must check; `refused` means
    the notifier refused the message for a reason retrying cannot change (a suppressed or
    opted-out recipient, an invalid number, no consent, Regulation F's cap): the step is
    skipped with the reason. Absent (false) in events from before it was added."""

    event_type: ClassVar[str] = "task.failed"

    reason: str
    retryable: bool
    outcome_unknown: bool
    refused: bool = False


class MessageRequested(EventPayload):
    """Send this email, SMS or call, composed by an AI agent. The notifier sends each
    `idempotency_key` at most once.

    `to` is the customer's email (email) or phone (SMS, call), null when the customer has none;
    `subject` is null for SMS and calls composed from templates."""

    event_type: ClassVar[str] = "message.requested"

    idempotency_key: str
    task_id: uuid.UUID
    campaign_id: uuid.UUID
    step_run_id: uuid.UUID
    customer_id: uuid.UUID
    payment_id: uuid.UUID
    channel: MessageChannel
    to: str | None = None
    timezone: str
    subject: str | None = None
    body: str
    composed_by: str  # "openai", or "template (<why>)"


class ReplyClassified(EventPayload):
    """What a customer's reply means (promise to pay, dispute, paid, opt-out, ...), or the
    outcome a person recorded that matters to the customer's campaigns.

    Every key is always sent. `campaign_id` is null for a reply not tied to a campaign;
    `channel` is `human` for a person's outcome; `text` is the reply, or the person's note
    (possibly null); `promised_date` only with a promise to pay, else null."""

    event_type: ClassVar[str] = "reply.classified"

    customer_id: uuid.UUID
    campaign_id: uuid.UUID | None = None
    channel: ClassifiedChannel | None = None
    text: str | None = None
    intent: Intent
    confidence: float
    promised_date: date | None = None


# --- notifier -----------------------------------------------------------------------------------


class MessageEventPayload(EventPayload):
    """What every `message.sent`/`delivered`/`failed` event carries.

    `task_id`, `campaign_id` and `customer_id` are always sent but null for messages the
    notifier sends on its own account (a password-reset email, an opt-out confirmation)."""

    message_id: uuid.UUID
    idempotency_key: str
    task_id: uuid.UUID | None = None
    campaign_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    channel: MessageChannel


class MessageSent(MessageEventPayload):
    """The provider accepted the message (also told again for a message already delivered
    when its sending is asked for again). `simulated`: no real provider was configured."""

    event_type: ClassVar[str] = "message.sent"

    provider_id: str
    simulated: bool


class MessageDelivered(MessageEventPayload):
    """The provider (Twilio) reported the SMS delivered or the call completed."""

    event_type: ClassVar[str] = "message.delivered"

    provider_id: str


class MessageFailed(MessageEventPayload):
    """The message did not go out: a check refused it (`suppressed`, `failed`), the provider
    failed or bounced it, or its outcome is unknown (it may have gone out: never resent).

    `refused`: a refusal retrying cannot change (a suppressed or opted-out recipient, an
    invalid number, no consent to AI-voice calls, Regulation F's weekly call cap); always with
    `retryable` false. Absent (false) in events from before it was added."""

    event_type: ClassVar[str] = "message.failed"

    status: MessageFailure
    reason: str
    retryable: bool
    outcome_unknown: bool
    refused: bool = False


class ReplyReceived(EventPayload):
    """The customer answered: an inbound SMS, or a key press or speech during a call.

    Tied to the customer (and campaign, when known) of the last message sent to that number.
    `from_` (JSON `from`) is the sender's number."""

    event_type: ClassVar[str] = "reply.received"

    customer_id: uuid.UUID
    campaign_id: uuid.UUID | None = None
    channel: ReplyChannel
    from_: str = Field(alias="from")
    text: str
    timezone: str | None = Field(
        default=None,
        description="The customer's IANA time zone: a day the reply names (Friday, tomorrow) is "
        "theirs (absent from older events: UTC)",
    )


# --- the catalogue ------------------------------------------------------------------------------

_MODELS: tuple[type[EventPayload], ...] = (
    UserCreated,
    UserUpdated,
    UserDeactivated,
    PasswordResetRequested,
    CampaignStarted,
    StepDue,
    CampaignPaused,
    CampaignResumed,
    CampaignCompleted,
    CampaignCancelled,
    CampaignFailed,
    PaymentReceived,
    DebtorResponded,
    InstalmentDue,
    TaskCreated,
    TaskAssigned,
    TaskCompleted,
    TaskFailed,
    MessageRequested,
    MessageSent,
    MessageDelivered,
    MessageFailed,
    ReplyReceived,
    ReplyClassified,
)

# Every event type in shared.topics.EVENTS, with the model of its payload.
PAYLOADS: dict[str, type[EventPayload]] = {model.event_type: model for model in _MODELS}
