"""What the end-to-end tests do to and read from their platform: its clock, the fake Twilio's
requests and the SMTP sink's mail."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from shared.clock import CLOCK_POLL_S
from tests.auth_helpers import bearer, mails_to
from tests.campaign_helpers import customer, daytime_zone
from tests.fakes import ScriptedServer
from tests.helpers import eventually
from tests.notifier_helpers import messages_of


async def platform_now(client, token) -> datetime:
    response = await client.get("/api/v1/clock", headers=bearer(token))
    assert response.status_code == 200, response.text
    return datetime.fromisoformat(response.json()["now"])


async def advance_clock(client, token, by: timedelta) -> datetime:
    """Move the platform's clock forward and give every service time to follow it."""
    response = await client.post(
        "/api/v1/clock/advance",
        json={"by": f"PT{by.total_seconds():.0f}S"},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    await asyncio.sleep(5 * CLOCK_POLL_S)
    return datetime.fromisoformat(response.json()["now"])


def twilio_forms(twilio: ScriptedServer, resource: str) -> list[dict[str, str]]:
    """The forms the SDK posted to `<resource>.json` (Messages, Calls)."""
    return [
        dict(parse_qsl(seen.body.decode()))
        for seen in list(twilio.seen)
        if seen.method == "POST" and seen.path.endswith(f"/{resource}.json")
    ]


async def twilio_requests(twilio: ScriptedServer, resource: str, to: str) -> list[dict[str, str]]:
    return [form for form in twilio_forms(twilio, resource) if form.get("To") == to]


async def mail_to(state_dir: Path, address: str) -> list[Any]:
    return mails_to(state_dir / "mail", address)


async def daytime_customer(client, token, **fields: Any) -> dict[str, Any]:
    """A customer for whom it is early afternoon by the platform's clock."""
    return await customer(
        client, token, timezone=daytime_zone(await platform_now(client, token)), **fields
    )


async def campaign_state(client, token, campaign_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/campaigns/{campaign_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def sent_messages(client, token, campaign_id: str, count: int) -> list[dict[str, Any]]:
    return await eventually(
        lambda: messages_of(client, token, campaign_id),
        lambda found: sum(m["status"] == "sent" for m in found) >= count,
        timeout=45,
    )
