"""Two replicas each of agents and notifier share the work through Kafka consumer groups and
SKIP LOCKED claims, and every message still goes out exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from tests.campaign_helpers import campaign
from tests.e2e.platform_helpers import daytime_customer, twilio_forms
from tests.helpers import eventually, log_records
from tests.notifier_helpers import notifier_sql

CAMPAIGNS = 40


async def test_two_replicas_share_the_work_and_send_each_message_once(
    client, admin_token, platform, settings, twilio
):
    async def one() -> tuple[str, str]:
        owner = await daytime_customer(client, admin_token)
        made = await campaign(
            client,
            admin_token,
            steps=[{"channel": "sms", "delay": "P0D"}],
            customerId=owner["id"],
            start=True,
        )
        return made["id"], owner["phone"]

    started = await asyncio.gather(*(one() for _ in range(CAMPAIGNS)))
    ids = [campaign_id for campaign_id, _ in started]

    async def sent() -> list[Any]:
        return await notifier_sql(
            settings,
            "SELECT idempotency_key, recipient FROM messages "
            "WHERE campaign_id = ANY($1::uuid[]) AND status = 'sent'",
            ids,
        )

    rows = await eventually(sent, lambda found: len(found) >= CAMPAIGNS, timeout=90)
    assert len(rows) == CAMPAIGNS
    assert len({row["idempotency_key"] for row in rows}) == CAMPAIGNS
    # What reached Twilio: one SMS per customer, none twice.
    phones = {phone for _, phone in started}
    reached = Counter(
        form["To"] for form in twilio_forms(twilio, "Messages") if form.get("To") in phones
    )
    assert reached == Counter({phone: 1 for phone in phones})

    # Both replicas of each service handled some of these events.
    def handled(instance: str, event_type: str) -> int:
        return sum(
            1
            for record in log_records(platform.log_dir / f"{instance}.log")
            if record.get("message") == "event handled" and record.get("event_type") == event_type
        )

    for service, event_type in (("agents", "campaign.step_due"), ("notifier", "message.requested")):
        shares = [handled(instance, event_type) for instance in (service, f"{service}-2")]
        assert all(share > 0 for share in shares), (service, shares)
