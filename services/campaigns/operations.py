"""What happens to a campaign, with its state change and its event in one transaction. Used by
the HTTP routes, the event handlers and the scheduler alike."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.campaigns import events
from services.campaigns.domain.conditions import skip_reason
from services.campaigns.domain.contact_window import ContactWindow
from services.campaigns.domain.lifecycle import (
    Action,
    IllegalTransitionError,
    Status,
    transition,
)
from services.campaigns.domain.plans import Every, Instalment
from services.campaigns.domain.start_checks import (
    CustomerFacts,
    PaymentFacts,
    StepFacts,
    start_problem,
)
from services.campaigns.settings import campaigns_settings
from services.campaigns.stores import campaigns, checkouts, customers, payments, plans
from shared.context import request_id_var
from shared.contracts import ReplyClassified
from shared.db import Connection
from shared.errors import ApiError
from shared.settings import ServiceSettings
from shared.tracing import current_traceparent

logger = logging.getLogger(__name__)
# Why a campaign waits while its debtor keeps a payment plan (it resumes when one is missed).
PLAN_PAUSE = "payment plan"
PROMISE_PAUSE = "promise to pay"


class CampaignCannotStartError(ApiError):
    def __init__(self, reason: str) -> None:
        super().__init__(422, "Campaign cannot start", reason)


def contact_window(settings: ServiceSettings) -> ContactWindow:
    return ContactWindow(
        opens=settings.contact_window_start,
        closes=settings.contact_window_end,
        weekdays=settings.contact_weekdays,
        holidays=settings.contact_holiday_dates,
    )


def window_for(window: ContactWindow, customer: asyncpg.Record) -> ContactWindow:
    """The contact window for this customer: within the hours they prefer, if any."""
    return window.narrowed(customer["contact_from"], customer["contact_until"])


async def locked_campaign(connection: Connection, campaign_id: uuid.UUID) -> asyncpg.Record:
    campaign = await campaigns.get(connection, campaign_id, lock=True)
    if campaign is None:
        raise ApiError(404, "Not Found", f"Campaign {campaign_id} does not exist")
    return campaign


@dataclass(frozen=True)
class Starts:
    """What `start_many` did: the campaigns refused, each with the error it would get alone;
    the runs emitted in the start (each as the scheduler's claim reads a run, for
    `scheduler.publish_due`); and the campaigns started with a run due now that its step's
    conditions skip (their runs due now are left pending for `scheduler.emit_started`)."""

    refused: dict[uuid.UUID, Exception]
    emitted: list[dict[str, Any]]
    to_check: list[uuid.UUID]


async def start_many(
    connection: Connection, campaign_ids: list[uuid.UUID], window: ContactWindow, now: datetime
) -> Starts:
    """Start campaigns now (or schedule those with a `startAt`), a handful of statements for
    all of them. Refused are ApiError 404 or 422, IllegalTransitionError. The others' runs,
    states and events are written; the caller commits.

    A started campaign's step due at once is written emitted, attempt 1, with the facts its
    `campaign.step_due` needs, read here already: no pending run for the scheduler to claim
    and read again in this same transaction."""
    ids = sorted(set(campaign_ids))
    found = await campaigns.lock_to_start(connection, ids)
    customer_rows = await customers.get_many(connection, [c["customer_id"] for c in found.values()])
    payment_rows = await payments.get_many(connection, [c["payment_id"] for c in found.values()])
    steps_by_campaign = await campaigns.steps_of(connection, list(found))
    planned = await plans.active_for(connection, [c["payment_id"] for c in found.values()])
    origin = (request_id_var.get(), current_traceparent())
    starts = Starts({}, [], [])
    runs: list[campaigns.NewRun] = []
    activated: list[asyncpg.Record] = []
    scheduled: list[uuid.UUID] = []
    for campaign_id in ids:
        campaign = found.get(campaign_id)
        if campaign is None:
            starts.refused[campaign_id] = ApiError(
                404, "Not Found", f"Campaign {campaign_id} does not exist"
            )
            continue
        try:
            new_status = transition(
                Status(campaign["status"]),
                Action.START,
                starts_later=campaign["start_at"] is not None,
            )
        except IllegalTransitionError as error:
            starts.refused[campaign_id] = error
            continue
        customer = customer_rows.get(campaign["customer_id"])
        payment = payment_rows.get(campaign["payment_id"])
        steps = steps_by_campaign[campaign_id]
        problem = _start_problem(campaign, customer, payment, steps, now)
        if not problem and campaign["payment_id"] in planned:
            problem = (
                "The debtor keeps a payment plan on this payment record: cancel it "
                "(POST /api/v1/payments/{id}/plans/cancel) before chasing it again"
            )
        if problem:
            starts.refused[campaign_id] = CampaignCannotStartError(problem)
            continue
        assert customer is not None and payment is not None
        base = campaign["start_at"] or now
        active = new_status is Status.ACTIVE
        reachable = window_for(window, customer)
        due_ats = [
            reachable.next_allowed(base + step["delay"], customer["timezone"]) for step in steps
        ]
        due_now = [active and due_at <= now for due_at in due_ats]
        # A step its conditions skip leaves the campaign's due runs to the claim, which emits
        # them in order and completes a campaign left with nothing to run.
        checked = any(
            due
            and skip_reason(step["conditions"], payment["outstanding"], campaign["last_reply_at"])
            for step, due in zip(steps, due_now, strict=True)
        )
        if checked:
            starts.to_check.append(campaign_id)
        for step, due_at, due in zip(steps, due_ats, due_now, strict=True):
            run = campaigns.NewRun(
                uuid.uuid4(), campaign_id, step["id"], step["position"], step["channel"], due_at,
                due and not checked,
            )  # fmt: skip
            runs.append(run)
            if run.emitted:
                starts.emitted.append(_due_facts(run, step, campaign, customer, payment, origin))
        if active:
            activated.append(campaign)
        else:
            scheduled.append(campaign_id)
    await campaigns.create_runs(connection, runs)
    await campaigns.mark_started(connection, [c["id"] for c in activated], now, *origin)
    await campaigns.mark_scheduled(connection, scheduled, *origin)
    await events.publish(
        connection, *(events.campaign_started(campaign, now) for campaign in activated)
    )
    return starts


# What a due step's event says of its customer and payment record, as the claim reads them.
_CUSTOMER_FACTS = ("company_name", "contact_name", "email", "phone", "timezone")
_PAYMENT_FACTS = ("invoice_number", "amount", "currency", "due_date", "amount_paid")


def _due_facts(
    run: campaigns.NewRun,
    step: asyncpg.Record,
    campaign: asyncpg.Record,
    customer: asyncpg.Record,
    payment: asyncpg.Record,
    origin: tuple[str | None, str | None],
) -> dict[str, Any]:
    """A run emitted as its campaign starts, as `stores.schedule`'s claim would read it."""
    return {
        "id": run.id,
        "campaign_id": run.campaign_id,
        "step_id": run.step_id,
        "position": run.position,
        "channel": run.channel,
        "due_at": run.due_at,
        "attempts": 0,
        "tone": step["tone"],
        "template": step["template"],
        "customer_id": customer["id"],
        "payment_id": payment["id"],
        "start_request_id": origin[0],
        "start_traceparent": origin[1],
        **{name: customer[name] for name in _CUSTOMER_FACTS},
        **{name: payment[name] for name in _PAYMENT_FACTS},
    }


