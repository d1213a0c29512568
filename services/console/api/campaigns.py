"""Campaigns: the list, the builder (steps, then the schedule preview before starting), and a
campaign's page with its actions and a timeline of its steps, tasks and messages."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.api.rendering import page
from services.console.api.visits import Visitor, back_to, console_of
from services.console.domain.forms import Form as Filled
from services.console.domain.steps import CHANNELS, ROWS, TONES, row_fields, steps_from
from services.console.stores.platform_api import Refused, details_of

router = APIRouter(include_in_schema=False)
CAMPAIGN_FIELDS = ("name", "paymentId", *row_fields())
# The actions a campaign's page offers, by the status that allows each.
ACTIONS = {
    "start": ("draft",),
    "pause": ("scheduled", "active"),
    "resume": ("paused",),
    "cancel": ("draft", "scheduled", "active", "paused"),
}
# A running campaign's page reloads itself this often (seconds), so its timeline stays live.
LIVE_EVERY_S = 5


@router.get("/campaigns")
async def campaigns(
    request: Request, visitor: Visitor, status: str | None = None, cursor: str | None = None
) -> HTMLResponse:
    answer = await console_of(request).api.call(
        visitor.caller, "GET", "/campaigns", params={"status": status, "cursor": cursor}
    )
    if answer.status_code != 200:
        raise Refused(answer.status_code, details_of(answer))
    return page(request, "campaigns.html", found=answer.json(), chosen=status or "")


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
        api.call(visitor.caller, "GET", f"/customers/{customer_id}"),
        api.call(visitor.caller, "GET", "/payments", params={"customerId": str(customer_id)}),
    )
    if customer.status_code != 200:
        raise Refused(customer.status_code, details_of(customer))
    open_payments = [
        p for p in payments.json()["items"] if p["status"] not in ("paid", "written_off")
    ]
    return page(
        request,
        "campaign_form.html",
        status,
        customer=customer.json(),
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
    body = {
        "name": form.values["name"],
        "customerId": str(customer_id),
        "paymentId": form.values["paymentId"],
        "steps": steps,
    }
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
    found = await api.call(visitor.caller, "GET", f"/campaigns/{campaign_id}")
    if found.status_code != 200:
        raise Refused(found.status_code, details_of(found))
    campaign = found.json()
    by_campaign = {"campaignId": str(campaign_id), "limit": 200}
    schedule, customer, tasks, messages = await asyncio.gather(
        api.call(visitor.caller, "GET", f"/campaigns/{campaign_id}/schedule"),
        api.call(visitor.caller, "GET", f"/customers/{campaign['customerId']}"),
        api.call(visitor.caller, "GET", "/tasks", params=by_campaign),
        api.call(visitor.caller, "GET", "/messages", params=by_campaign),
    )
    return page(
        request,
        "campaign.html",
        status,
        campaign=campaign,
        schedule=schedule.json() if schedule.status_code == 200 else None,
        customer=customer.json() if customer.status_code == 200 else None,
        tasks=tasks.json()["items"] if tasks.status_code == 200 else [],
        messages=messages.json()["items"] if messages.status_code == 200 else [],
        actions=[name for name, allowed in ACTIONS.items() if campaign["status"] in allowed],
        live_every_s=LIVE_EVERY_S if campaign["status"] in ("scheduled", "active") else None,
        **extra,
    )


@router.post("/campaigns/{campaign_id}/{action}")
async def act(request: Request, visitor: Visitor, campaign_id: uuid.UUID, action: str) -> Response:
    if action not in ACTIONS:
        raise Refused(404, f"No action {action!r} on a campaign")
    await visitor.form(request, ())
    answer = await console_of(request).api.call(
        visitor.caller, "POST", f"/campaigns/{campaign_id}/{action}"
    )
    if answer.status_code != 200:
        error = details_of(answer)
        return await _campaign_page(request, visitor, campaign_id, answer.status_code, error=error)
    return back_to(f"/campaigns/{campaign_id}", f"Campaign {answer.json()['status']}.")
