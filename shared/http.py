"""HTTP edge shared by every service: request IDs, access logs and the one error shape."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.context import REQUEST_ID_HEADER, accept_request_id, request_id_var
from shared.db import DATABASE_UNAVAILABLE, NUL_IN_TEXT, PoolExhaustedError
from shared.errors import ApiError, error_body, joi_message
from shared.idempotency import IdempotencyMiddleware
from shared.ratelimit import STATE_KEY as RATE_LIMIT_STATE_KEY

logger = logging.getLogger("http")


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def error_response(request: Request, status: int, error: str | None, details: Any) -> JSONResponse:
    request_id = _request_id(request)
    return JSONResponse(
        error_body(status, error, details, request_id),
        status_code=status,
        headers={REQUEST_ID_HEADER: request_id} if request_id else None,
    )


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413 in the error shape, whether the client declared
    the length or streams it in chunks. The body is read up to the limit before the app sees
    any of it, so a refused request never half-runs."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        first: Message = {"type": "http.request", "body": b"", "more_body": False}
        while more:
            message = await receive()
            if message["type"] != "http.request":
                first = message  # the client went away mid-body: the app sees that, not a body
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                if first["type"] == "http.request":
                    return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                return first
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = scope.get("state", {}).get("request_id")
        body = error_body(
            413, "Payload Too Large", f"Request body exceeds {self.max_bytes} bytes", request_id
        )
        await JSONResponse(body, status_code=413)(scope, receive, send)


# On every answer unless a route set its own: no MIME sniffing, never framed, no referrer
# leaking an API URL, and nothing kept by caches (answers carry personal and financial data,
# and tokens).
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "frame-ancestors 'none'"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)
_RAW_SECURITY_HEADERS = tuple(
    (name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS
)
_RAW_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()
# Addresses whose next segment is a credential (the debtor's link opens their portal to
# whoever holds it): logged without it.
_SECRET_IN_PATH = re.compile(r"(/pay/|/api/v1/portal/)[^/?#\s]+")


def loggable_path(path: str) -> str:
    """The path (or address) as logs and exported spans keep it: a debtor's link token
    replaced by `<token>`."""
    return _SECRET_IN_PATH.sub(r"\1<token>", path)


def _header(scope: Scope, name: bytes) -> bytes | None:
    """A request header's raw value (ASGI names are lower-case)."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class RequestContextMiddleware:
    """Assigns the request ID, logs one line per request and turns crashes into clean 500s."""

    def __init__(self, app: ASGIApp, slow_request_ms: int = 1000) -> None:
        self.app = app
        self.slow_request_ms = slow_request_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, _RAW_REQUEST_ID)
        request_id = accept_request_id(incoming.decode("latin-1") if incoming else None)
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != _RAW_REQUEST_ID
                ]
                headers.append((_RAW_REQUEST_ID, request_id.encode()))
                present = {name.lower() for name, _ in headers}
                limited = scope["state"].get(RATE_LIMIT_STATE_KEY, {})
                headers.extend(
                    (name.lower().encode(), value.encode())
                    for name, value in limited.items()
                    if name.lower().encode() not in present
                )
                headers.extend(raw for raw in _RAW_SECURITY_HEADERS if raw[0] not in present)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            logger.exception("unhandled error", extra={"path": loggable_path(scope["path"])})
            if not response_started:
                response = JSONResponse(
                    error_body(
                        500,
                        None,
                        "An unexpected error occurred; quote the request ID when reporting it",
                        request_id,
                    ),
                    status_code=500,
                )
                await response(scope, receive, send_with_request_id)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            fields = {
                "method": scope["method"],
                "path": loggable_path(scope["path"]),
                "status": status,
                "duration_ms": duration_ms,
            }
            if duration_ms >= self.slow_request_ms:
                logger.warning("slow request", extra=fields)
            else:
                logger.info("request", extra=fields)
            request_id_var.reset(token)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    details = joi_message(problems[0]) if problems else "Invalid request"
    return error_response(request, 400, "Validation error", details)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    details: Any = exc.detail
    if exc.status_code == 404 and exc.detail == "Not Found":
        details = f"Route {request.method} {request.url.path} does not exist"
    elif exc.status_code == 405:
        details = f"Method {request.method} is not allowed on {request.url.path}"
    response = error_response(request, exc.status_code, None, details)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    response = error_response(request, exc.status, exc.error, exc.details)
    response.headers.update(exc.headers)
    return response


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    logger.error("database unavailable", extra={"error": repr(exc)})
    return error_response(request, 503, "Service unavailable", "Database is unavailable")


async def _query_cancelled(request: Request, exc: Exception) -> JSONResponse:
    timed_out = "statement timeout" in str(exc)
    logger.error(
        "database query timed out" if timed_out else "database query cancelled",
        extra={"error": str(exc)},
    )
    details = (
        "Database query timed out: it ran longer than DATABASE_STATEMENT_TIMEOUT and Postgres "
        "stopped it (see Slow Queries in the troubleshooting guide)"
        if timed_out
        else "Database query cancelled by an operator (pg_cancel_backend); retry the request"
    )
    return error_response(request, 504 if timed_out else 503, None, details)


async def _nul_in_text(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        request, 400, "Validation error", "Text must not contain the NUL character (\\u0000)"
    )


async def _pool_exhausted(request: Request, exc: Exception) -> JSONResponse:
    logger.error("connection pool exhausted", extra={"error": str(exc)})
    return error_response(request, 503, "Service unavailable", "Connection pool exhausted")


async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
    logger.error("redis unavailable", extra={"error": repr(exc)})
    return error_response(request, 503, "Service unavailable", "Redis is unavailable")


def install_http_edge(
    app: FastAPI, service: str, slow_request_ms: int, max_body_bytes: int = 1_048_576
) -> None:
    # Innermost first: idempotency sees a bounded body, and both run inside the request
    # context (their refusals carry the request ID and the security headers).
    app.add_middleware(IdempotencyMiddleware, service=service)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(RequestContextMiddleware, slow_request_ms=slow_request_ms)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ApiError, _api_error)
    for error in DATABASE_UNAVAILABLE:
        app.add_exception_handler(error, _database_down)
    app.add_exception_handler(PoolExhaustedError, _pool_exhausted)
    app.add_exception_handler(asyncpg.exceptions.QueryCanceledError, _query_cancelled)
    for error in NUL_IN_TEXT:
        app.add_exception_handler(error, _nul_in_text)
    app.add_exception_handler(RedisConnectionError, _redis_down)
    app.add_exception_handler(RedisTimeoutError, _redis_down)
