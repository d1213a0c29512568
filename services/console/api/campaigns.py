"""Campaigns: the list, the builder (steps, then the schedule preview before starting), and a
campaign's page with its actions and a timeline of its steps, tasks and messages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.api.rendering import page
from services.console.api.visits import Visitor, back_to, console_of
from services.console.domain.forms import Form as Filled
from services.console.domain.steps import CHANNELS, ROWS, TONES, row_fields, steps_from
from services.console.stores.platform_api import Refused, details_of

router = APIRouter(include_in_schema=False)
PLAN_TERMS = ("maxInstalments", "minInstalment", "firstWithinDays")
CAMPAIGN_FIELDS = ("name", "paymentId", *row_fields(), *PLAN_TERMS)
CAMPAIGN_STATUSES = ("draft", "scheduled", "active", "paused", "completed", "cancelled", "failed")
# The actions a campaign's page offers, by the status that allows each.
ACTIONS = {
    "start": ("draft",),
    "pause": ("scheduled", "active"),
    "resume": ("paused",),
    "cancel": ("draft", "scheduled", "active", "paused"),
}
# The page of a campaign that has not ended refreshes its timeline this often (seconds).
LIVE_EVERY_S = 5
LIVE_STATUSES = ("scheduled", "active", "paused")


@router.get("/campaigns")
async def campaigns(
    request: Request, visitor: Visitor, status: str | None = None, cursor: str | None = None
) -> HTMLResponse:
    found = await console_of(request).api.read(
        visitor.caller, "/campaigns", {"status": status, "cursor": cursor}
    )
    return page(
        request, "campaigns.html", found=found, chosen=status or "", statuses=CAMPAIGN_STATUSES
    )


@router.get("/customers/{customer_id}/campaigns/new")
async def new_campaign(request: Request, visitor: Visitor, customer_id: uuid.UUID) -> HTMLResponse:
    visitor.require("campaigns:write")
    blank = Filled.of({"step-1-channel": "email", "step-1-delay": "0"}, CAMPAIGN_FIELDS)
    return await _builder(request, visitor, customer_id, blank)


async def _builder(
    request: Request, visitor: Visitor, customer_id: uuid.UUID, form: Filled, status: int = 200
) -> HTMLResponse:
    api = console_of(request).api
    customer, payments = await asyncio.gather(
        api.read(visitor.caller, f"/customers/{customer_id}"),
        api.items(visitor.caller, "/payments", {"customerId": str(customer_id)}),
    )
    open_payments = [p for p in payments if p["status"] not in ("paid", "written_off")]
    return page(
        request,
        "campaign_form.html",
        status,
        customer=customer,
        payments=open_payments,
        form=form,
        rows=range(1, ROWS + 1),
        channels=CHANNELS,
        tones=TONES,
    )


@router.post("/customers/{customer_id}/campaigns/new")
async def create_campaign(request: Request, visitor: Visitor, customer_id: uuid.UUID) -> Response:
    form = await visitor.form(request, CAMPAIGN_FIELDS)
    steps, errors = steps_from(form.values)
    if errors or not steps:
        form.errors.update(errors)
        form.message = None if steps else "Give the campaign at least one step (a channel)"
        return await _builder(request, visitor, customer_id, form, 400)
    body: dict[str, Any] = {
        "name": form.values["name"],
        "customerId": str(customer_id),
        "paymentId": form.values["paymentId"],
        "steps": steps,
    }
    terms = {name: form.values[name] for name in PLAN_TERMS if form.values[name]}
    if terms:  # any term filled in offers plans; the API names a term left out
        body["planTerms"] = terms
    answer = await console_of(request).api.call(visitor.caller, "POST", "/campaigns", json=body)
    if answer.status_code != 201:
        form.refused(details_of(answer))
        return await _builder(request, visitor, customer_id, form, answer.status_code)
    return back_to(
        f"/campaigns/{answer.json()['id']}",
        "Campaign saved as a draft: check its schedule, then start it.",
    )


@router.get("/campaigns/{campaign_id}")
async def campaign(
    request: Request, visitor: Visitor, campaign_id: uuid.UUID, notice: str | None = None
) -> HTMLResponse:
    return await _campaign_page(request, visitor, campaign_id, notice=notice)


async def _campaign_page(
    request: Request, visitor: Visitor, campaign_id: uuid.UUID, status: int = 200, **extra: Any
) -> HTMLResponse:
    api = console_of(request).api
    campaign = await api.read(visitor.caller, f"/campaigns/{campaign_id}")
    by_campaign = {"campaignId": str(campaign_id), "limit": 200}
    schedule, customer, tasks, messages, replies, plans = await asyncio.gather(
        api.optional(visitor.caller, f"/campaigns/{campaign_id}/schedule"),
        api.optional(visitor.caller, f"/customers/{campaign['customerId']}"),
        api.items(visitor.caller, "/tasks", by_campaign),
        api.items(visitor.caller, "/messages", by_campaign),
        api.items(visitor.caller, f"/campaigns/{campaign_id}/replies", {"limit": 200}),
        api.items(visitor.caller, f"/payments/{campaign['paymentId']}/plans"),
    )
    return page(
        request,
        "campaign.html",
        status,
        campaign=campaign,
        schedule=schedule,
        customer=customer,
        tasks=tasks,
        messages=messages,
        replies=replies,
        plans=plans,
        actions=[name for name, allowed in ACTIONS.items() if campaign["status"] in allowed],
        live_every_s=LIVE_EVERY_S if campaign["status"] in LIVE_STATUSES else None,
        live_path=f"/campaigns/{campaign_id}",
        **extra,
    )


@router.post("/campaigns/{campaign_id}/plans/cancel")
async def cancel_plan(request: Request, visitor: Visitor, campaign_id: uuid.UUID) -> Response:
    """End the debtor's active payment plan on the campaign's payment record: the campaigns
    it paused resume."""
    await visitor.form(request, ())
    api = console_of(request).api
    campaign = await api.read(visitor.caller, f"/campaigns/{campaign_id}")
    answer = await api.call(
        visitor.caller, "POST", f"/payments/{campaign['paymentId']}/plans/cancel"
    )
    return await _done(
        request,
        visitor,
        campaign_id,
        answer,
        lambda _: "Payment plan cancelled: the campaigns it paused resume.",
    )


@router.post("/campaigns/{campaign_id}/{action}")
async def act(request: Request, visitor: Visitor, campaign_id: uuid.UUID, action: str) -> Response:
    if action not in ACTIONS:
        raise Refused(404, f"No action {action!r} on a campaign")
    await visitor.form(request, ())
    answer = await console_of(request).api.call(
        visitor.caller, "POST", f"/campaigns/{campaign_id}/{action}"
    )
    return await _done(
        request, visitor, campaign_id, answer, lambda changed: f"Campaign {changed['status']}."
    )


async def _done(
    request: Request,
    visitor: Visitor,
    campaign_id: uuid.UUID,
    answer: httpx.Response,
    notice: Callable[[Any], str],
) -> Response:
    """Back to the campaign saying what the action did, or its page with the API's refusal."""
    if answer.status_code != 200:
        error = details_of(answer)
        return await _campaign_page(request, visitor, campaign_id, answer.status_code, error=error)
    return back_to(f"/campaigns/{campaign_id}", notice(answer.json()))
