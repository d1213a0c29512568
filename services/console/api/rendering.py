"""Rendering a console page: the template, the visit's navigation and permissions, and the
page's security policy."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse

from services.console.api.visits import Visit, console_of, is_htmx
from services.console.domain.screens import may, screens_for

# Pages load nothing from elsewhere, post only to the console, and are never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)


# The part of a page that keeps itself up to date: htmx asks for the page again every few
# seconds (`hx-get`, with its `HX-Request` header) and gets only this block to swap in.
LIVE_BLOCK = "live"


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    console = console_of(request)
    found: Visit | None = getattr(request.state, "visit", None)
    refreshing = is_htmx(request) and LIVE_BLOCK in console.templates.get_template(template).blocks
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
        block_name=LIVE_BLOCK if refreshing else None,
    )
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Vary"] = "HX-Request"
    # A form posted from the page tells the console which page it was on (see `drafts`).
    response.headers["Referrer-Policy"] = "same-origin"
    assert isinstance(response, HTMLResponse)
    return response


def safe_next(target: str | None) -> str:
    """Only a path of the console itself: never another site (`//host`, a scheme, or one a
    browser would read so once it drops tabs and line breaks or turns backslashes around)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if any(ch < " " or ch in "\\\x7f" for ch in target):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target
