"""Hostile input gets clear 4xx answers in the error shape, and odd text is stored verbatim."""

from __future__ import annotations

from tests.auth_helpers import bearer
from tests.campaign_helpers import customer


async def test_oversized_bodies_are_refused_with_413(client, admin_token):
    big = b'{"email": "a@example.com", "password": "' + b"x" * 1_100_000 + b'"}'
    declared = await client.post(
        "/api/v1/auth/login", content=big, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.json()["error"] == "Payload Too Large"
    assert declared.json()["requestId"] == declared.headers["x-request-id"]

    async def chunks():
        for _ in range(12):
            yield b"x" * 100_000

    streamed = await client.post(
        "/api/v1/customers",
        content=chunks(),
        headers={**bearer(admin_token), "content-type": "application/json"},
    )
    assert streamed.status_code == 413


async def test_deeply_nested_json_is_a_client_error(client):
    deep = "[" * 50_000 + "]" * 50_000
    response = await client.post(
        "/api/v1/auth/login", content=deep, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"error", "details", "requestId"}


async def test_unicode_and_sql_looking_text_are_stored_verbatim(client, admin_token):
    name = "Ōsaka Trading 株式会社 🚚 '); DROP TABLE customers; --"
    made = await customer(client, admin_token, companyName=name, contactName="Zoë O'Brien")
    fetched = await client.get(f"/api/v1/customers/{made['id']}", headers=bearer(admin_token))
    assert fetched.json()["companyName"] == name and fetched.json()["contactName"] == "Zoë O'Brien"
    found = await client.get(
        "/api/v1/customers", params={"q": "株式会社 🚚 '); drop"}, headers=bearer(admin_token)
    )
    assert made["id"] in [c["id"] for c in found.json()["items"]]
    wildcard = await client.get(
        "/api/v1/customers", params={"q": "%_%"}, headers=bearer(admin_token)
    )
    assert wildcard.status_code == 200 and made["id"] not in [
        c["id"] for c in wildcard.json()["items"]
    ]


async def test_nul_characters_are_a_client_error(client, admin_token):
    """Postgres text cannot hold U+0000: in a body, a query or a path it is a 400, not a 500."""
    nul = "Nul\x00 Trading"
    in_body = await client.post(
        "/api/v1/customers",
        json={"companyName": nul, "contactName": "Ada", "timezone": "UTC"},
        headers=bearer(admin_token),
    )
    in_query = await client.get("/api/v1/customers", params={"q": nul}, headers=bearer(admin_token))
    in_path = await client.delete(
        "/api/v1/consents/nul%00@example.com", headers=bearer(admin_token)
    )
    for response in (in_body, in_query, in_path):
        assert response.status_code == 400, response.text
        assert response.json()["details"] == "Text must not contain the NUL character (\\u0000)"
