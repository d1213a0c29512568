"""Console sessions in Redis: the signed-in person's tokens stay on the server; the browser
holds only a random session ID (in an HttpOnly, SameSite=Strict cookie)."""

from __future__ import annotations

import hashlib
import json
import secrets
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

    async def find(self, cookie: str) -> Session | None:
        """The session, its idle time starting again; None when it ended or never was."""
        found = await self.redis.getex(_key(cookie), ex=self.idle_s)
        return Session(**json.loads(found)) if found else None

    async def save(self, cookie: str, session: Session) -> None:
        await self.redis.set(_key(cookie), json.dumps(asdict(session)), ex=self.idle_s)

    async def close(self, cookie: str) -> None:
        await self.redis.delete(_key(cookie))
