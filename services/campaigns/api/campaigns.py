"""HTTP routes for campaigns: create, read, the lifecycle actions and the schedule preview."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.campaigns import operations, scheduler
from services.campaigns.api.schemas import (
    BulkStartIn,
    BulkStartOut,
    Campaign,
    CampaignIn,
    CampaignPage,
    CampaignStatus,
    PauseIn,
    Schedule,
    ScheduledStep,
    StartRefused,
)
from services.campaigns.domain.contact_window import ContactWindow
from services.campaigns.domain.lifecycle import Action, IllegalTransitionError
from services.campaigns.settings import campaigns_settings
from services.campaigns.stores import campaigns, customers, payments
from shared.clock import clock
from shared.db import Connection
from shared.errors import ApiError
from shared.openapi import error_responses
from shared.resources import Deps, Resources
from shared.security import Principal, require

router = APIRouter(tags=["campaigns"])
Reader = Annotated[Principal, require("campaigns:read")]
Writer = Annotated[Principal, require("campaigns:write")]


def _campaign(row: Any) -> Campaign:
    steps = [
        {**step, "delay": timedelta(seconds=float(step["delay_seconds"]))} for step in row["steps"]
    ]
    return Campaign.model_validate({**dict(row), "steps": steps})


@contextlib.contextmanager
def _state_conflicts() -> Iterator[None]:
    try:
        yield
    except IllegalTransitionError as error:
        raise _as_api_error(error) from None


def _as_api_error(error: Exception) -> ApiError:
    """What the API answers for a refused state change."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, IllegalTransitionError):
        return ApiError(409, "Conflict", str(error))
    raise error


async def _fetch(deps: Resources, campaign_id: uuid.UUID) -> Campaign:
    row = await campaigns.get(deps.pool, campaign_id)
    if row is None:
        raise ApiError(404, "Not Found", f"Campaign {campaign_id} does not exist")
    return _campaign(row)


@router.post("/campaigns", response_model=Campaign, status_code=201, responses=error_responses(404))
async def create_campaign(body: CampaignIn, deps: Deps, principal: Writer) -> Campaign:
    """A draft; references are checked now, everything else again at start."""
    async with deps.pool.acquire() as connection, connection.transaction():
        customer = await customers.get(connection, body.customer_id)
        if customer is None:
            raise ApiError(404, "Not Found", f"Customer {body.customer_id} does not exist")
        payment = await payments.get(connection, body.payment_id)
        if payment is None:
            raise ApiError(404, "Not Found", f"Payment record {body.payment_id} does not exist")
        terms = body.plan_terms.model_dump(mode="json") if body.plan_terms else None
        campaign_id = await campaigns.insert(
            connection, {**body.model_dump(by_alias=False), "plan_terms": terms}, principal.user_id
        )
    return await _fetch(deps, campaign_id)


