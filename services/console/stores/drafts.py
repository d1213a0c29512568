"""Forms whose session ended before they were sent, kept in Redis until the person has signed
in again and chosen to send them (or not): nothing typed is lost to an expired session."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass

from redis.asyncio import Redis

# Long enough to find a password and sign in again; the draft goes after one showing anyway.
DRAFT_TTL_S = 3600


@dataclass
class Draft:
    """A form as posted: where it was going, its fields, and the secret fields left out."""

    action: str
    fields: dict[str, str]
    left_out: list[str]


def _key(cookie: str) -> str:
    return f"console:draft:{hashlib.sha256(cookie.encode()).hexdigest()}"


class Drafts:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def keep(self, draft: Draft) -> str:
        """Keep the draft; returns the cookie value that names it."""
        cookie = secrets.token_urlsafe(32)
        await self.redis.set(_key(cookie), json.dumps(asdict(draft)), ex=DRAFT_TTL_S)
        return cookie

    async def take(self, cookie: str) -> Draft | None:
        """The draft, removed from the store (it is shown once); None when it is gone."""
        found = await self.redis.getdel(_key(cookie))
        return Draft(**json.loads(found)) if found else None
