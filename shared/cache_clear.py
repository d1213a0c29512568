"""Clearing Redis keys by pattern without blocking Redis: SCAN in batches, then UNLINK.

`KEYS` walks the whole keyspace in one command and `DEL` frees large values inline; both stall
every other client meanwhile. `SCAN` walks it a batch at a time and `UNLINK` frees memory in
the background, so the services keep being served while keys go.

Some keys are protected and kept unless the caller asks for them explicitly: deleting them
would lift a security control or lose platform state, not refresh a cache.

- `ratelimit:`: the rate-limit counters (API, login, password reset, send rates); deleting
  them resets every limit;
- `auth:revoked_before:`: the access-token revocation markers; deleting them lets revoked
  tokens in again until they expire;
- `auth:unknown_failures:`, `auth:unknown_locked:`: the lock-outs of unknown login emails;
  deleting them lifts the lock-outs;
- `console:`: the operator console's sessions; deleting them signs everyone out of it;
- `remit:`: the platform's own state (the clock offset of `CLOCK_CONTROL` stacks); deleting
  it would send a newly started process back to the wall clock.

Every other key (today: `cache:*`, the cached customer reads) may go at any time: the
services rebuild them from Postgres.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from shared.cache import drop_everywhere

PROTECTED_PREFIXES: tuple[str, ...] = ("ratelimit:", "auth:", "console:", "remit:")
MAX_PATTERN_LENGTH = 200


def is_protected(key: str) -> bool:
    return key.startswith(PROTECTED_PREFIXES)


@dataclass(frozen=True)
class Cleared:
    pattern: str
    matched: int
    deleted: int
    kept_protected: int

    def as_json(self) -> dict[str, object]:
        return {
            "pattern": self.pattern,
            "matched": self.matched,
            "deleted": self.deleted,
            "keptProtected": self.kept_protected,
        }

    def describe(self) -> str:
        kept = (
            f"; kept {self.kept_protected} protected (rate limits, revocations, lock-outs, "
            "platform state; "
            "--include-protected deletes them too)"
            if self.kept_protected
            else ""
        )
        return f"{self.pattern}: {self.matched} matched, {self.deleted} deleted{kept}"


async def clear(
    redis: Redis, pattern: str = "*", *, include_protected: bool = False, batch: int = 500
) -> Cleared:
    """Delete the keys matching `pattern` (Redis glob syntax), `batch` at a time."""
    matched = deleted = kept = 0
    doomed: list[bytes] = []
    async for raw in redis.scan_iter(match=pattern, count=batch):
        matched += 1
        key = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
        if is_protected(key) and not include_protected:
            kept += 1
            continue
        doomed.append(raw)
        if len(doomed) >= batch:
            deleted += await redis.unlink(*doomed)
            doomed.clear()
    if doomed:
        deleted += await redis.unlink(*doomed)
    await drop_everywhere(redis)  # the services' in-process copies go too
    return Cleared(pattern, matched, deleted, kept)