@router.get("/campaigns", response_model=CampaignPage)
async def list_campaigns(
    deps: Deps,
    _: Reader,
    customer_id: Annotated[uuid.UUID | None, Query(alias="customerId")] = None,
    payment_id: Annotated[uuid.UUID | None, Query(alias="paymentId")] = None,
    status: CampaignStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> CampaignPage:
    page = await campaigns.page(deps.pool, customer_id, payment_id, status, limit, cursor)
    return CampaignPage.of(page, limit, _campaign)


@router.get("/campaigns/{campaign_id}", response_model=Campaign)
async def get_campaign(campaign_id: uuid.UUID, deps: Deps, _: Reader) -> Campaign:
    return await _fetch(deps, campaign_id)


async def _start(
    connection: Connection, campaign_ids: list[uuid.UUID], window: ContactWindow, now: datetime
) -> tuple[list[uuid.UUID], dict[uuid.UUID, Exception]]:
    """Start campaigns (`operations.start_many`) and emit, in the same transaction, the runs
    the started ones have due now. Returns those started and those refused, with why."""
    starts = await operations.start_many(connection, campaign_ids, window, now)
    links = scheduler.PayLinks.of(campaigns_settings())
    await scheduler.publish_due(connection, starts.emitted, links, now)
    await scheduler.emit_started(connection, starts.to_check, window, links, now)
    return [i for i in sorted(set(campaign_ids)) if i not in starts.refused], starts.refused


async def _act(
    deps: Resources, campaign_id: uuid.UUID, action: Callable[[Connection], Awaitable[None]]
) -> Campaign:
    """Run one lifecycle operation in its own transaction; an illegal one is a 409."""
    with _state_conflicts():
        async with deps.pool.acquire() as connection, connection.transaction():
            await action(connection)
    return await _fetch(deps, campaign_id)


@router.post(
    "/campaigns/{campaign_id}/start",
    response_model=Campaign,
    responses=error_responses(409, 422),  # 422: a start check failed; details say which
)
async def start_campaign(campaign_id: uuid.UUID, deps: Deps, _: Writer) -> Campaign:
    """Now, or at `startAt` when one was set (the campaign is `scheduled` until then)."""
    window = operations.contact_window(deps.settings)
    now = clock.now()

    async def start(connection: Connection) -> None:
        _, refused = await _start(connection, [campaign_id], window, now)
        if campaign_id in refused:
            raise refused[campaign_id]

    return await _act(deps, campaign_id, start)


@router.post("/campaigns/bulk-start", response_model=BulkStartOut)
async def start_campaigns(body: BulkStartIn, deps: Deps, _: Writer) -> BulkStartOut:
    """Start many campaigns at once, each as `POST /campaigns/{id}/start` would. One that
    cannot start is listed in `refused` with the answer it would have had; the rest start."""
    window = operations.contact_window(deps.settings)
    now = clock.now()
    async with deps.pool.acquire() as connection, connection.transaction():
        started, refusals = await _start(connection, body.campaign_ids, window, now)
    refused = [
        StartRefused(
            campaign_id=campaign_id,
            status=error.status,
            error=error.error,
            details=str(error.details),
        )
        for campaign_id, error in ((i, _as_api_error(e)) for i, e in sorted(refusals.items()))
    ]
    return BulkStartOut(started=started, refused=refused)


@router.post(
    "/campaigns/{campaign_id}/pause", response_model=Campaign, responses=error_responses(409)
)
async def pause_campaign(
    campaign_id: uuid.UUID, deps: Deps, _: Writer, body: PauseIn | None = None
) -> Campaign:
    """Stop sending until resumed (or until `until`, when given)."""
    body = body or PauseIn()
    now = clock.now()
    if body.until is not None and body.until <= now:
        raise ApiError(400, "Validation error", '"until" must be in the future')
    until, reason = body.until, body.reason
    return await _act(
        deps,
        campaign_id,
        lambda c: operations.pause(c, campaign_id, now, until=until, reason=reason),
    )


@router.post(
    "/campaigns/{campaign_id}/resume", response_model=Campaign, responses=error_responses(409)
)
async def resume_campaign(campaign_id: uuid.UUID, deps: Deps, _: Writer) -> Campaign:
    window = operations.contact_window(deps.settings)
    now = clock.now()
    return await _act(deps, campaign_id, lambda c: operations.resume(c, campaign_id, window, now))


@router.post(
    "/campaigns/{campaign_id}/cancel", response_model=Campaign, responses=error_responses(409)
)
async def cancel_campaign(campaign_id: uuid.UUID, deps: Deps, _: Writer) -> Campaign:
    now = clock.now()
    return await _act(
        deps,
        campaign_id,
        lambda c: operations.end(c, campaign_id, Action.CANCEL, "cancelled by an operator", now),
    )


@router.get("/campaigns/{campaign_id}/schedule", response_model=Schedule)
async def campaign_schedule(campaign_id: uuid.UUID, deps: Deps, _: Reader) -> Schedule:
    """When each step fires, moved into the customer's contact window (within the hours they
    prefer); for a draft, a preview
    as if it started now (or at its `startAt`)."""
    campaign = await _fetch(deps, campaign_id)
    customer = await customers.get(deps.pool, campaign.customer_id)
    if customer is None:
        raise ApiError(404, "Not Found", f"Customer {campaign.customer_id} does not exist")
    window = operations.window_for(operations.contact_window(deps.settings), customer)
    base = campaign.start_at or campaign.started_at or clock.now()
    runs = {run["position"]: run for run in await campaigns.runs(deps.pool, campaign_id)}
    items = []
    for step in campaign.steps:
        planned = base + step.delay
        run = runs.get(step.position)
        scheduled = run["due_at"] if run else window.next_allowed(planned, customer["timezone"])
        items.append(
            ScheduledStep(
                position=step.position,
                channel=step.channel,
                delay=step.delay,
                planned_at=planned,
                scheduled_at=scheduled,
                moved=scheduled != planned,
                status=run["status"] if run else "planned",
                reason=_why(run) if run else None,
            )
        )
    return Schedule(campaign_id=campaign_id, timezone=customer["timezone"], items=items)


def _why(run: Any) -> str | None:
    """A settled run that was not worked keeps its reason as its outcome; a failed one, or one
    waiting for a retry, its last error. A completed run's outcome is its result, not a why."""
    if run["status"] in ("skipped", "cancelled"):
        return str(run["outcome"]) if run["outcome"] else None
    if run["status"] in ("failed", "pending"):
        return str(run["last_error"]) if run["last_error"] else None
    return None
