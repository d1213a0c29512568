"""The debtor's portal, as the API serves it: what a valid link's holder may see of the debt
it names. Public: the signed link is the only credential, so each address is rate limited."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

import asyncpg
from fastapi import APIRouter, Path, Request
from pydantic import Field, field_validator
from stripe import StripeError

from services.campaigns import events, operations
from services.campaigns.api.schemas import MoneyOut, Plan
from services.campaigns.checkout import SimulatedCheckout, provider_of
from services.campaigns.domain.contact_window import hours_problem
from services.campaigns.domain.money import to_minor
from services.campaigns.domain.pay_links import link_id_of
from services.campaigns.domain.plans import Every, PlanTerms, instalments, plan_problem
from services.campaigns.settings import campaigns_settings
from services.campaigns.stores import (
    campaigns,
    checkouts,
    customers,
    pay_links,
    payments,
    plans,
    replies,
)
from shared.clock import clock
from shared.contracts import DebtorResponded, ReplyClassified
from shared.db import Executor
from shared.errors import ApiError
from shared.openapi import error_responses
from shared.ratelimit import client_ip, enforce
from shared.resources import Deps
from shared.schemas import ApiModel, ApiResponse

router = APIRouter(tags=["portal"])
Handler = Callable[..., Awaitable[Any]]
Token = Annotated[str, Path(max_length=64, description="The token of the link in a message")]
NO_PAYMENTS = "Online payment is not available here; please contact us to pay"
NOT_VALID = "This link is not valid; open the link in your latest message from us"
ENDED = "This link has expired; open the link in your latest message from us, or contact us"

_ADDRESS = {"email": "email address", "sms": "phone number", "voice": "phone number"}
_NAMES = {"email": "emails", "sms": "text messages", "voice": "calls"}
# How far ahead a debtor may promise to pay by themselves; later needs a person.
LONGEST_PROMISE = timedelta(days=60)
DISPUTE_REASONS = {
    "not_mine": "This is not my debt",
    "wrong_amount": "The amount is wrong",
    "already_paid": "I have already paid",
    "goods_or_services": "A problem with what was sold",
    "other": "Something else",
}


class Itemization(ApiResponse):
    """What collectors must tell: the debt at the itemization date, and what changed since."""

    as_of: date = Field(description="The itemization date: the invoice's due date")
    amount_then: MoneyOut
    interest_since: MoneyOut
    fees_since: MoneyOut
    payments_since: MoneyOut
    amount_now: MoneyOut


class PortalPlanTerms(ApiResponse):
    """The payment plans this debtor may set up (their campaign's terms)."""

    max_instalments: int
    min_instalment: MoneyOut
    first_date_earliest: date = Field(description="The debtor's today, in their time zone")
    first_date_latest: date = Field(description="The latest day the first instalment may fall")
    every: list[Every] = Field(description="How often instalments may fall")


class PortalDebt(ApiResponse):
    creditor: str
    company_name: str
    contact_name: str
    invoice_number: str
    currency: str
    amount: MoneyOut
    amount_paid: MoneyOut
    outstanding: MoneyOut
    due_date: date
    status: str
    itemization: Itemization
    link_expires_at: datetime
    pays_online: bool = Field(description='Whether "pay now" is offered (a provider is set up)')
    dispute_reasons: dict[str, str] = Field(description="The reasons a dispute may give")
    plan_terms: PortalPlanTerms | None = Field(
        description="The payment plans offered; null when none is (or one is active)"
    )
    plan: Plan | None = Field(description="The payment plan the debtor keeps, if any")
    contact_from: time | None = Field(description="The start of the debtor's preferred hours")
    contact_until: time | None
    window_opens: time = Field(description="The earliest hour anyone may be contacted")
    window_closes: time = Field(description="The latest")


def _action(path: str, answer: type[ApiResponse], *refusals: int) -> Callable[[Handler], Handler]:
    """A route of the debtor's acting on their link (`/portal/{token}` + `path`): 201 with
    `answer`, else the link's refusals (404, 410, 429) and these."""
    return router.post(
        f"/portal/{{token}}{path}",
        response_model=answer,
        status_code=201,
        responses=error_responses(404, 410, 429, *refusals),
    )


async def live_link(deps: Deps, request: Request, token: str) -> asyncpg.Record:
    """The link the token names, counted against its caller's address: 404 when it was never
    issued (altered, made up), 410 when it expired or was revoked."""
    settings = campaigns_settings()
    enforce(
        request,
        [
            await deps.limiter.hit(
                settings.portal_rate_limit_per_ip, "portal-ip", client_ip(request)
            )
        ],
    )
    link_id = link_id_of(await pay_links.signing_key(deps.pool), token)
    link = await pay_links.opened(deps.pool, link_id) if link_id is not None else None
    if link is None:
        raise ApiError(404, "Not Found", NOT_VALID)
    if link["revoked_at"] is not None or link["expires_at"] <= clock.now():
        raise ApiError(410, "Gone", ENDED)
    return link


@router.get("/portal/{token}", response_model=PortalDebt, responses=error_responses(404, 410, 429))
async def portal_debt(token: Token, deps: Deps, request: Request) -> PortalDebt:
    """What is owed on the payment record the link names, with the itemization collectors
    must give."""
    link = await live_link(deps, request, token)
    payment = await payments.get(deps.pool, link["payment_id"])
    customer = await customers.get(deps.pool, link["customer_id"])
    assert payment is not None and customer is not None  # a link's records are never deleted
    settings = campaigns_settings()
    zero = Decimal("0.00")
    plan = await plans.active_of(deps.pool, payment["id"])
    terms = None if plan is not None else await _plan_terms(deps.pool, payment)
    return PortalDebt(
        creditor=campaigns_settings().creditor_name,
        company_name=customer["company_name"],
        contact_name=customer["contact_name"],
        invoice_number=payment["invoice_number"],
        currency=payment["currency"].strip(),
        amount=payment["amount"],
        amount_paid=payment["amount_paid"],
        outstanding=payment["outstanding"],
        due_date=payment["due_date"],
        status=payment["status"],
        itemization=Itemization(
            as_of=payment["due_date"],
            amount_then=payment["amount"],
            interest_since=zero,
            fees_since=zero,
            payments_since=payment["amount_paid"],
            amount_now=payment["outstanding"],
        ),
        link_expires_at=link["expires_at"],
        dispute_reasons=DISPUTE_REASONS,
        pays_online=provider_of(settings) is not None,
        plan_terms=PortalPlanTerms(
            max_instalments=terms.max_instalments,
            min_instalment=terms.min_instalment,
            first_date_earliest=_today(customer),
            first_date_latest=_today(customer) + timedelta(days=terms.first_within_days),
            every=list(get_args(Every)),
        )
        if terms is not None
        else None,
        plan=Plan.of(plan) if plan is not None else None,
        contact_from=customer["contact_from"],
        contact_until=customer["contact_until"],
        window_opens=settings.contact_window_start,
        window_closes=settings.contact_window_end,
    )


def _today(customer: asyncpg.Record) -> date:
    """The debtor's today, in their own zone."""
    return clock.today_in(customer["timezone"])


async def _plan_terms(executor: Executor, payment: asyncpg.Record) -> PlanTerms | None:
    """The terms of the payment record's latest campaign, when a plan can be paid online."""
    if payment["status"] in ("paid", "written_off") or payment["outstanding"] <= 0:
        return None
    if provider_of(campaigns_settings()) is None:
        return None
    campaign_id = await campaigns.latest_of(executor, payment["id"])
    campaign = await campaigns.get(executor, campaign_id) if campaign_id else None
    return PlanTerms.of(campaign["plan_terms"]) if campaign is not None else None


class PromiseIn(ApiModel):
    promised_date: date = Field(description="The day the debtor will pay by (today to 60 days)")


class DisputeIn(ApiModel):
    reason: Literal["not_mine", "wrong_amount", "already_paid", "goods_or_services", "other"]
    details: Annotated[str, Field(max_length=2000)] | None = None


class StopIn(ApiModel):
    channel: Literal["email", "sms", "voice"]


class Noted(ApiResponse):
    noted: str = Field(description="What was recorded, to show the debtor")


async def _respond(
    deps: Deps, link: asyncpg.Record, responded: DebtorResponded, text: str | None
) -> None:
    """The debtor's answer kept as a reply, acted on at once (as a classified reply is), and
    told to the agents and the notifier: one transaction."""
    now = clock.now()
    async with deps.pool.acquire() as connection, connection.transaction():
        customer = await customers.get(connection, link["customer_id"])
        assert customer is not None
        campaign_id = await campaigns.latest_of(connection, link["payment_id"])
        responded = responded.model_copy(update={"campaign_id": campaign_id})
        reply = ReplyClassified(
            customer_id=link["customer_id"],
            campaign_id=campaign_id,
            channel="portal",
            text=text,
            intent=responded.intent,
            confidence=1.0,
            promised_date=responded.promised_date,
        )
        await replies.record(connection, uuid.uuid4(), now, reply)
        stopping = (responded.channel,) if responded.channel else None
        await operations.act_on_reply(
            connection, customer, reply, now, stopping=stopping, payment_id=link["payment_id"]
        )
        await events.publish(connection, events.debtor_responded(responded))


@_action("/promise", Noted)
async def promise_to_pay(token: Token, body: PromiseIn, deps: Deps, request: Request) -> Noted:
    """The debtor promises to pay by a date: their campaigns wait until the end of that day."""
    link = await live_link(deps, request, token)
    customer = await customers.get(deps.pool, link["customer_id"])
    assert customer is not None
    today = _today(customer)
    if not today <= body.promised_date <= today + LONGEST_PROMISE:
        raise ApiError(
            400,
            "Validation error",
            f'"promisedDate" must be between {today.isoformat()} and '
            f"{(today + LONGEST_PROMISE).isoformat()}; for a later date, contact us",
        )
    responded = DebtorResponded(
        customer_id=link["customer_id"],
        payment_id=link["payment_id"],
        intent="promise_to_pay",
        promised_date=body.promised_date,
    )
    await _respond(deps, link, responded, f"Promised on the portal to pay by {body.promised_date}")
    return Noted(noted=f"Your promise to pay by {body.promised_date.isoformat()} is recorded")


@_action("/dispute", Noted)
async def dispute(token: Token, body: DisputeIn, deps: Deps, request: Request) -> Noted:
    """The debtor disputes the debt: their campaigns pause, flagged, until a person has looked
    into it (the agents open a human task)."""
    link = await live_link(deps, request, token)
    details = (body.details or "").strip() or None
    responded = DebtorResponded(
        customer_id=link["customer_id"],
        payment_id=link["payment_id"],
        intent="dispute",
        reason=body.reason,
        text=details,
    )
    said = DISPUTE_REASONS[body.reason] + (f": {details}" if details else "")
    await _respond(deps, link, responded, said)
    return Noted(
        noted="Your dispute is recorded; we stop asking for payment until we have looked into it"
    )


@_action("/stop", Noted)
async def stop_channel(token: Token, body: StopIn, deps: Deps, request: Request) -> Noted:
    """The debtor stops a channel: their address or number on it is put on the suppression
    list (an opt-out), and their campaigns' steps on it are skipped."""
    link = await live_link(deps, request, token)
    customer = await customers.get(deps.pool, link["customer_id"])
    assert customer is not None
    recipient = customer["email"] if body.channel == "email" else customer["phone"]
    if recipient is None:
        raise ApiError(
            400, "Validation error", f'"channel": we have no {_ADDRESS[body.channel]} for you'
        )
    responded = DebtorResponded(
        customer_id=link["customer_id"],
        payment_id=link["payment_id"],
        intent="opt_out",
        channel=body.channel,
        recipient=recipient,
    )
    await _respond(deps, link, responded, f"Stopped {_NAMES[body.channel]} on the portal")
    return Noted(noted=f"We will send no more {_NAMES[body.channel]} to you")


class CheckoutIn(ApiModel):
    pay: Literal["in_full", "next_instalment"] = Field(
        default="in_full",
        description="What is outstanding, or the next instalment of the debtor's plan",
    )


class CheckoutOut(ApiResponse):
    checkout_url: str = Field(description="The provider's hosted checkout, to send the debtor to")


@_action("/checkout", CheckoutOut, 409, 503)
async def checkout(
    token: Token, deps: Deps, request: Request, body: CheckoutIn | None = None
) -> CheckoutOut:
    """Pay what is outstanding, or the plan's next instalment, through the payment provider's
    hosted checkout. Nothing is recorded until the provider confirms the payment."""
    link = await live_link(deps, request, token)
    payment = await payments.get(deps.pool, link["payment_id"])
    assert payment is not None
    if payment["status"] in ("paid", "written_off") or payment["outstanding"] <= 0:
        raise ApiError(409, "Conflict", "Nothing is owed on this invoice any more")
    settings = campaigns_settings()
    provider = provider_of(settings)
    if provider is None:
        raise ApiError(503, "Service unavailable", NO_PAYMENTS)
    currency = payment["currency"].strip()
    amount, instalment_id, label = (
        payment["outstanding"],
        None,
        f"Invoice {payment['invoice_number']}",
    )
    if body is not None and body.pay == "next_instalment":
        instalment = await plans.next_due(deps.pool, payment["id"])
        if instalment is None:
            raise ApiError(409, "Conflict", "No instalment of a payment plan is left to pay")
        amount, instalment_id = min(instalment["amount"], amount), instalment["id"]
        label = f"{label}, instalment {instalment['number']}"
    if to_minor(amount, currency) is None:
        raise ApiError(409, "Conflict", "This amount cannot be paid online; please contact us")
    # One checkout open per amount owed: pressing "pay" again returns to the same one.
    still_open = await checkouts.open_for(deps.pool, payment["id"], provider.name, instalment_id)
    if still_open is not None and still_open["amount"] == amount:
        return CheckoutOut(checkout_url=still_open["checkout_url"])
    opened = await checkouts.open_checkout(
        deps.pool, payment["id"], link["id"], provider.name, amount, currency, instalment_id
    )
    try:
        session = await provider.open(
            opened["id"], amount, currency, label, f"{settings.public_url}/pay/{token}"
        )
    except StripeError as error:
        async with deps.pool.acquire() as connection:
            await checkouts.settle(connection, opened["id"], "failed")
        raise ApiError(
            503,
            "Service unavailable",
            "The payment provider did not answer; please try again in a moment",
        ) from error
    await checkouts.set_session(deps.pool, opened["id"], session.id, session.url)
    return CheckoutOut(checkout_url=session.url)


class CheckoutView(ApiResponse):
    id: uuid.UUID
    amount: MoneyOut
    currency: str
    status: Literal["open", "paid", "failed", "expired"]
    instalment_number: int | None = Field(description="The plan instalment it pays, if one")


@router.get(
    "/portal/{token}/checkout/{checkout_id}",
    response_model=CheckoutView,
    responses=error_responses(404, 410, 429),
)
async def checkout_of(
    token: Token, checkout_id: uuid.UUID, deps: Deps, request: Request
) -> CheckoutView:
    """One checkout of this link's debt: what it pays, and whether it is paid."""
    link = await live_link(deps, request, token)
    found = await checkouts.of_payment(deps.pool, checkout_id, link["payment_id"])
    if found is None:
        raise ApiError(404, "Not Found", f"Checkout {checkout_id} does not exist")
    return CheckoutView.model_validate({**dict(found), "currency": found["currency"].strip()})


@_action("/checkout/{checkout_id}/simulated-payment", Noted)
async def simulated_payment(
    token: Token, checkout_id: uuid.UUID, deps: Deps, request: Request
) -> Noted:
    """The simulated provider's "pay" button: confirms the checkout as Stripe's webhook would.
    Only while no Stripe key is set, and only for a simulated checkout of this link's debt."""
    link = await live_link(deps, request, token)
    if not isinstance(provider_of(campaigns_settings()), SimulatedCheckout):
        raise ApiError(404, "Not Found", "No simulated payments here")
    async with deps.pool.acquire() as connection, connection.transaction():
        found = await checkouts.locked(connection, checkout_id=checkout_id)
        if (
            found is None
            or found["provider"] != "simulated"
            or found["payment_id"] != link["payment_id"]
        ):
            raise ApiError(404, "Not Found", f"Checkout {checkout_id} does not exist")
        await operations.complete_checkout(
            connection, found, found["amount"], found["provider_session_id"], clock.now()
        )
    return Noted(noted=f"Payment of {found['amount']:.2f} {found['currency']} received, thank you")


class PlanIn(ApiModel):
    instalments: int = Field(description="How many instalments (within the campaign's terms)")
    first_date: date = Field(description="The first instalment's day")
    every: Every = "month"


@_action("/plan", Plan, 409)
async def set_up_plan(token: Token, body: PlanIn, deps: Deps, request: Request) -> Plan:
    """The debtor splits what is outstanding into instalments within their campaign's terms:
    its campaigns wait while the plan is kept; on each instalment's day the debtor is sent its
    pay link; one unpaid past PLAN_GRACE_DAYS ends the plan and the campaigns resume."""
    link = await live_link(deps, request, token)
    customer = await customers.get(deps.pool, link["customer_id"])
    assert customer is not None
    async with deps.pool.acquire() as connection, connection.transaction():
        payment = await payments.get(connection, link["payment_id"], lock=True)
        assert payment is not None
        if payment["status"] in ("paid", "written_off") or payment["outstanding"] <= 0:
            raise ApiError(409, "Conflict", "Nothing is owed on this invoice any more")
        currency = payment["currency"].strip()
        terms = await _plan_terms(connection, payment)
        problem = plan_problem(
            terms,
            payment["outstanding"],
            currency,
            body.instalments,
            body.first_date,
            _today(customer),
        )
        if problem:
            raise ApiError(400, "Validation error", problem)
        made = instalments(
            payment["outstanding"], currency, body.instalments, body.first_date, body.every
        )
        await operations.start_plan(connection, payment, body.every, made, clock.now())
        plan = await plans.active_of(connection, payment["id"])
    assert plan is not None
    return Plan.of(plan)


class ContactHoursIn(ApiModel):
    contact_from: time | None = Field(description="From this hour, their time; null: any time")
    contact_until: time | None = Field(description="Until this hour")

    @field_validator("contact_from", "contact_until")
    @classmethod
    def _local(cls, hour: time | None) -> time | None:
        if hour is not None and hour.tzinfo is not None:
            raise ValueError("an hour of the debtor's own day, without a time zone offset")
        return hour


@_action("/contact-hours", Noted)
async def choose_contact_hours(
    token: Token, body: ContactHoursIn, deps: Deps, request: Request
) -> Noted:
    """The debtor chooses the hours they prefer to be contacted, in their own time, inside the
    legal window (CONTACT_WINDOW_START to CONTACT_WINDOW_END): their campaigns' steps wait
    for them. Both null: any time the window allows."""
    link = await live_link(deps, request, token)
    settings = campaigns_settings()
    problem = hours_problem(
        body.contact_from,
        body.contact_until,
        operations.contact_window(settings),
    )
    if problem:
        raise ApiError(400, "Validation error", problem)
    async with deps.pool.acquire() as connection, connection.transaction():
        await customers.update(
            connection,
            link["customer_id"],
            {"contact_from": body.contact_from, "contact_until": body.contact_until},
        )
    await deps.cache.forget("customer", str(link["customer_id"]))
    if body.contact_from is None or body.contact_until is None:
        return Noted(noted="We will contact you at any time the law allows")
    return Noted(
        noted=f"We will contact you only between {body.contact_from:%H:%M} and "
        f"{body.contact_until:%H:%M}, your time, on the days the law allows"
    )
