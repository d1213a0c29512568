"""Rendering a console page: the template, the visit's navigation and permissions, and the
page's security policy."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from services.console.api.visits import Visit, console_of
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
    assert isinstance(response, HTMLResponse)
    return response


def is_htmx(request: Request) -> bool:
    """Asked for by htmx (a part of a page refreshing itself), not by the browser's address."""
    return request.headers.get("HX-Request") == "true"


def safe_next(target: str | None) -> str:
    """Only a path of the console itself: never another site (`//host`, a scheme)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"
