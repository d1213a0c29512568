"""The dashboard: campaigns by status, today's messages, the work waiting, the money collected,
and the platform's health for admins."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.console.api.campaigns import CAMPAIGN_STATUSES
from services.console.api.rendering import page
from services.console.api.visits import Visitor, console_of
from services.console.domain.figures import channel_figures
from services.console.domain.screens import may
from services.console.domain.times import start_of_day

router = APIRouter(include_in_schema=False)
# The dashboard refreshes its figures this often (seconds).
LIVE_EVERY_S = 15


@router.get("/")
async def dashboard(request: Request, visitor: Visitor) -> HTMLResponse:
    console = console_of(request)
    api = console.api
    zone = console.settings.console_timezone
    # The platform's clock, which an operator may have moved (CLOCK_CONTROL), not this one's.
    clock = await api.optional(visitor.caller, "/clock")
    now = datetime.fromisoformat(clock["now"]) if clock else datetime.now(UTC)
    today = start_of_day(now, zone)

    async def total(path: str, **params: str) -> int | None:
        found = await api.optional(visitor.caller, path, {**params, "limit": 1})
        return int(found["total"]) if found is not None else None

    campaigns, waiting, for_people, messages, collected = await asyncio.gather(
        asyncio.gather(*(total("/campaigns", status=s) for s in CAMPAIGN_STATUSES)),
        total("/tasks", status="pending"),
        total("/tasks", status="pending", channel="human"),
        api.optional(visitor.caller, "/messages/summary", {"since": today.isoformat()}),
        api.optional(visitor.caller, "/payments/collected"),
    )
    health = lag = None
    if may(visitor.session.role, "diagnostics:read"):
        # 503 when something is down: the answer still says what, service by service.
        answer = await api.call(visitor.caller, "GET", "/health")
        health = answer.json() if "services" in answer.text else None
        report = await api.optional(visitor.caller, "/diagnostics")
        if report is not None:
            lag = next(
                (part["consumerLag"] for part in report.values() if "consumerLag" in part), None
            )
    return page(
        request,
        "dashboard.html",
        campaigns=dict(zip(CAMPAIGN_STATUSES, campaigns, strict=True)),
        waiting=waiting,
        for_people=for_people,
        messages=channel_figures(messages["channels"]) if messages else None,
        today=today,
        zone=zone,
        collected=collected,
        health=health,
        lag=lag,
        live_every_s=LIVE_EVERY_S,
        live_path="/",
    )
