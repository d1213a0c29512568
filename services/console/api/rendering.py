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


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
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


def safe_next(target: str | None) -> str:
    """Only a path of the console itself: never another site (`//host`, a scheme)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"
