"""The shared access dependency: tokens verified against auth's JWKS, permissions by role."""

from __future__ import annotations

import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.security import AUDIENCE, ISSUER


async def _login(client, email, password):
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tokenType"] == "Bearer" and body["expiresIn"] == 900
    return body["accessToken"]


async def test_a_role_without_the_permission_gets_403_naming_it(client, admin_token):
    email, password = f"viewer-{uuid.uuid4().hex[:8]}@example.com", "viewer-password-1"
    created = await client.post(
        "/api/v1/users",
        json={"email": email, "password": password, "role": "viewer"},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert created.status_code == 201
    token = await _login(client, email, password)
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["email"] == email and me.json()["role"] == "viewer"
    refused = await client.post(
        "/api/v1/users",
        json={"email": "x@example.com", "password": "long-enough-pass", "role": "admin"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 403
    assert refused.json()["details"] == "Your role 'viewer' lacks the 'users:write' permission"


async def test_duplicate_email_is_a_conflict(client, admin_token):
    body = {"email": "ADMIN@example.com", "password": "long-enough-pass", "role": "viewer"}
    response = await client.post(
        "/api/v1/users", json=body, headers={"Authorization": f"Bearer {admin_token}"}
    )
    assert response.status_code == 409 and response.json()["error"] == "Conflict"


async def test_token_signed_by_another_key_is_refused(client, admin_token):
    kid = jwt.get_unverified_header(admin_token)["kid"]
    forged = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": str(uuid.uuid4()), "role": "admin",
         "iat": 1, "exp": 4_000_000_000, "jti": "x"},
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": kid},
    )  # fmt: skip
    response = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and response.json()["error"] == "Invalid token"


async def test_malformed_authorization_header_is_named(client, admin_token):
    response = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer  {admin_token}"}
    )
    assert response.status_code == 401
    assert "no extra spaces" in response.json()["details"]
