"""Auth: access-token verifications per second (our verifier against bare PyJWT on the same
key) and logins per second through the gateway (against bare argon2id verification, the
bound every login pays)."""

from __future__ import annotations

import asyncio
import time

import httpx
import jwt
from argon2 import PasswordHasher

from shared.security import ALGORITHM, AUDIENCE, ISSUER, KeySet, verify_access_token
from shared.settings import ServiceSettings
from tests.bench.live import Live
from tests.bench.report import Row

VERIFICATIONS = 5_000
LOGINS = 60
CONCURRENCY = 4


async def _verifications(settings: ServiceSettings, gateway: str, token: str) -> list[Row]:
    async with httpx.AsyncClient(base_url=gateway) as http:
        jwks = (await http.get("/api/v1/auth/.well-known/jwks.json")).json()
    keys = KeySet(settings)
    keys.load(jwks)
    started = time.perf_counter()
    for _ in range(VERIFICATIONS):
        await verify_access_token(token, keys, settings.access_token_ttl)
    ours = VERIFICATIONS / (time.perf_counter() - started)
    key = jwt.PyJWKSet.from_dict(jwks).keys[-1]
    started = time.perf_counter()
    for _ in range(VERIFICATIONS):
        jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER)
    bare = VERIFICATIONS / (time.perf_counter() - started)
    return [
        Row.of("token verification, bare PyJWT (baseline)", bare, "verif/s", None, "EdDSA"),
        Row.of("token verification, shared verifier", ours, "verif/s", bare, "EdDSA, cached JWKS"),
    ]


async def _logins(gateway: str, email: str, password: str) -> float:
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as http:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(LOGINS):
            queue.put_nowait(index)

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                response = await http.post(
                    "/api/v1/auth/login", json={"email": email, "password": password}
                )
                assert response.status_code == 200, response.text

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return LOGINS / (time.perf_counter() - started)


def _argon2_verifications(password: str) -> tuple[float, str]:
    hasher = PasswordHasher()
    encoded = hasher.hash(password)
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        hasher.verify(encoded, password)
    params = (
        f"argon2id t={hasher.time_cost} m={hasher.memory_cost // 1024}MiB p={hasher.parallelism}"
    )
    return rounds / (time.perf_counter() - started), params


async def measure(live: Live) -> list[Row]:
    rows = await _verifications(live.settings, live.gateway, await live.token())
    bound, params = _argon2_verifications(live.password)
    logins = await _logins(live.gateway, live.email, live.password)
    return [
        *rows,
        Row.of("argon2id verify, one thread (baseline)", bound, "verif/s", None, params),
        Row.of(f"login via gateway, {CONCURRENCY} clients", logins, "logins/s", bound, params),
    ]
