"""The way back to sign-in, and a form whose session ended before it was sent: kept on the way
(passwords aside) and offered again once the person has signed in."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.console.api.rendering import is_htmx, page, safe_next
from services.console.api.visits import Visitor, console_of
from services.console.domain.forms import is_secret
from services.console.stores.drafts import DRAFT_TTL_S, Draft

router = APIRouter(include_in_schema=False)
DRAFT_COOKIE = "remit_console_draft"


async def to_sign_in(request: Request, back_to: str) -> Response:
    """To the sign-in page, and back to `back_to` after. A form posted meanwhile is kept to be
    sent again, and goes back to the page it was on; a part of a page refreshing itself (htmx)
    takes the whole page there, rather than showing the sign-in form inside the part."""
    console = console_of(request)
    draft_cookie = None
    if request.method == "POST":
        posted = await request.form()
        fields = {name: str(value) for name, value in posted.items() if name != "csrf"}
        draft_cookie = await console.drafts.keep(
            Draft(
                action=request.url.path,
                fields={name: value for name, value in fields.items() if not is_secret(name)},
                left_out=[name for name in fields if is_secret(name)],
            )
        )
        back_to = _page_of(request)
    target = f"/login?next={quote(back_to, safe='/')}"
    response: Response = (
        Response(status_code=204, headers={"HX-Redirect": target})
        if is_htmx(request)
        else RedirectResponse(target, status_code=303)
    )
    if draft_cookie is not None:
        response.set_cookie(
            DRAFT_COOKIE,
            draft_cookie,
            max_age=DRAFT_TTL_S,
            path="/",
            httponly=True,
            samesite="strict",
            secure=console.settings.secure_cookies,
        )
    return response


def has_draft(request: Request) -> bool:
    return DRAFT_COOKIE in request.cookies


def _page_of(request: Request) -> str:
    """The page a form was posted from (the console's own), or the dashboard."""
    referer = urlsplit(request.headers.get("referer", ""))
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))


@router.get("/resubmit")
async def resubmit(request: Request, visitor: Visitor, next: str = "/") -> Response:
    """What the person was sending when their session ended, to check and send again."""
    cookie = request.cookies.get(DRAFT_COOKIE)
    draft = await console_of(request).drafts.take(cookie) if cookie else None
    response: Response = (
        page(request, "resubmit.html", draft=draft, next=safe_next(next))
        if draft is not None
        else RedirectResponse(safe_next(next), status_code=303)
    )
    response.delete_cookie(DRAFT_COOKIE, path="/")
    return response
