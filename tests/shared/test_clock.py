"""The platform clock's API where CLOCK_CONTROL is off (the session's platform), and the
clock's rule that it never goes back. tests/e2e moves it on a platform where it is on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.clock import Clock
from tests.auth_helpers import bearer, new_user, tokens


async def test_reading_the_clock_and_refusals_to_move_it(client, admin_token):
    read = await client.get("/api/v1/clock", headers=bearer(admin_token))
    assert read.status_code == 200
    body = read.json()
    assert body["controllable"] is False and body["offsetSeconds"] == 0
    assert abs(datetime.fromisoformat(body["now"]) - datetime.now(UTC)) < timedelta(seconds=30)

    off = await client.post(
        "/api/v1/clock/advance", json={"by": "P1D"}, headers=bearer(admin_token)
    )
    assert off.status_code == 409
    assert off.json()["details"] == (
        "The clock can only be moved on a stack started with CLOCK_CONTROL=true"
    )
    for bad in ("-PT1H", "PT0S", "P400D", "tomorrow"):
        refused = await client.post(
            "/api/v1/clock/advance", json={"by": bad}, headers=bearer(admin_token)
        )
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["error"] == "Validation error"

    manager = await new_user(client, admin_token, role="manager")
    token = (await tokens(client, manager["email"]))["accessToken"]
    forbidden = await client.post(
        "/api/v1/clock/advance", json={"by": "P1D"}, headers=bearer(token)
    )
    assert forbidden.status_code == 403 and "clock:advance" in forbidden.json()["details"]


def test_the_clock_never_goes_back():
    clock = Clock()
    clock.set_offset(3600)
    clock.set_offset(0)  # e.g. the Redis key was lost
    assert clock.offset == timedelta(hours=1)
    assert clock.now() - datetime.now(UTC) > timedelta(minutes=59)
