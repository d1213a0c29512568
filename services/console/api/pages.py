"""The console's pages: sign-in, the dashboard and customers, rendered on the server from the
platform's API answers, each form protected by the session's form token."""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.api.visits import Visit, console_of, visit
from services.console.domain.forms import Form as Filled
from services.console.domain.screens import may, screens_for

router = APIRouter(include_in_schema=False)
Visitor = Annotated[Visit, Depends(visit)]
LOGIN_FORM_COOKIE = "remit_console_login"
# Pages load nothing from elsewhere, post only to the console, and are never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
CAMPAIGN_STATUSES = ("draft", "scheduled", "active", "paused", "completed", "cancelled", "failed")
CUSTOMER_FIELDS = ("companyName", "contactName", "email", "phone", "timezone", "externalRef")


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    console = console_of(request)
    found: Visit | None = getattr(request.state, "visit", None)
    response = console.templates.TemplateResponse(
        request,
        template,
        {
            "visit": found,
            "screens": screens_for(found.session.role) if found else [],
            "may": (lambda permission: may(found.session.role, permission)) if found else None,
            **context,
        },
        status_code=status,
    )
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def _safe_next(target: str | None) -> str:
    """Only a path of the console itself: never another site (`//host`, a scheme)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    form_token = secrets.token_urlsafe(32)
    response = _page(request, "login.html", form=Filled(), next=_safe_next(next), csrf=form_token)
    _set_login_cookie(request, response, form_token)
    return response


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
    if not expected or not secrets.compare_digest(expected, csrf):
        form.message = "The sign-in form expired; please try again"
        return _login_again(request, form, next, 403)
    caller = console.anonymous(request)
    answer = await console.api.call(
        caller, "POST", "/auth/login", json={"email": email, "password": password}
    )
    if answer.status_code != 200:
        return _login_again(request, form.refused(answer.json()["details"]), next, 400)
    tokens = answer.json()
    me = await console.api.whoami(caller, tokens["accessToken"])
    cookie = await console.sessions.open(tokens["accessToken"], tokens["refreshToken"], me.json())
    response = RedirectResponse(_safe_next(next), status_code=303)
    console.set_session_cookie(response, cookie)
    response.delete_cookie(LOGIN_FORM_COOKIE, path="/login")
    return response


def _login_again(request: Request, form: Filled, next: str, status: int) -> HTMLResponse:
    form_token = secrets.token_urlsafe(32)
    response = _page(
        request, "login.html", status, form=form, next=_safe_next(next), csrf=form_token
    )
    _set_login_cookie(request, response, form_token)
    return response


def _set_login_cookie(request: Request, response: Response, form_token: str) -> None:
    # The sign-in form's own token (there is no session yet), checked against the form field.
    response.set_cookie(
        LOGIN_FORM_COOKIE,
        form_token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=console_of(request).settings.secure_cookies,
    )


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


@router.get("/")
async def dashboard(request: Request, visitor: Visitor) -> HTMLResponse:
    api = console_of(request).api

    async def total(path: str, **params: str) -> int | None:
        answer = await api.call(visitor.caller, "GET", path, params={**params, "limit": 1})
        return int(answer.json()["total"]) if answer.status_code == 200 else None

    campaigns = await asyncio.gather(*(total("/campaigns", status=s) for s in CAMPAIGN_STATUSES))
    waiting = await total("/tasks", status="pending")
    health = None
    if may(visitor.session.role, "diagnostics:read"):
        health = (await api.call(visitor.caller, "GET", "/health")).json()
    return _page(
        request,
        "dashboard.html",
        campaigns=dict(zip(CAMPAIGN_STATUSES, campaigns, strict=True)),
        waiting=waiting,
        health=health,
    )


@router.get("/customers")
async def customers(
    request: Request,
    visitor: Visitor,
    q: str | None = None,
    cursor: str | None = None,
    created: str | None = None,
) -> HTMLResponse:
    answer = await console_of(request).api.call(
        visitor.caller, "GET", "/customers", params={"q": q, "cursor": cursor, "limit": 50}
    )
    page = answer.json() if answer.status_code == 200 else None
    error = None if page is not None else answer.json().get("details")
    return _page(
        request,
        "customers.html",
        answer.status_code if error else 200,
        page=page,
        q=q or "",
        error=error,
        created=created,
    )


@router.get("/customers/new")
async def new_customer(request: Request, visitor: Visitor) -> HTMLResponse:
    visitor.require("customers:write")
    return _page(
        request, "customer_form.html", form=Filled.of({"timezone": "UTC"}, CUSTOMER_FIELDS)
    )


@router.post("/customers/new")
async def create_customer(request: Request, visitor: Visitor) -> Response:
    submitted = await request.form()
    visitor.check_form(str(submitted.get("csrf", "")))
    form = Filled.of(
        {name: str(submitted.get(name, "")) for name in CUSTOMER_FIELDS}, CUSTOMER_FIELDS
    )
    answer = await console_of(request).api.call(
        visitor.caller, "POST", "/customers", json=form.payload()
    )
    if answer.status_code == 201:
        return RedirectResponse(f"/customers?created={quote(answer.json()['id'])}", status_code=303)
    form.refused(answer.json()["details"])
    return _page(request, "customer_form.html", answer.status_code, form=form)
