"""Access tokens: short-lived EdDSA JWTs (RFC 8725: fixed alg, iss, aud, exp, jti)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt

from services.auth.keys import SigningKey
from shared.security import ALGORITHM, AUDIENCE, ISSUER


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
