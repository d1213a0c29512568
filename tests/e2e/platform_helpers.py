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
from tests.fakes import ScriptedServer


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


async def twilio_requests(twilio: ScriptedServer, resource: str, to: str) -> list[dict[str, str]]:
    """The forms the SDK posted to `<resource>.json` (Messages, Calls) for one recipient."""
    found = []
    for seen in list(twilio.seen):
        if seen.method == "POST" and seen.path.endswith(f"/{resource}.json"):
            form = dict(parse_qsl(seen.body.decode()))
            if form.get("To") == to:
                found.append(form)
    return found


async def mail_to(state_dir: Path, address: str) -> list[Any]:
    return mails_to(state_dir / "mail", address)
