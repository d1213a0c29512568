"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile: t=3, 64 MiB, p=4).

Each hash costs about 0.1 s of CPU, so it runs in a worker thread: the event loop keeps
serving other requests meanwhile.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    return await asyncio.to_thread(_verify, password_hash, password)


# Verified against when the email is unknown, so both failures cost the same time.
DUMMY_HASH = _hasher.hash("not-a-real-password")
