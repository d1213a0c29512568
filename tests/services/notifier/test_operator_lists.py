"""What operators read of the notifier: messages counted over a period, suppressions removed
with who and why, and the consents to AI-voice calls."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.auth_helpers import bearer, new_user, tokens
from tests.campaign_helpers import campaign
from tests.helpers import eventually
from tests.notifier_helpers import messages_of


async def _summary(client, token, **params: str) -> dict[str, Any]:
    answer = await client.get("/api/v1/messages/summary", params=params, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_messages_are_counted_per_channel_and_status_over_a_period(client, admin_token):
    since = datetime.now(UTC) - timedelta(seconds=1)
    before = await _summary(client, admin_token, since=since.isoformat())
    made = await campaign(client, admin_token, start=True)
    await eventually(
        lambda: messages_of(client, admin_token, made["id"]),
        lambda m: len(m) == 1 and m[0]["status"] == "sent",
        timeout=45,
    )
    after = await _summary(client, admin_token, since=since.isoformat())
    assert [c["channel"] for c in after["channels"]] == ["email", "sms", "voice"]
    email_before, email_after = before["channels"][0], after["channels"][0]
    assert email_after["byStatus"]["sent"] - email_before["byStatus"]["sent"] >= 1
    assert email_after["total"] == sum(email_after["byStatus"].values())
    assert set(email_after["byStatus"]) >= {"queued", "sent", "delivered", "failed", "suppressed"}
    # A period that ended before the message was made does not count it.
    earlier = await _summary(
        client,
        admin_token,
        since=(since - timedelta(days=1)).isoformat(),
        until=(since - timedelta(hours=23)).isoformat(),
    )
    assert all(c["total"] == 0 for c in earlier["channels"])
    default = await _summary(client, admin_token)
    span = datetime.fromisoformat(default["until"]) - datetime.fromisoformat(default["since"])
    assert span == timedelta(days=1)


async def test_a_summary_period_backwards_or_without_a_zone_is_refused(client, admin_token):
    now = datetime.now(UTC)
    backwards = await client.get(
        "/api/v1/messages/summary",
        params={"since": now.isoformat(), "until": now.isoformat()},
        headers=bearer(admin_token),
    )
    assert backwards.status_code == 400
    assert backwards.json()["details"] == '"since" must be before "until"'
    naive = await client.get(
        "/api/v1/messages/summary",
        params={"since": "2026-12-01T00:00"},
        headers=bearer(admin_token),
    )
    assert naive.status_code == 400 and naive.json()["error"] == "Validation error"


async def test_a_suppression_is_removed_only_with_a_reason_and_the_removal_is_kept(
    client, admin_token
):
    recipient = f"+1415555{uuid.uuid4().int % 10**4:04d}"
    added = await client.post(
        "/api/v1/suppressions",
        json={"channel": "sms", "recipient": recipient, "reason": "opt_out", "note": "STOP"},
        headers=bearer(admin_token),
    )
    assert added.status_code == 201, added.text
    entry = added.json()
    path = f"/api/v1/suppressions/{entry['id']}"
    for refused in ({}, {"reason": "  x  "}):
        answer = await client.delete(path, params=refused, headers=bearer(admin_token))
        assert answer.status_code == 400, answer.text
        assert "reason" in str(answer.json()["details"])
    still = await client.get(
        "/api/v1/suppressions/check", params={"recipient": recipient}, headers=bearer(admin_token)
    )
    assert still.json()["suppressed"] is True

    why = "Customer asked to be texted again (call of 3 Dec)"
    removed = await client.delete(path, params={"reason": why}, headers=bearer(admin_token))
    assert removed.status_code == 204
    again = await client.delete(path, params={"reason": why}, headers=bearer(admin_token))
    assert again.status_code == 404

    me = await client.get("/api/v1/auth/me", headers=bearer(admin_token))
    removals = await client.get("/api/v1/suppressions/removals", headers=bearer(admin_token))
    assert removals.status_code == 200
    newest = removals.json()["items"][0]
    assert newest["recipient"] == recipient and newest["channel"] == "sms"
    assert newest["reason"] == "opt_out" and newest["note"] == "STOP"
    assert newest["removedReason"] == why and newest["removedBy"] == me.json()["id"]
    assert newest["suppressedAt"] == entry["createdAt"]


async def test_a_viewer_reads_removals_and_consents_but_removes_nothing(client, admin_token):
    viewer = await new_user(client, admin_token, role="viewer")
    token = (await tokens(client, viewer["email"]))["accessToken"]
    for path in ("/api/v1/suppressions/removals", "/api/v1/consents"):
        assert (await client.get(path, headers=bearer(token))).status_code == 200
    refused = await client.delete(
        f"/api/v1/suppressions/{uuid.uuid4()}", params={"reason": "because"}, headers=bearer(token)
    )
    assert refused.status_code == 403


async def test_consents_are_listed_newest_first_and_found_by_number(client, admin_token):
    numbers = [f"+1415556{uuid.uuid4().int % 10**4:04d}" for _ in range(2)]
    for number, source in zip(numbers, ("web form", "call recording"), strict=True):
        answer = await client.post(
            "/api/v1/consents",
            json={"recipient": number, "source": source},
            headers=bearer(admin_token),
        )
        assert answer.status_code == 201, answer.text
    listed = await client.get("/api/v1/consents", headers=bearer(admin_token))
    recipients = [c["recipient"] for c in listed.json()["items"]]
    assert recipients.index(numbers[1]) < recipients.index(numbers[0])
    # Found however the number is written.
    spaced = f"{numbers[0][:2]} {numbers[0][2:5]} {numbers[0][5:]}"
    one = await client.get(
        "/api/v1/consents", params={"recipient": spaced}, headers=bearer(admin_token)
    )
    assert one.json()["total"] == 1 and one.json()["items"][0]["source"] == "web form"
    bad = await client.get(
        "/api/v1/consents", params={"recipient": "not-a-number"}, headers=bearer(admin_token)
    )
    assert bad.status_code == 400


async def test_the_suppression_list_is_searched_by_part_of_the_recipient(client, admin_token):
    marker = uuid.uuid4().hex[:8]
    for address in (f"a-{marker}@example.com", f"b-{marker}@example.com", "c@example.com"):
        answer = await client.post(
            "/api/v1/suppressions",
            json={"channel": "email", "recipient": address},
            headers=bearer(admin_token),
        )
        assert answer.status_code == 201, answer.text
    found = await client.get(
        "/api/v1/suppressions", params={"q": marker.upper()}, headers=bearer(admin_token)
    )
    assert sorted(s["recipient"] for s in found.json()["items"]) == [
        f"a-{marker}@example.com",
        f"b-{marker}@example.com",
    ]
    assert found.json()["total"] == 2
