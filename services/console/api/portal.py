"""The debtor's portal: the page a message's link opens, for whoever holds the link (no
sign-in). What it shows comes from the campaigns service's portal API, which checks the link."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from services.console.api.rendering import page
from services.console.api.visits import console_of
from services.console.stores.platform_api import details_of

router = APIRouter(include_in_schema=False)
Token = Annotated[str, Path(max_length=64)]


@router.get("/pay/{token}")
async def portal(request: Request, token: Token) -> HTMLResponse:
    console = console_of(request)
    answer = await console.api.call(console.anonymous(request), "GET", f"/portal/{token}")
    if answer.status_code != 200:
        return page(
            request,
            "portal_refused.html",
            answer.status_code,
            details=details_of(answer),
            response_status=answer.status_code,
        )
    return page(request, "portal.html", debt=answer.json())
