"""Access-token verification and permissions, used by every service through one dependency.

The auth service signs access tokens with an Ed25519 key; every other service verifies them
locally against the auth service's JWKS, cached and refetched when an unknown key id shows
up (key rotation), so no service trusts the network.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request

from shared.errors import ApiError
from shared.settings import Settings

ISSUER = "remit-auth"
AUDIENCE = "remit-api"
ALGORITHM = "EdDSA"

# Each role has every permission of the one before it, plus its own.
_VIEWER = frozenset(
    {
        "customers:read",
        "payments:read",
        "campaigns:read",
        "tasks:read",
        "agents:read",
        "messages:read",
    }
)
_AGENT = _VIEWER | {"tasks:work"}
_MANAGER = _AGENT | {
    "users:read",
    "customers:write",
    "payments:write",
    "campaigns:write",
    "agents:write",
    "suppressions:write",
}
_ADMIN = _MANAGER | {"users:write", "tasks:admin", "diagnostics:read"}
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": _ADMIN,
    "manager": _MANAGER,
    "agent": _AGENT,
    "viewer": _VIEWER,
}
ROLES = tuple(ROLE_PERMISSIONS)


@dataclass(frozen=True)
class Principal:
    """The caller, as proven by their access token."""

    user_id: uuid.UUID
    role: str
    token_id: str

    @property
    def permissions(self) -> frozenset[str]:
        return ROLE_PERMISSIONS.get(self.role, frozenset())


def _unauthorized(details: str, error: str = "Unauthorized") -> ApiError:
    return ApiError(401, error, details)


class KeySet:
    """The auth service's public keys, fetched over HTTP and cached."""

    def __init__(self, settings: Settings, refresh_after_s: float = 300.0) -> None:
        self.url = f"{settings.auth_url}/api/v1/auth/.well-known/jwks.json"
        self.refresh_after_s = refresh_after_s
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
                # An unknown kid (rotation) refetches, but at most every few seconds, so a
                # flood of forged kids cannot become a flood of JWKS requests.
                if self._age() > (self.refresh_after_s if kid in self._keys else 5.0):
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


async def verify_access_token(token: str, keys: KeySet) -> Principal:
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
    try:
        return Principal(uuid.UUID(claims["sub"]), str(claims.get("role")), str(claims["jti"]))
    except ValueError:
        raise _unauthorized("Invalid token: malformed subject", "Invalid token") from None


async def current_principal(request: Request) -> Principal:
    keys: KeySet = request.app.state.key_set
    return await verify_access_token(bearer_token(request), keys)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(permission: str) -> Any:
    """`Annotated[Principal, require("x:y")]`: the caller, or 403 when their role lacks it."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if permission not in principal.permissions:
            raise ApiError(
                403,
                "Forbidden",
                f"Your role '{principal.role}' lacks the '{permission}' permission",
            )
        return principal

    return Depends(check)
