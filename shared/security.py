"""Access-token verification and permissions, used by every service through one dependency.

The auth service signs access tokens with an Ed25519 key; every other service verifies them
locally against the auth service's JWKS, cached and refetched when an unknown key id shows
up (key rotation), so no service trusts the network.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.errors import ApiError
from shared.permissions import ROLE_PERMISSIONS
from shared.ratelimit import client_ip, enforce
from shared.settings import ServiceSettings

if TYPE_CHECKING:
    from shared.resources import Resources

logger = logging.getLogger(__name__)

ISSUER = "remit-auth"
AUDIENCE = "remit-api"
ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class Principal:
    """The caller, as proven by their access token."""

    user_id: uuid.UUID
    role: str
    token_id: str
    issued_at: float

    @property
    def permissions(self) -> frozenset[str]:
        return ROLE_PERMISSIONS.get(self.role, frozenset())


def _unauthorized(details: str, error: str = "Unauthorized") -> ApiError:
    return ApiError(401, error, details)


class KeySet:
    """The auth service's public keys, fetched over HTTP and cached."""

    def __init__(self, settings: ServiceSettings, refresh_after_s: float = 300.0) -> None:
        self.url = f"{settings.auth_url}/api/v1/auth/.well-known/jwks.json"
        self.refresh_after_s = refresh_after_s
        self.min_refetch_s = 1.0
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    def load(self, jwks: dict[str, Any]) -> None:
        self._keys = {
            key.key_id: key for key in jwt.PyJWKSet.from_dict(jwks).keys if key.key_id is not None
        }
        self._fetched_at = time.monotonic()

    async def key_for(self, kid: str) -> Any:
        if kid not in self._keys or self._age() > self.refresh_after_s:
            async with self._lock:
                if kid not in self._keys and self._age() >= self.min_refetch_s:
                    # An unknown kid (after a rotation) refetches, but at most once a second,
                    # so forged kids cannot turn into a flood of JWKS requests or waits.
                    await self._fetch()
                elif self._age() > self.refresh_after_s:
                    await self._fetch()
        if kid not in self._keys:
            raise _unauthorized("Invalid token: signed with an unknown key", "Invalid token")
        return self._keys[kid]

    def _age(self) -> float:
        return time.monotonic() - self._fetched_at

    async def _fetch(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.get(self.url)
                response.raise_for_status()
        except httpx.HTTPError as error:
            if self._keys:
                self._fetched_at = time.monotonic()  # a failed attempt also waits its turn
                return
            raise ApiError(
                503, "Service unavailable", "Cannot reach the auth service's keys"
            ) from error
        self.load(response.json())


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if header is None:
        raise _unauthorized("Missing Authorization: Bearer <token> header")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or token != token.strip() or " " in token:
        raise _unauthorized(
            "Malformed Authorization header: expected exactly 'Bearer <token>' with no extra spaces"
        )
    return token


# Clocks of the issuing and the checking process may differ this much.
CLOCK_SKEW_S = 60


async def verify_access_token(token: str, keys: KeySet, ttl_s: int) -> Principal:
    """The token's principal if it is one of ours: our key, algorithm, issuer and only our
    audience, and a lifetime no longer than ACCESS_TOKEN_TTL (`ttl_s`) allows."""
    principal, _ = await _verify(token, keys, ttl_s)
    return principal


async def _verify(token: str, keys: KeySet, ttl_s: int) -> tuple[Principal, float]:
    """`verify_access_token`, and when the token expires (epoch seconds)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise _unauthorized(f"Invalid token: {error}", "Invalid token") from None
    if header.get("alg") != ALGORITHM or not header.get("kid"):
        raise _unauthorized("Invalid token: unsupported algorithm", "Invalid token")
    key = await keys.key_for(str(header["kid"]))
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized(
            "Access token has expired; use your refresh token or log in again", "Token expired"
        ) from None
    except jwt.PyJWTError as error:
        raise _unauthorized(f"Invalid token: {error}", "Invalid token") from None
    if claims["aud"] not in (AUDIENCE, [AUDIENCE]):
        raise _unauthorized("Invalid token: it is meant for other audiences too", "Invalid token")
    try:
        lifetime = float(claims["exp"]) - float(claims["iat"])
    except (TypeError, ValueError):
        raise _unauthorized("Invalid token: malformed times", "Invalid token") from None
    if lifetime > ttl_s + CLOCK_SKEW_S:
        raise _unauthorized(
            "Invalid token: it lives longer than access tokens may", "Invalid token"
        )
    try:
        principal = Principal(
            uuid.UUID(claims["sub"]),
            str(claims.get("role")),
            str(claims["jti"]),
            float(claims["iat"]),
        )
    except (ValueError, TypeError):
        raise _unauthorized("Invalid token: malformed subject", "Invalid token") from None
    return principal, float(claims["exp"])


class VerifiedTokens:
    """Access tokens already verified by this process, by the SHA-256 of the token, each with
    its principal, until the token expires: a client sends the same token with every request
    for its lifetime, and checking an EdDSA signature is most of a request's own CPU.

    Only verification is skipped: revocation is still asked of Redis on every request, so a
    revoked or demoted user is refused as soon as without the cache. At most `size` tokens
    are kept (the oldest go first)."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._known: dict[bytes, tuple[Principal, float]] = {}

    async def verify(self, token: str, keys: KeySet, ttl_s: int) -> Principal:
        digest = hashlib.sha256(token.encode()).digest()
        known = self._known.get(digest)
        if known is not None and time.time() < known[1]:
            return known[0]
        principal, expires_at = await _verify(token, keys, ttl_s)
        if len(self._known) >= self.size:
            del self._known[next(iter(self._known))]
        self._known[digest] = (principal, expires_at)
        return principal


def _revocation_key(user_id: uuid.UUID) -> str:
    return f"auth:revoked_before:{user_id}"


async def revoke_access_tokens(redis: Redis, user_id: uuid.UUID, access_token_ttl: int) -> bool:
    """Refuse, in every service, the user's access tokens issued before now.

    False when Redis is unreachable: the tokens then live out their (short) lifetime, while
    the sessions behind them, revoked in Postgres, can no longer be refreshed.
    """
    try:
        await redis.set(_revocation_key(user_id), repr(time.time()), ex=access_token_ttl + 60)
    except RedisError as error:
        logger.error("could not revoke access tokens", extra={"error": repr(error)})
        return False
    return True


async def restore_revocation(
    redis: Redis, user_id: uuid.UUID, revoked_at: float, access_token_ttl: int
) -> None:
    """Put back a marker Redis lost, for as long as the tokens it refuses may live."""
    remaining = int(revoked_at + access_token_ttl + 60 - time.time())
    if remaining > 0:
        await redis.set(_revocation_key(user_id), repr(revoked_at), ex=remaining)


def _revoked(principal: Principal, revoked_before: bytes | str | None) -> bool:
    """Whether the token was issued before the user's revocation marker (when there is one)."""
    return revoked_before is not None and principal.issued_at < float(revoked_before)


def _session_revoked() -> ApiError:
    return _unauthorized("Session has been revoked; log in again", "Invalid token")


async def _marker_says_revoked(redis: Redis, principal: Principal) -> bool:
    try:
        revoked_before = await redis.get(_revocation_key(principal.user_id))
    except RedisError as error:
        # Fails open like the rate limits: a Redis outage must not take the API down.
        logger.warning("revocation check unavailable; allowing", extra={"error": repr(error)})
        return False
    return _revoked(principal, revoked_before)


# Puts the bearer scheme in the OpenAPI documents (and Swagger UI's Authorize button); the
# header itself is read, strictly, by `bearer_token`.
_BEARER = HTTPBearer(auto_error=False, description="An access token from POST /api/v1/auth/login")


# A route's bearer token, as FastAPI sees it: only for the OpenAPI documents.
_BearerDocumented = Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]