def _start_problem(
    campaign: asyncpg.Record,
    customer: asyncpg.Record | None,
    payment: asyncpg.Record | None,
    steps: list[asyncpg.Record],
    now: datetime,
) -> str | None:
    return start_problem(
        CustomerFacts(
            customer["id"],
            customer["company_name"],
            customer["is_active"],
            customer["email"],
            customer["phone"],
        )
        if customer
        else None,
        campaign["customer_id"],
        PaymentFacts(
            payment["id"], payment["customer_id"], payment["invoice_number"], payment["status"]
        )
        if payment
        else None,
        campaign["payment_id"],
        [StepFacts(step["channel"], step["delay"]) for step in steps],
        campaign["start_at"],
        now,
    )


async def activate_due(connection: Connection, now: datetime) -> int:
    """Scheduled campaigns whose start time has come become active."""
    rows = await campaigns.activate_due(connection, now)
    for row in rows:
        await events.publish(connection, events.campaign_started(row, row["started_at"]))
        await complete_if_done(connection, row["id"], row["started_at"])  # all steps skipped
    return len(rows)


async def pause(
    connection: Connection,
    campaign_id: uuid.UUID,
    now: datetime,
    *,
    until: datetime | None = None,
    reason: str | None = None,
    flag: bool = False,
) -> None:
    campaign = await locked_campaign(connection, campaign_id)
    status = transition(Status(campaign["status"]), Action.PAUSE)
    await campaigns.set_state(
        connection,
        campaign_id,
        status=status.value,
        paused_at=now,
        paused_until=until,
        pause_reason=reason,
        flagged=campaign["flagged"] or flag,
    )
    await events.publish(
        connection, events.campaign_paused(campaign, until, reason, campaign["flagged"] or flag)
    )


