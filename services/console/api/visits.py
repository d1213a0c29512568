"""A request to the console: the console's parts, and the signed-in person making it."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import Depends, Request
from jinja2_fragments.fastapi import Jinja2Blocks
from starlette.responses import RedirectResponse, Response

from services.console.domain.forms import Form
from services.console.domain.screens import may
from services.console.settings import ConsoleSettings
from services.console.stores.drafts import Drafts
from services.console.stores.platform_api import Caller, PlatformApi, Refused, details_of
from services.console.stores.sessions import Session, Sessions

SESSION_COOKIE = "remit_console"


class StaleForm(Exception):
    """A form posted with a token that is not the session's: from a page opened in an earlier
    session, or from another site."""


class NeedsSignIn(Exception):
    """No session (or it ended): sign in, then come back to `back_to`."""

    def __init__(self, back_to: str) -> None:
        self.back_to = back_to


@dataclass
class Console:
    settings: ConsoleSettings
    sessions: Sessions
    api: PlatformApi
    templates: Jinja2Blocks
    drafts: Drafts

    def anonymous(self, request: Request) -> Caller:
        return Caller(None, None, _address(request), _request_id(request))

    def set_session_cookie(self, response: Response, cookie: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            path="/",
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookies,
        )

    def forget_session_cookie(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/")

    def set_form_cookie(self, response: Response, name: str, path: str, token: str) -> None:
        """A form's own token where there is no session (sign-in, the debtor's portal): the
        form carries it too, and a post must bring both (another site can set neither)."""
        response.set_cookie(
            name,
            token,
            max_age=3600,
            path=path,
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookies,
        )


@dataclass
class Visit:
    session: Session
    cookie: str
    caller: Caller

    def check_form(self, submitted: str) -> None:
        """Every form carries the session's token: a page of another site cannot post one."""
        if not secrets.compare_digest(submitted.encode(), self.session.csrf.encode()):
            raise StaleForm

    async def form(self, request: Request, fields: tuple[str, ...]) -> Form:
        """The form posted, its token checked: `fields` as typed."""
        posted = await request.form()
        self.check_form(str(posted.get("csrf", "")))
        return Form.of({name: str(value) for name, value in posted.items()}, fields)

    async def submit(
        self,
        request: Request,
        fields: tuple[str, ...],
        method: str,
        path: str,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[Form, httpx.Response]:
        """The form posted (its token checked) sent on to the API with `extra`: the form, with
        the API's refusal put beside its field when it failed, and the API's answer."""
        form = await self.form(request, fields)
        answer = await console_of(request).api.call(
            self.caller, method, path, json={**(extra or {}), **form.payload()}
        )
        if not answer.is_success:
            form.refused(details_of(answer))
        return form, answer

    def require(self, permission: str) -> None:
        if not may(self.session.role, permission):
            raise Refused(
                403, f"Your role '{self.session.role}' lacks the '{permission}' permission"
            )


def console_of(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


async def visit(request: Request) -> Visit:
    """The signed-in person, or a trip to the sign-in page and back."""
    cookie = request.cookies.get(SESSION_COOKIE)
    # A part of a page refreshing itself is not the person at work: their idle time runs on.
    session = (
        await console_of(request).sessions.find(cookie, touch=not is_htmx(request))
        if cookie
        else None
    )
    if session is None or cookie is None:
        raise NeedsSignIn(here(request))
    found = Visit(session, cookie, Caller(session, cookie, _address(request), _request_id(request)))
    request.state.visit = found
    return found


def is_htmx(request: Request) -> bool:
    """Asked for by htmx (a part of a page refreshing itself), not by the browser's address."""
    return request.headers.get("HX-Request") == "true"


def here(request: Request) -> str:
    """The page asked for: its path and query."""
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


Visitor = Annotated[Visit, Depends(visit)]


def back_to(path: str, notice: str) -> RedirectResponse:
    """After a change, the page again (a reload does not post twice), saying what was done."""
    return RedirectResponse(f"{path}?notice={quote(notice)}", status_code=303)
