"""The Ed25519 signing keys, kept in `auth.signing_keys` so every replica signs alike, and the
access tokens signed with them: short-lived EdDSA JWTs (RFC 8725: fixed alg, iss, aud, exp, jti)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.db import Connection
from shared.security import ALGORITHM, AUDIENCE, ISSUER


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey


def _public_jwk(kid: str, key: Ed25519PrivateKey) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"}


async def active_signing_key(connection: Connection) -> SigningKey:
    """The newest unretired key, created on first use (once, even with racing replicas)."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext('auth.signing_keys'))")
        row = await connection.fetchrow(
            "SELECT kid, private_pem FROM signing_keys WHERE retired_at IS NULL "
            "ORDER BY created_at DESC LIMIT 1"
        )
        if row is None:
            key = Ed25519PrivateKey.generate()
            kid = uuid.uuid4().hex
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
            await connection.execute(
                "INSERT INTO signing_keys (kid, private_pem, public_jwk) VALUES ($1, $2, $3)",
                kid,
                pem,
                _public_jwk(kid, key),
            )
            return SigningKey(kid, key)
    loaded = serialization.load_pem_private_key(row["private_pem"].encode(), password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    return SigningKey(row["kid"], loaded)


async def public_jwks(connection: Connection, access_token_ttl: int) -> dict[str, Any]:
    """Every key that may still have signed a live token: the active one, and those retired
    less than a token lifetime (plus a margin for clock skew) ago."""
    rows = await connection.fetch(
        "SELECT public_jwk FROM signing_keys WHERE retired_at IS NULL "
        "OR retired_at > now() - make_interval(secs => $1) ORDER BY created_at",
        access_token_ttl + 300,
    )
    return {"keys": [row["public_jwk"] for row in rows]}


async def rotate_signing_key(connection: Connection) -> SigningKey:
    """Retire the current key and sign with a new one from now on; the retired key stays in
    the JWKS while tokens it signed can still be alive (see `public_jwks`)."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext('auth.signing_keys'))")
        await connection.execute(
            "UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL"
        )
        return await active_signing_key(connection)


def issue_access_token(key: SigningKey, user_id: uuid.UUID, role: str, ttl: timedelta) -> str:
    now = datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "role": role,
        "iat": now.timestamp(),  # sub-second, so a revocation at time T is exact
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
