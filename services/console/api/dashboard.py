"""The dashboard: campaigns by status, the work waiting, and the platform's health for admins."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.console.api.campaigns import CAMPAIGN_STATUSES
from services.console.api.rendering import page
from services.console.api.visits import Visitor, console_of
from services.console.domain.screens import may

router = APIRouter(include_in_schema=False)
CHANNELS = ("email", "sms", "voice")
MESSAGE_OUTCOMES = ("sent", "failed")


@router.get("/")
async def dashboard(request: Request, visitor: Visitor) -> HTMLResponse:
    api = console_of(request).api

    async def total(path: str, **params: str) -> int | None:
        answer = await api.call(visitor.caller, "GET", path, params={**params, "limit": 1})
        return int(answer.json()["total"]) if answer.status_code == 200 else None

    campaigns = await asyncio.gather(*(total("/campaigns", status=s) for s in CAMPAIGN_STATUSES))
    waiting = await total("/tasks", status="pending")
    sent = await asyncio.gather(
        *(total("/messages", channel=c, status=s) for c in CHANNELS for s in MESSAGE_OUTCOMES)
    )
    health = lag = None
    if may(visitor.session.role, "diagnostics:read"):
        # 503 when something is down: the answer still says what, service by service.
        answer = await api.call(visitor.caller, "GET", "/health")
        health = answer.json() if "services" in answer.text else None
        report = await api.call(visitor.caller, "GET", "/diagnostics")
        if report.status_code == 200:
            lag = next(
                (part["consumerLag"] for part in report.json().values() if "consumerLag" in part),
                None,
            )
    return page(
        request,
        "dashboard.html",
        campaigns=dict(zip(CAMPAIGN_STATUSES, campaigns, strict=True)),
        waiting=waiting,
        messages={
            channel: dict(zip(MESSAGE_OUTCOMES, sent[i : i + 2], strict=True))
            for i, channel in zip(range(0, len(sent), 2), CHANNELS, strict=True)
        },
        health=health,
        lag=lag,
    )
