"""The way back to sign-in, and a form that could not be sent as it was (its session ended, or
it was opened in an earlier session): kept on the way, passwords aside, and offered again to
check and send once the person is signed in."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.console.api.rendering import page, safe_next
from services.console.api.visits import Visitor, console_of, is_htmx
from services.console.domain.forms import is_secret
from services.console.stores.drafts import DRAFT_TTL_S, Draft

router = APIRouter(include_in_schema=False)
DRAFT_COOKIE = "remit_console_draft"
# Forms never kept: a sign-out is not worth offering again.
NEVER_KEPT = ("/logout",)


async def to_sign_in(request: Request, back_to: str) -> Response:
    """To the sign-in page, and back to `back_to` after. A form of the console's own pages
    posted meanwhile is kept and goes back to the page it was on; a part of a page refreshing
    itself (htmx) takes the whole page there, rather than showing the sign-in form inside."""
    draft_cookie = await _keep(request)
    if request.method == "POST":
        back_to = _page_of(request)
    target = f"/login?next={quote(back_to, safe='/')}"
    response: Response = (
        Response(status_code=204, headers={"HX-Redirect": target})
        if is_htmx(request)
        else RedirectResponse(target, status_code=303)
    )
    _set_draft_cookie(request, response, draft_cookie)
    return response


async def to_resubmit(request: Request) -> Response | None:
    """A form of the console's own pages with another session's token (a page left open
    across a new sign-in): offered again at once, with this session's. None for a form from
    elsewhere, which is refused."""
    draft_cookie = await _keep(request)
    if draft_cookie is None:
        return None
    target = f"/resubmit?next={quote(_page_of(request), safe='/')}"
    response = RedirectResponse(target, status_code=303)
    _set_draft_cookie(request, response, draft_cookie)
    return response


def has_draft(request: Request) -> bool:
    return DRAFT_COOKIE in request.cookies


async def _keep(request: Request) -> str | None:
    """The posted form kept as a draft (its cookie value), if it came from the console's own
    pages: another site's post is never offered to send, with a valid token, after sign-in."""
    if request.method != "POST" or request.url.path in NEVER_KEPT or not _same_origin(request):
        return None
    posted = await request.form()
    fields = {name: str(value) for name, value in posted.items() if name != "csrf"}
    return await console_of(request).drafts.keep(
        Draft(
            action=request.url.path,
            fields={name: value for name, value in fields.items() if not is_secret(name)},
            left_out=[name for name in fields if is_secret(name)],
        )
    )


def _same_origin(request: Request) -> bool:
    """Posted by a page of the console: the browser says so (`Sec-Fetch-Site`), or, from an
    older one, the `Origin` names this host."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc == request.headers.get("host")


def _set_draft_cookie(request: Request, response: Response, draft_cookie: str | None) -> None:
    if draft_cookie is not None:
        response.set_cookie(
            DRAFT_COOKIE,
            draft_cookie,
            max_age=DRAFT_TTL_S,
            path="/",
            httponly=True,
            samesite="strict",
            secure=console_of(request).settings.secure_cookies,
        )


def _page_of(request: Request) -> str:
    """The page a form was posted from (the console's own), or the dashboard."""
    referer = urlsplit(request.headers.get("referer", ""))
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))


@router.get("/resubmit")
async def resubmit(request: Request, visitor: Visitor, next: str = "/") -> Response:
    """What the person was sending when it could not be sent, to check and send again."""
    cookie = request.cookies.get(DRAFT_COOKIE)
    draft = await console_of(request).drafts.take(cookie) if cookie else None
    response: Response = (
        page(request, "resubmit.html", draft=draft, next=safe_next(next))
        if draft is not None
        else RedirectResponse(safe_next(next), status_code=303)
    )
    response.delete_cookie(DRAFT_COOKIE, path="/")
    return response
