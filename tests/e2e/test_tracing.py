"""One campaign start, followed by its request ID and its trace through every service: the
logs, every event it caused, the OpenTelemetry spans (exported over OTLP), and `remit trace`."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from shared.db import connect
from tests.auth_helpers import bearer
from tests.campaign_helpers import campaign
from tests.e2e.platform_helpers import daytime_customer, sent_messages
from tests.helpers import eventually, log_records, run_remit

SERVICES = ("campaigns", "agents", "notifier")


async def _caused_events(settings, campaign_id: str) -> list[dict[str, Any]]:
    """Every event any service published about the campaign."""
    connection = await connect(settings.database_url, "campaigns")
    try:
        rows = []
        for schema in SERVICES:
            rows += await connection.fetch(
                f"SELECT envelope FROM {schema}.outbox "
                "WHERE envelope->'payload'->>'campaignId' = $1 ORDER BY id",
                campaign_id,
            )
    finally:
        await connection.close()
    return [row["envelope"] for row in rows]


async def test_a_campaign_start_is_one_request_id_and_one_trace_across_services(
    client, admin_token, platform, settings, spans
):
    owner = await daytime_customer(client, admin_token)
    made = await campaign(
        client, admin_token, steps=[{"channel": "email", "delay": "P0D"}], customerId=owner["id"]
    )
    request_id = f"start-{uuid.uuid4()}"
    started = await client.post(
        f"/api/v1/campaigns/{made['id']}/start",
        headers={**bearer(admin_token), "X-Request-ID": request_id},
    )
    assert started.status_code == 200 and started.headers["x-request-id"] == request_id
    await sent_messages(client, admin_token, made["id"], 1)

    # Every event the start caused, in every service, carries its request ID and trace.
    events = await eventually(
        lambda: _caused_events(settings, made["id"]),
        lambda found: any(e["type"] == "campaign.completed" for e in found),
    )
    assert {e["type"] for e in events} >= {
        "campaign.started",
        "campaign.step_due",
        "task.created",
        "message.requested",
        "message.sent",
        "task.completed",
        "campaign.completed",
    }
    assert {e["request_id"] for e in events} == {request_id}, [
        (e["type"], e["request_id"]) for e in events
    ]
    trace_id = events[0]["traceparent"].split("-")[1]
    assert {e["traceparent"].split("-")[1] for e in events} == {trace_id}

    # The logs of every service it touched (replicas included) carry the request ID.
    def services_logging() -> set[str]:
        return {
            record["service"]
            for path in platform.log_dir.glob("*.log")
            for record in log_records(path)
            if record.get("request_id") == request_id
        }

    async def logged() -> set[str]:
        return services_logging()

    await eventually(logged, lambda found: found >= set(SERVICES))

    # The spans, exported over OTLP, join one trace across the three services.
    async def traced() -> set[str]:
        return {span.service for span in spans.in_trace(trace_id)}

    await eventually(traced, lambda found: found >= set(SERVICES))

    async def span_names() -> set[tuple[str, str]]:
        return {(span.service, span.name) for span in spans.in_trace(trace_id)}

    # Spans are exported in batches, each service on its own schedule.
    await eventually(
        span_names,
        lambda names: (
            {
                ("campaigns", "campaign.step_due publish"),
                ("agents", "campaign.step_due process"),
                ("notifier", "message.send"),
            }
            <= names
        ),
    )

    # And the operator's command prints it all in time order.
    result = await asyncio.to_thread(
        run_remit, "trace", request_id, "--logs", str(platform.log_dir), env=platform.env
    )
    assert result.returncode == 0, result.stderr
    timeline = result.stdout
    assert f"POST /api/v1/campaigns/{made['id']}/start → 200" in timeline
    for fragment in ("campaign.step_due", "email task", f"email to {owner['email']}: sent"):
        assert fragment in timeline, timeline
