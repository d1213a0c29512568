"""The operator console's app: server-rendered pages over the platform's public API, served
at the gateway's root (every path outside /api)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2_fragments.fastapi import Jinja2Blocks
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.console.api import (
    admin,
    campaigns,
    compliance,
    customers,
    dashboard,
    drafts,
    portal,
    queue,
    signin,
)
from services.console.api.drafts import to_resubmit, to_sign_in
from services.console.api.rendering import page
from services.console.api.visits import (
    SESSION_COOKIE,
    Console,
    NeedsSignIn,
    StaleForm,
    console_of,
    here,
)
from services.console.domain.forms import label_of
from services.console.domain.times import how_often, when
from services.console.settings import CONSOLE, console_settings
from services.console.stores.drafts import Drafts
from services.console.stores.platform_api import PlatformApi, Refused, SignedOut
from services.console.stores.sessions import Sessions
from shared.http import BodyLimitMiddleware, RequestContextMiddleware
from shared.logs import configure_logging
from shared.redis_client import connect_redis
from shared.tracing import TraceContextMiddleware, configure_tracing

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = console_settings()
    redis = connect_redis(settings.redis_url)
    async with httpx.AsyncClient(timeout=30) as http:
        sessions = Sessions(redis, settings.console_session_idle)
        templates = Jinja2Blocks(directory=HERE / "templates")
        templates.env.filters["when"] = when
        templates.env.filters["label"] = label_of
        templates.env.filters["how_often"] = how_often
        app.state.console = Console(
            settings, sessions, PlatformApi(settings, sessions, http), templates, Drafts(redis)
        )
        logger.info("console started")
        try:
            yield
        finally:
            await redis.aclose()


def create() -> FastAPI:
    settings = console_settings()
    configure_logging(CONSOLE, settings.log_level)
    configure_tracing(CONSOLE, None)
    app = FastAPI(
        title="Remit operator console",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=1_048_576)
    app.add_middleware(RequestContextMiddleware, slow_request_ms=settings.slow_request_ms)
    app.add_middleware(TraceContextMiddleware)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for screens in (
        signin,
        drafts,
        portal,
        dashboard,
        customers,
        campaigns,
        queue,
        compliance,
        admin,
    ):
        app.include_router(screens.router)
    app.add_api_route("/api/v1/console/health", _health, include_in_schema=False)
    app.add_api_route("/favicon.ico", _icon, include_in_schema=False)
    app.add_exception_handler(NeedsSignIn, _sign_in)
    app.add_exception_handler(StaleForm, _stale_form)
    app.add_exception_handler(SignedOut, _signed_out)
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(StarletteHTTPException, _not_found)
    app.add_exception_handler(RequestValidationError, _unreadable)
    app.add_exception_handler(httpx.TransportError, _platform_down)
    app.add_exception_handler(RedisError, _platform_down)
    return app


async def _health(request: Request) -> JSONResponse:
    try:
        await console_of(request).sessions.redis.ping()
    except RedisError:
        return JSONResponse({"status": "down", "redis": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "redis": "connected"})


async def _icon() -> FileResponse:
    """Browsers ask for /favicon.ico before (or without) reading a page's icon link."""
    return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")


def _error_page(request: Request, status: int, title: str, details: str) -> HTMLResponse:
    return page(request, "error.html", status, title=title, details=details)


async def _sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NeedsSignIn)
    return await to_sign_in(request, exc.back_to)


async def _stale_form(request: Request, exc: Exception) -> Response:
    """A form with another session's token: offered again if it is the console's own."""
    again = await to_resubmit(request)
    if again is not None:
        return again
    return _error_page(
        request, 403, "Not allowed", "This form expired or came from elsewhere; reload the page"
    )


async def _signed_out(request: Request, exc: Exception) -> Response:
    """The session's tokens stopped working (revoked, expired): end it, sign in again."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await console_of(request).sessions.close(cookie)
    response = await to_sign_in(request, here(request))
    console_of(request).forget_session_cookie(response)
    return response


async def _refused(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, Refused)
    return _error_page(request, exc.status, "Not allowed", exc.details)


async def _not_found(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        return _error_page(request, 405, "Not allowed", f"{request.method} is not used here")
    return _error_page(request, exc.status_code, "Not found", f"No page at {request.url.path}")


async def _unreadable(request: Request, exc: Exception) -> HTMLResponse:
    """An address or form the console cannot read (an ID that is not one, say)."""
    return _error_page(request, 400, "Not understood", f"No page at {request.url.path}")


async def _platform_down(request: Request, exc: Exception) -> HTMLResponse:
    logger.error("platform unreachable from the console", extra={"error": repr(exc)})
    return _error_page(
        request,
        503,
        "Platform unavailable",
        "A service the console needs did not answer; retry shortly, and quote the request ID "
        "if it persists",
    )
