"""The admins' screens: a request's trace across the services, and the users."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.api.rendering import page
from services.console.api.visits import Visitor, back_to, console_of
from services.console.domain.forms import Form as Filled
from services.console.stores.platform_api import Refused, details_of
from shared.context import SANE_REQUEST_ID
from shared.permissions import ROLES

router = APIRouter(include_in_schema=False)
USER_FIELDS = ("email", "password", "role")


@router.get("/trace")
async def trace(request: Request, visitor: Visitor, request_id: str = "") -> HTMLResponse:
    visitor.require("diagnostics:read")
    request_id = request_id.strip()
    if not request_id:
        return page(request, "trace.html", request_id="", found=None, error=None)
    if not SANE_REQUEST_ID.fullmatch(request_id):
        unkept = "No service keeps a request ID like this: 1 to 128 letters, digits, . _ : -"
        return page(request, "trace.html", 400, request_id=request_id, found=None, error=unkept)
    answer = await console_of(request).api.call(
        visitor.caller, "GET", f"/diagnostics/trace/{quote(request_id, safe='')}"
    )
    ok = answer.status_code == 200
    return page(
        request,
        "trace.html",
        200 if ok else answer.status_code,
        request_id=request_id,
        found=answer.json() if ok else None,
        error=None if ok else details_of(answer),
    )


@router.get("/users")
async def users(request: Request, visitor: Visitor, notice: str | None = None) -> HTMLResponse:
    return await _users_page(request, visitor, Filled.of({"role": "agent"}, USER_FIELDS), notice)


async def _users_page(
    request: Request, visitor: Visitor, form: Filled, notice: str | None = None, status: int = 200
) -> HTMLResponse:
    visitor.require("users:write")
    found = await console_of(request).api.read(visitor.caller, "/users", {"limit": 200})
    return page(request, "users.html", status, found=found, form=form, roles=ROLES, notice=notice)


@router.post("/users")
async def invite(request: Request, visitor: Visitor) -> Response:
    form, answer = await visitor.submit(request, USER_FIELDS, "POST", "/users")
    if not answer.is_success:
        return await _users_page(request, visitor, form, status=answer.status_code)
    email = answer.json()["email"]
    if form.values["password"]:
        return back_to("/users", f"User {email} created with the password given.")
    return back_to(
        "/users", f"User {email} created and emailed an invitation to choose a password."
    )


@router.post("/users/{user_id}/{change}")
async def change_user(
    request: Request, visitor: Visitor, user_id: uuid.UUID, change: str
) -> Response:
    submitted = await visitor.form(request, ("role",))
    path = f"/users/{user_id}"
    api = console_of(request).api
    if change == "role":
        answer = await api.call(visitor.caller, "PATCH", path, json=submitted.payload())
    elif change in ("deactivate", "reactivate"):
        active = {"isActive": change == "reactivate"}
        answer = await api.call(visitor.caller, "PATCH", path, json=active)
    elif change == "unlock":
        answer = await api.call(visitor.caller, "POST", f"{path}/unlock")
    else:
        raise Refused(404, f"No change {change!r} to a user")
    if answer.status_code != 200:
        raise Refused(answer.status_code, details_of(answer))
    return back_to("/users", f"User {answer.json()['email']}: {change} done.")