async def resume(
    connection: Connection, campaign_id: uuid.UUID, window: ContactWindow, now: datetime
) -> None:
    """Back to active; pending steps move later by the time spent paused (into the window)."""
    campaign = await locked_campaign(connection, campaign_id)
    starts_later = campaign["started_at"] is None and campaign["start_at"] is not None
    status = transition(Status(campaign["status"]), Action.RESUME, starts_later=starts_later)
    paused_for = now - (campaign["paused_at"] or now)
    customer = await customers.get(connection, campaign["customer_id"])
    assert customer is not None
    theirs = window_for(window, customer)
    for run in await campaigns.runs(connection, campaign_id):
        if run["status"] == "pending":
            due = theirs.next_allowed(run["due_at"] + paused_for, customer["timezone"])
            await campaigns.set_run_due(connection, run["id"], due)
    await campaigns.set_state(
        connection,
        campaign_id,
        status=status.value,
        paused_at=None,
        paused_until=None,
        pause_reason=None,
    )
    await events.publish(connection, events.campaign_resumed(campaign))


async def wake_due(connection: Connection, window: ContactWindow, now: datetime) -> int:
    """Campaigns paused until a date that has come (a promise to pay) resume."""
    ids = await campaigns.lock_wakeable(connection, now)
    for campaign_id in ids:
        await resume(connection, campaign_id, window, now)
    return len(ids)


async def end(
    connection: Connection, campaign_id: uuid.UUID, action: Action, reason: str, now: datetime
) -> None:
    """Cancel, complete or fail: remaining steps are cancelled and nothing more is sent."""
    await _end(connection, await locked_campaign(connection, campaign_id), action, reason, now)


async def _end(
    connection: Connection,
    campaign: asyncpg.Record,
    action: Action,
    reason: str,
    now: datetime,
) -> None:
    campaign_id = campaign["id"]
    status = transition(Status(campaign["status"]), action)
    await campaigns.stop_pending_runs(connection, campaign_id, "cancelled", reason)
    await campaigns.set_state(connection, campaign_id, status=status.value, ended_at=now)
    event = {
        Action.CANCEL: events.campaign_cancelled,
        Action.COMPLETE: events.campaign_completed,
    }.get(action, events.campaign_failed)
    await events.publish(connection, event(campaign, reason))


async def complete_those_done(
    connection: Connection, campaign_ids: list[uuid.UUID], now: datetime
) -> list[asyncpg.Record]:
    """Complete each of these campaigns (active or paused) whose every step has run; returns
    them. The caller publishes each one's `campaign.completed` (`publish_completed`), in the
    trace it belongs to."""
    done = [
        campaign
        for campaign in await campaigns.completion_states(connection, sorted(set(campaign_ids)))
        if campaign["status"] in (Status.ACTIVE, Status.PAUSED) and not campaign["runs_left"]
    ]
    statuses = {transition(Status(campaign["status"]), Action.COMPLETE) for campaign in done}
    for status in statuses:  # completed, from active and paused alike
        await campaigns.set_ended(connection, [c["id"] for c in done], status.value, now)
    return done


async def publish_completed(connection: Connection, campaign: asyncpg.Record) -> None:
    await events.publish(connection, events.campaign_completed(campaign, "every step has run"))


