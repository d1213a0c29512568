"""Console sessions in Redis: the signed-in person's tokens stay on the server; the browser
holds only a random session ID (in an HttpOnly, SameSite=Strict cookie)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass

from redis.asyncio import Redis


@dataclass
class Session:
    """One signed-in person: their tokens, who they are, and the form token of the session."""

    access_token: str
    refresh_token: str
    csrf: str
    user_id: str
    email: str
    role: str


def _key(cookie: str) -> str:
    # Stored by the hash of the cookie: a read of Redis does not hand out live sessions.
    return f"console:session:{hashlib.sha256(cookie.encode()).hexdigest()}"


# How long one renewal may hold the session's renewal lock, and how long others wait for it.
RENEWAL_S = 10.0


class Sessions:
    def __init__(self, redis: Redis, idle_s: int) -> None:
        self.redis = redis
        self.idle_s = idle_s

    async def open(self, access_token: str, refresh_token: str, user: dict[str, str]) -> str:
        """A new session; returns the cookie value that names it."""
        cookie = secrets.token_urlsafe(32)
        session = Session(
            access_token,
            refresh_token,
            secrets.token_urlsafe(32),
            str(user["id"]),
            str(user["email"]),
            str(user["role"]),
        )
        await self.save(cookie, session)
        return cookie

    async def find(self, cookie: str, *, touch: bool = True) -> Session | None:
        """The session (its idle time starting again when `touch`: a person's request, not a
        page refreshing itself); None when it ended or never was."""
        key = _key(cookie)
        found = await (self.redis.getex(key, ex=self.idle_s) if touch else self.redis.get(key))
        return Session(**json.loads(found)) if found else None

    async def save(self, cookie: str, session: Session) -> None:
        await self.redis.set(_key(cookie), json.dumps(asdict(session)), ex=self.idle_s)

    async def close(self, cookie: str) -> None:
        await self.redis.delete(_key(cookie))

    @asynccontextmanager
    async def renewing(self, cookie: str) -> AsyncIterator[bool]:
        """Inside, this call alone renews the session's tokens (yields True), or another call
        of the session (another tab, console replica or request) renewed them, or was still at
        it when the wait ran out (yields False)."""
        lock = f"{_key(cookie)}:renewing"
        token = secrets.token_hex(8)
        deadline = time.monotonic() + RENEWAL_S
        while not await self.redis.set(lock, token, nx=True, px=int(RENEWAL_S * 1000)):
            if time.monotonic() > deadline:
                yield False
                return
            await asyncio.sleep(0.05)
        try:
            yield True
        finally:
            if await self.redis.get(lock) == token.encode():
                await self.redis.delete(lock)
