"""`Idempotency-Key` on every POST of the API: a request retried with the same key gets the
first answer again instead of acting twice.

- Same key, same request (method, path, query and body): the first answer is replayed, with
  `Idempotent-Replayed: true`, for `IDEMPOTENCY_KEY_TTL_S` (24 h).
- Same key, another request: 409 `Conflict`; the key is spent.
- Same key while the first is still being handled: 409 `Conflict`; retry shortly.
- A first answer of 5xx is not kept: retrying with the key runs the request again.

Keys belong to the authenticated caller (another user's key is a different key). A request
without a valid token is passed on untouched (the route refuses it, or it is a public route
such as login, which needs no key). Keys live in Redis; if Redis cannot be asked, a request
that carries a key is refused with 503 rather than risk acting twice.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import ApiError, error_body
from shared.security import current_principal

HEADER = "idempotency-key"
REPLAYED = "Idempotent-Replayed"
KEY_TTL_S = 24 * 3600
PENDING_TTL_S = 300  # longer than any request may take (statement and send deadlines)
_MAX_KEPT_BYTES = 256 * 1024
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_KEPT_HEADERS = {b"content-type", b"location"}


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        given = dict(scope.get("headers", [])).get(HEADER.encode())
        if scope["type"] != "http" or scope["method"] != "POST" or given is None:
            await self.app(scope, receive, send)
            return
        key = given.decode("latin-1")
        if not _VALID_KEY.match(key):
            await _refuse(
                scope,
                receive,
                send,
                400,
                "Validation error",
                '"Idempotency-Key" must be 1 to 255 visible ASCII characters',
            )
            return
        body = await _whole_body(receive)
        request = Request(scope, _replaying(body))
        try:
            caller = (await current_principal(request)).user_id
        except ApiError:
            await self.app(scope, _replaying(body), send)  # the route refuses it
            return
        fingerprint = hashlib.sha256(
            b"\0".join(
                [
                    scope["method"].encode(),
                    scope["path"].encode(),
                    scope.get("query_string", b""),
                    body,
                ]
            )
        ).hexdigest()
        slot = f"idempotency:{self.service}:{caller}:{hashlib.sha256(given).hexdigest()}"
        redis = scope["app"].state.resources.redis
        try:
            claimed = await redis.set(
                slot, json.dumps({"fingerprint": fingerprint}), nx=True, ex=PENDING_TTL_S
            )
            known = None if claimed else await redis.get(slot)
        except RedisError:
            await _refuse(
                scope,
                receive,
                send,
                503,
                "Service unavailable",
                "Redis is unavailable; the Idempotency-Key cannot be honoured",
            )
            return
        if not claimed:
            await _answer_again(scope, receive, send, known, fingerprint)
            return
        try:
            kept = await self._run(scope, _replaying(body), send)
        except BaseException:
            # Not answered (a crash becomes the edge's 500): a retry must run it again.
            with contextlib.suppress(RedisError):
                await redis.delete(slot)
            raise
        try:
            if kept is None:
                await redis.delete(slot)
            else:
                await redis.set(
                    slot, json.dumps({"fingerprint": fingerprint, **kept}), ex=KEY_TTL_S
                )
        except RedisError:
            pass  # the pending mark expires by itself; a retry meanwhile is told to wait

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> dict[str, object] | None:
        """Run the request, passing its answer on; the answer to keep, or None (5xx, large)."""
        status = 500
        headers: list[list[str]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers.extend(
                    [name.decode("latin-1"), value.decode("latin-1")]
                    for name, value in message.get("headers", [])
                    if name.lower() in _KEPT_HEADERS
                )
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        content = b"".join(chunks)
        if status >= 500 or len(content) > _MAX_KEPT_BYTES:
            return None
        return {"status": status, "headers": headers, "body": base64.b64encode(content).decode()}


async def _answer_again(
    scope: Scope, receive: Receive, send: Send, known: bytes | None, fingerprint: str
) -> None:
    """The key was used before: the kept answer, or why there is none to give."""
    kept = json.loads(known) if known else {}
    if kept.get("fingerprint") != fingerprint or "status" not in kept:
        details = (
            "This Idempotency-Key was used with another request; use a new key"
            if kept.get("fingerprint") != fingerprint
            else "A request with this Idempotency-Key is still being handled; retry shortly"
        )
        await _refuse(scope, receive, send, 409, "Conflict", details)
        return
    response = Response(
        base64.b64decode(kept["body"]),
        status_code=kept["status"],
        headers={**dict(kept["headers"]), REPLAYED: "true"},
    )
    await response(scope, receive, send)


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, error: str, details: str
) -> None:
    request_id = scope.get("state", {}).get("request_id")
    await JSONResponse(error_body(status, error, details, request_id), status_code=status)(
        scope, receive, send
    )


async def _whole_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