async def current_principal(request: Request) -> Principal:
    """The verified caller, not revoked; checked once per request even when several
    dependencies ask (the API limit, which runs first, reads the revocation marker in its own
    round trip to Redis)."""
    checked: Principal | ApiError | None = getattr(request.state, "principal", None)
    if isinstance(checked, ApiError):
        raise checked
    if checked is not None:
        return checked
    found: Resources = request.app.state.resources
    try:
        principal = await _verified(request, found)
        if await _marker_says_revoked(found.redis, principal):
            raise _session_revoked()
    except ApiError as refusal:
        request.state.principal = refusal
        raise
    request.state.principal = principal
    return principal


async def _verified(request: Request, found: Resources) -> Principal:
    return await found.verified.verify(
        bearer_token(request), found.keys, found.settings.access_token_ttl
    )


async def enforce_api_limit(request: Request) -> None:
    """The general API limit: per user when the token is good (and not revoked), else per
    client address. The same Redis round trip reads the user's revocation marker, which the
    route then honours."""
    found: Resources = request.app.state.resources
    limit = found.settings.api_rate_limit
    address = f"ip:{client_ip(request)}"
    checked: Principal | ApiError | None = getattr(request.state, "principal", None)
    if isinstance(checked, Principal):  # checked in full already (an Idempotency-Key's owner)
        enforce(request, [await found.limiter.hit(limit, "api", f"user:{checked.user_id}")])
        return
    principal = None
    if checked is None:
        try:
            principal = await _verified(request, found)
        except ApiError as refusal:
            request.state.principal = refusal
    if principal is None:  # a bad token, which the route refuses: counted by address
        enforce(request, [await found.limiter.hit(limit, "api", address)])
        return
    hit = await found.limiter.hit_unless_revoked(
        limit,
        "api",
        f"user:{principal.user_id}",
        _revocation_key(principal.user_id),
        principal.issued_at,
        instead=address,
    )
    if hit.verdict is not None:
        revoked = _revoked(principal, hit.marker)
    elif hit.reached:  # Redis answered but refused the script (out of memory, say)
        revoked = await _marker_says_revoked(found.redis, principal)
    else:
        logger.warning("revocation check unavailable; allowing")  # fails open, as the limit
        revoked = False
    request.state.principal = _session_revoked() if revoked else principal
    enforce(request, [hit.verdict])


async def _any_caller(request: Request, _: _BearerDocumented = None) -> Principal:
    return await current_principal(request)


CurrentPrincipal = Annotated[Principal, Depends(_any_caller)]


def require(permission: str) -> Any:
    """`Annotated[Principal, require("x:y")]`: the caller, or 403 when their role lacks it."""

    # The caller is read in the check itself, not as a dependency of it: each dependency costs
    # FastAPI a resolution pass on every request.
    async def check(request: Request, _: _BearerDocumented = None) -> Principal:
        principal = await current_principal(request)
        if permission not in principal.permissions:
            raise ApiError(
                403,
                "Forbidden",
                f"Your role '{principal.role}' lacks the '{permission}' permission",
            )
        return principal

    return Depends(check)