async def complete_if_done(connection: Connection, campaign_id: uuid.UUID, now: datetime) -> None:
    for campaign in await complete_those_done(connection, [campaign_id], now):
        await publish_completed(connection, campaign)


def end_of_day(day: date, zone: str) -> datetime:
    """The first instant after `day` in the customer's time zone (a promise to pay by Friday
    keeps the campaign quiet through Friday)."""
    return datetime.combine(day + timedelta(days=1), time(0), ZoneInfo(zone)).astimezone(UTC)


async def act_on_reply(
    connection: Connection,
    customer: asyncpg.Record,
    reply: ReplyClassified,
    now: datetime,
    *,
    stopping: tuple[str, ...] | None = None,
    payment_id: uuid.UUID | None = None,
) -> None:
    """What the customer meant, applied to each of their running campaigns (a reply is about
    the customer, not one campaign): the time of the reply first, then a promise pauses until
    the end of its date, a dispute or a wrong person pauses and flags, an opt-out skips the
    channel's steps (those `stopping` names, else the reply's own channel, else SMS and
    voice), a payment completes. With `payment_id` (the debtor's portal is about one
    invoice), only that payment record's campaigns."""
    intent = reply.intent
    customer_id = reply.customer_id
    theirs = await campaigns.running_for(connection, customer_id=customer_id, payment_id=payment_id)
    for campaign_id in theirs:
        await campaigns.set_state(connection, campaign_id, last_reply_at=now)
        campaign = await locked_campaign(connection, campaign_id)
        running = Status(campaign["status"])
        try:
            if intent == "promise_to_pay" and reply.promised_date:
                until = end_of_day(reply.promised_date, customer["timezone"])
                if running is not Status.PAUSED:
                    await pause(connection, campaign_id, now, until=until, reason=PROMISE_PAUSE)
            elif intent in ("dispute", "wrong_person"):
                # No instalment links while a person looks into it.
                await plans.end_active(connection, campaign["payment_id"], "cancelled", now)
                if running is not Status.PAUSED:
                    await pause(connection, campaign_id, now, reason=intent, flag=True)
                else:
                    # A dispute outweighs a promise: no automatic resume at the promised date.
                    await campaigns.set_state(
                        connection,
                        campaign_id,
                        flagged=True,
                        pause_reason=intent,
                        paused_until=None,
                    )
            elif intent == "opt_out":
                channels = stopping or ((reply.channel,) if reply.channel else ("sms", "voice"))
                await campaigns.stop_pending_runs(
                    connection, campaign_id, "skipped", "the customer opted out", channels
                )
                await complete_if_done(connection, campaign_id, now)
            elif intent == "paid":
                await end(connection, campaign_id, Action.COMPLETE, "customer reports paid", now)
        except IllegalTransitionError:
            continue  # e.g. a draft or an ended campaign has nothing to change


async def receive(
    connection: Connection,
    payment_id: uuid.UUID,
    amount: Decimal,
    received_at: datetime,
    reference: str | None,
    now: datetime,
    *,
    source: str = "manual",
    charged: Decimal | None = None,
) -> asyncpg.Record:
    """Money received against a payment record: the receipt, `payment.received`, the
    instalments of its payment plan it covers paid, and, once the record is paid, its running
    campaigns completed (their remaining steps cancelled).
    Refused (ApiError) for an unknown, paid or written-off record, an amount beyond what is
    outstanding, or a reference already recorded."""
    before = await payments.get(connection, payment_id, lock=True)
    if before is None:
        raise ApiError(404, "Not Found", f"Payment record {payment_id} does not exist")
    if before["status"] in ("paid", "written_off"):
        raise ApiError(409, "Conflict", f"Payment record is {before['status']}")
    if amount > before["outstanding"]:
        raise ApiError(
            400,
            "Validation error",
            f'"amount" exceeds the outstanding balance of {before["outstanding"]:.2f}',
        )
    # The record is locked: a receipt with the same reference posted in parallel waits, then
    # finds this one.
    row = await payments.record_receipt(
        connection, payment_id, amount, received_at, reference, source, charged
    )
    if row is None:
        raise ApiError(
            409,
            "Conflict",
            f'A receipt with reference "{reference}" is already recorded for this payment record',
        )
    received = events.payment_received(
        payment_id,
        row["customer_id"],
        amount,
        row["currency"].strip(),
        row["amount_paid"],
        row["status"],
    )
    await events.publish(connection, received)
    plan_completed = await plans.settle(connection, payment_id, now)
    if row["status"] == "paid":
        await plans.end_active(connection, payment_id, "completed", now)
        for campaign_id in await campaigns.running_for(connection, payment_id=payment_id):
            await end(connection, campaign_id, Action.COMPLETE, "paid in full", now)
    elif plan_completed:
        # Every instalment paid, yet something is owed (money received before the plan was
        # refunded since): chase it again.
        window = contact_window(campaigns_settings())
        await resume_after_plan(connection, payment_id, window, now)
    return row


