"""`Idempotency-Key` on a POST that moves money: the same request twice (even at once) acts
once and answers alike; the key reused for another request, or by a request without a valid
token, is handled as the rules say."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from tests.auth_helpers import bearer, new_user, tokens
from tests.campaign_helpers import customer, payment


def _with_key(token: str, key: str) -> dict[str, str]:
    return {**bearer(token), "Idempotency-Key": key}


async def _receipts_of_a_new_record(
    client, admin_token
) -> tuple[str, str, Callable[[], Awaitable[dict[str, Any]]]]:
    """A new 80.00 payment record: its receipts path, a fresh key, and a reader of the record."""
    owner = await customer(client, admin_token)
    record = await payment(client, admin_token, owner["id"], amount="80.00")

    async def current() -> dict[str, Any]:
        answer = await client.get(f"/api/v1/payments/{record['id']}", headers=bearer(admin_token))
        return dict(answer.json())

    return f"/api/v1/payments/{record['id']}/receipts", f"receipt-{uuid.uuid4()}", current


async def test_a_retried_receipt_is_recorded_once_and_answered_alike(client, admin_token):
    path, key, paid = await _receipts_of_a_new_record(client, admin_token)

    first = await client.post(path, json={"amount": "40.00"}, headers=_with_key(admin_token, key))
    again = await client.post(path, json={"amount": "40.00"}, headers=_with_key(admin_token, key))

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    now = await paid()
    assert now["amountPaid"] == "40.00"

    other = await client.post(path, json={"amount": "1.00"}, headers=_with_key(admin_token, key))
    assert other.status_code == 409 and "used with another request" in other.json()["details"]


async def test_receipts_with_one_key_at_once_count_once(client, admin_token):
    path, key, paid = await _receipts_of_a_new_record(client, admin_token)
    answers = await asyncio.gather(
        *(
            client.post(path, json={"amount": "40.00"}, headers=_with_key(admin_token, key))
            for _ in range(3)
        )
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}, statuses
    for answer in answers:
        if answer.status_code == 409:
            assert "still being handled" in answer.json()["details"]
    now = await paid()
    assert now["amountPaid"] == "40.00"


async def test_keys_belong_to_their_caller_and_are_checked(client, admin_token):
    path, key, paid = await _receipts_of_a_new_record(client, admin_token)
    mine = await client.post(path, json={"amount": "10.00"}, headers=_with_key(admin_token, key))
    assert mine.status_code == 201
    manager = await new_user(client, admin_token, role="manager")
    theirs = await client.post(
        path,
        json={"amount": "10.00"},
        headers=_with_key((await tokens(client, manager["email"]))["accessToken"], key),
    )
    assert theirs.status_code == 201 and "idempotent-replayed" not in theirs.headers
    now = await paid()
    assert now["amountPaid"] == "20.00"

    anonymous = await client.post(path, json={"amount": "10.00"}, headers={"Idempotency-Key": key})
    assert anonymous.status_code == 401  # not replayed to someone without a token
    bad = await client.post(path, json={"amount": "1.00"}, headers=_with_key(admin_token, "a b"))
    assert bad.status_code == 400 and '"Idempotency-Key"' in bad.json()["details"]


async def test_the_api_docs_offer_the_key_on_every_post(client):
    spec = (await client.get("/api/v1/campaigns/openapi.json")).json()
    posts = [ops["post"] for ops in spec["paths"].values() if "post" in ops]
    assert posts
    for operation in posts:
        names = [parameter["name"] for parameter in operation.get("parameters", [])]
        assert "Idempotency-Key" in names, operation["operationId"]
