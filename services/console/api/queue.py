"""The collectors' queue: the tasks assigned to me and the human tasks I may claim, and a task's
page with everything about the customer and the form that records what happened."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.api.rendering import page
from services.console.api.visits import Visitor, back_to, console_of
from services.console.domain.forms import Form as Filled
from services.console.stores.platform_api import Refused, details_of

router = APIRouter(include_in_schema=False)
OUTCOME_FIELDS = ("outcome", "promisedDate", "note")
# The queue refreshes its lists this often (seconds): new work shows up, claimed work goes.
LIVE_EVERY_S = 10
MINE = {"assignee": "me", "limit": 200}
OUTCOMES = {
    "reached": "Reached them (nothing more to record)",
    "promise_to_pay": "Promise to pay (give the date)",
    "paid": "Says they paid",
    "dispute": "Disputes the debt",
    "no_answer": "No answer",
    "wrong_number": "Wrong number",
    "other": "Something else (say what in the note)",
}


@router.get("/queue")
async def queue(request: Request, visitor: Visitor, notice: str | None = None) -> HTMLResponse:
    visitor.require("tasks:work")
    api = console_of(request).api
    # "Mine" is asked for in full: a 403 says the person is not registered as a human agent.
    assigned, started, waiting = await asyncio.gather(
        api.call(visitor.caller, "GET", "/tasks", params={**MINE, "status": "assigned"}),
        api.call(visitor.caller, "GET", "/tasks", params={**MINE, "status": "in_progress"}),
        api.items(
            visitor.caller, "/tasks", {"status": "pending", "channel": "human", "limit": 200}
        ),
    )
    mine = [
        t for answer in (started, assigned) if answer.is_success for t in answer.json()["items"]
    ]
    return page(
        request,
        "queue.html",
        mine=mine,
        not_an_agent=details_of(assigned) if assigned.status_code == 403 else None,
        claimable=waiting,
        notice=notice,
        live_every_s=LIVE_EVERY_S,
        live_path="/queue",
    )


@router.post("/queue/{task_id}/claim")
async def claim(request: Request, visitor: Visitor, task_id: uuid.UUID) -> Response:
    await visitor.form(request, ())
    answer = await console_of(request).api.call(visitor.caller, "POST", f"/tasks/{task_id}/claim")
    if answer.status_code != 200:
        raise Refused(answer.status_code, details_of(answer))
    return RedirectResponse(f"/queue/{task_id}", status_code=303)


@router.get("/queue/{task_id}")
async def task(request: Request, visitor: Visitor, task_id: uuid.UUID) -> HTMLResponse:
    return await _task_page(request, visitor, task_id, Filled.of({}, OUTCOME_FIELDS))


async def _task_page(
    request: Request, visitor: Visitor, task_id: uuid.UUID, form: Filled, status: int = 200
) -> HTMLResponse:
    visitor.require("tasks:work")
    api = console_of(request).api
    work = await api.read(visitor.caller, f"/tasks/{task_id}")
    by_campaign = {"campaignId": work["campaignId"], "limit": 200}
    customer, campaign, tasks, messages, replies = await asyncio.gather(
        api.optional(visitor.caller, f"/customers/{work['customerId']}"),
        api.optional(visitor.caller, f"/campaigns/{work['campaignId']}"),
        api.items(visitor.caller, "/tasks", by_campaign),
        api.items(visitor.caller, "/messages", by_campaign),
        api.items(visitor.caller, f"/customers/{work['customerId']}/replies", {"limit": 200}),
    )
    payment: dict[str, Any] | None = None
    if campaign is not None:
        payment = await api.optional(visitor.caller, f"/payments/{campaign['paymentId']}")
    return page(
        request,
        "task.html",
        status,
        task=work,
        customer=customer,
        campaign=campaign,
        payment=payment,
        history=[t for t in tasks if t["id"] != str(task_id)],
        messages=messages,
        replies=replies,
        form=form,
        outcomes=OUTCOMES,
    )


@router.post("/queue/{task_id}/complete")
async def complete(request: Request, visitor: Visitor, task_id: uuid.UUID) -> Response:
    done_path = f"/tasks/{task_id}/complete"
    form, answer = await visitor.submit(request, OUTCOME_FIELDS, "POST", done_path)
    if not answer.is_success:
        return await _task_page(request, visitor, task_id, form, answer.status_code)
    done = OUTCOMES[answer.json()["outcome"]].split(" (")[0].lower()
    return back_to("/queue", f"Recorded: {done}.")
