"""Helpers for the auth tests: users, logins and tokens forged with the real key."""

from __future__ import annotations

import mailbox
import re
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from shared.security import AUDIENCE, ISSUER
from tests.helpers import schema_sql

PASSWORD = "a-long-enough-password"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def new_user(client, admin_token, role="agent", password=PASSWORD) -> dict[str, Any]:
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post(
        "/api/v1/users",
        json={"email": email, "password": password, "role": role},
        headers=bearer(admin_token),
    )
    assert response.status_code == 201, response.text
    return {**response.json(), "password": password}


async def login(client, email, password=PASSWORD):
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def tokens(client, email, password=PASSWORD) -> dict[str, Any]:
    response = await login(client, email, password)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def auth_sql(settings, query: str, *args: Any) -> list[Any]:
    return await schema_sql(settings, "auth", query, *args)


async def forge(settings, **overrides) -> str:
    """A token signed with the platform's real active key, with the claims given."""
    row = (
        await auth_sql(
            settings,
            "SELECT kid, private_pem FROM signing_keys WHERE retired_at IS NULL "
            "ORDER BY created_at DESC LIMIT 1",
        )
    )[0]
    key = serialization.load_pem_private_key(row["private_pem"].encode(), password=None)
    now = time.time()
    claims = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": str(uuid.uuid4()), "role": "admin",
        "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex,
    }  # fmt: skip
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": row["kid"]})  # type: ignore[arg-type]


def mails_to(maildir: Path, address: str) -> list[Any]:
    if not maildir.exists():
        return []
    return [message for message in mailbox.Maildir(maildir) if message["To"] == address]


def reset_token_from(message: Any) -> str:
    body = next(part for part in message.walk() if part.get_content_type() == "text/plain")
    found = re.search(
        r"/api/v1/auth/reset-password\?token=([A-Za-z0-9_\-]+)",
        body.get_payload(decode=True).decode(),
    )
    assert found, "no reset link in the email"
    return found.group(1)
