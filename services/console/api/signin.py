"""Signing in and out: the API's own refusals on the form, the tokens kept in the session."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.api.drafts import has_draft
from services.console.api.rendering import page, safe_next
from services.console.api.visits import Visitor, console_of
from services.console.domain.forms import Form as Filled
from services.console.stores.platform_api import details_of

router = APIRouter(include_in_schema=False)
LOGIN_FORM_COOKIE = "remit_console_login"


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return _login_again(request, Filled(), next or "/", 200)


@router.post("/login")
async def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    console = console_of(request)
    form = Filled.of({"email": email}, ("email",))
    expected = request.cookies.get(LOGIN_FORM_COOKIE, "")
    if not expected or not secrets.compare_digest(expected.encode(), csrf.encode()):
        form.message = "The sign-in form expired; please try again"
        return _login_again(request, form, next, 403)
    caller = console.anonymous(request)
    answer = await console.api.call(
        caller, "POST", "/auth/login", json={"email": email, "password": password}
    )
    if answer.status_code != 200:
        return _login_again(request, form.refused(details_of(answer)), next, 400)
    tokens = answer.json()
    me = await console.api.whoami(caller, tokens["accessToken"])
    if me.status_code != 200:
        form.message = details_of(me)
        return _login_again(request, form, next, me.status_code)
    cookie = await console.sessions.open(tokens["accessToken"], tokens["refreshToken"], me.json())
    # A form whose session ended is offered again first, then the page it was on.
    after = f"/resubmit?next={quote(safe_next(next), safe='/')}" if has_draft(request) else next
    response = RedirectResponse(safe_next(after), status_code=303)
    console.set_session_cookie(response, cookie)
    response.delete_cookie(LOGIN_FORM_COOKIE, path="/login")
    return response


def _login_again(request: Request, form: Filled, next: str, status: int) -> HTMLResponse:
    form_token = secrets.token_urlsafe(32)
    response = page(
        request,
        "login.html",
        status,
        form=form,
        next=safe_next(next),
        csrf=form_token,
        kept_draft=has_draft(request),
    )
    console_of(request).set_form_cookie(response, LOGIN_FORM_COOKIE, "/login", form_token)
    return response


@router.post("/logout")
async def logout(request: Request, visitor: Visitor, csrf: Annotated[str, Form()] = "") -> Response:
    console = console_of(request)
    visitor.check_form(csrf)
    await console.api.call(
        visitor.caller, "POST", "/auth/logout", json={"refreshToken": visitor.session.refresh_token}
    )
    await console.sessions.close(visitor.cookie)
    response = RedirectResponse("/login", status_code=303)
    console.forget_session_cookie(response)
    return response