async def complete_checkout(
    connection: Connection,
    checkout: asyncpg.Record,
    amount: Decimal,
    reference: str,
    now: datetime,
) -> None:
    """The provider confirmed the checkout's payment: a receipt (naming the provider), as for
    money recorded by hand. Once only; money that finds nothing left owing (paid meanwhile by
    other means) is logged for a person to refund."""
    if checkout["status"] == "paid":
        return
    await checkouts.settle(connection, checkout["id"], "paid")
    payment = await payments.get(connection, checkout["payment_id"], lock=True)
    assert payment is not None
    owed: Decimal = (
        payment["outstanding"]
        if payment["status"] not in ("paid", "written_off")
        else Decimal("0.00")
    )
    if amount > owed:
        logger.warning(
            "provider payment beyond what is owed: refund the difference",
            extra={"checkout_id": str(checkout["id"]), "paid": str(amount), "owed": str(owed)},
        )
    if owed > 0:
        await receive(
            connection,
            checkout["payment_id"],
            min(amount, owed),
            now,
            reference,
            now,
            source=checkout["provider"],
            charged=amount,
        )


async def start_plan(
    connection: Connection,
    payment: asyncpg.Record,
    every: Every,
    made: list[Instalment],
    now: datetime,
) -> uuid.UUID:
    """The debtor's payment plan: its instalments recorded, and the payment record's running
    campaigns paused while it is kept (one waiting on a promise now waits on the plan; one
    paused for another reason stays as it is). 409 when a plan is already active."""
    campaign_id = await campaigns.latest_of(connection, payment["id"])
    plan_id = await plans.create(connection, payment, campaign_id, every, made)
    if plan_id is None:
        raise ApiError(409, "Conflict", "A payment plan is already set up for this invoice")
    for running_id in await campaigns.running_for(connection, payment_id=payment["id"]):
        campaign = await locked_campaign(connection, running_id)
        if campaign["status"] != Status.PAUSED:
            await pause(connection, running_id, now, reason=PLAN_PAUSE)
        elif campaign["pause_reason"] == PROMISE_PAUSE:  # the plan replaces the promise
            await campaigns.set_state(
                connection, running_id, pause_reason=PLAN_PAUSE, paused_until=None
            )
        # Paused by an operator, a dispute or a deactivation: it stays so, plan or not.
    return plan_id


async def miss_instalment(
    connection: Connection, instalment: asyncpg.Record, window: ContactWindow, now: datetime
) -> None:
    """An instalment went unpaid past its grace days: the plan ends as missed, and the
    campaigns it paused resume from where they were."""
    await plans.mark_missed(connection, instalment, now)
    await resume_after_plan(connection, instalment["payment_id"], window, now)
    logger.info(
        "payment plan missed: its campaigns resume",
        extra={"plan_id": str(instalment["plan_id"]), "number": instalment["number"]},
    )


async def resume_after_plan(
    connection: Connection, payment_id: uuid.UUID, window: ContactWindow, now: datetime
) -> None:
    """The payment record's plan ended unpaid: the campaigns it paused resume from where
    they were (those paused for another reason stay paused)."""
    for campaign_id in await campaigns.running_for(connection, payment_id=payment_id):
        campaign = await locked_campaign(connection, campaign_id)
        if campaign["status"] == Status.PAUSED and campaign["pause_reason"] == PLAN_PAUSE:
            await resume(connection, campaign_id, window, now)
