"""Campaigns through the gateway: validation, start checks, lifecycle, events in and out."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.auth_helpers import bearer
from tests.campaign_helpers import (
    campaign,
    campaigns_sql,
    customer,
    deferred_sms_campaign,
    events_for,
    payment,
    runs_of,
    send_event,
)
from tests.helpers import eventually

STEPS = [{"channel": "email", "delay": "P0D"}, {"channel": "sms", "delay": "PT2S"}]


async def _post(client, token, path, body=None):
    return await client.post(path, json=body, headers=bearer(token))


async def test_steps_are_validated_on_create(client, admin_token):
    owner = await customer(client, admin_token)
    record = await payment(client, admin_token, owner["id"])
    base = {"name": "x", "customerId": owner["id"], "paymentId": record["id"]}
    cases = [
        (
            [{"channel": "fax", "delay": "P0D"}],
            '"steps[0].channel" must be one of [email, sms, voice, human]',
        ),
        (
            [{"channel": "email", "delay": "P3D"}, {"channel": "sms", "delay": "P1D"}],
            "Step 2 comes before step 1",
        ),
        ([{"channel": "email", "delay": "-P1D"}], "Step 1 has a negative delay"),
        ([], '"steps" '),
        ([{"channel": "email", "delay": "three days"}], '"steps[0].delay"'),
    ]
    for steps, message in cases:
        response = await _post(client, admin_token, "/api/v1/campaigns", {**base, "steps": steps})
        assert response.status_code == 400, (steps, response.text)
        assert message in response.json()["details"], response.json()["details"]
    naive = await _post(
        client,
        admin_token,
        "/api/v1/campaigns",
        {**base, "steps": STEPS, "startAt": "2030-01-01T09:00:00"},
    )
    assert naive.status_code == 400 and "time zone offset" in naive.json()["details"]
    unknown = await _post(
        client,
        admin_token,
        "/api/v1/campaigns",
        {**base, "customerId": str(uuid.uuid4()), "steps": STEPS},
    )
    assert unknown.status_code == 404


async def test_start_checks_each_have_a_clear_message(client, settings, admin_token):
    quiet = await customer(client, admin_token, phone=None)
    other = await customer(client, admin_token)
    cases = []
    paid_record = await payment(client, admin_token, quiet["id"], amount="5.00")
    await _post(
        client, admin_token, f"/api/v1/payments/{paid_record['id']}/receipts", {"amount": "5.00"}
    )
    cases.append(({"paymentId": paid_record["id"]}, "is already paid"))
    foreign = await payment(client, admin_token, other["id"])
    cases.append(({"paymentId": foreign["id"]}, "belongs to another customer"))
    own = await payment(client, admin_token, quiet["id"])
    cases.append(
        (
            {"paymentId": own["id"], "steps": STEPS},
            "Step 2 (sms) needs the customer's phone, which is missing",
        )
    )
    for fields, message in cases:
        made = await campaign(client, admin_token, customerId=quiet["id"], **fields)
        refused = await _post(client, admin_token, f"/api/v1/campaigns/{made['id']}/start")
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == "Campaign cannot start"
        assert message in refused.json()["details"]
        assert (await runs_of(settings, made["id"])) == []  # nothing half-started

    made = await campaign(client, admin_token, customerId=quiet["id"], paymentId=own["id"])
    await client.patch(
        f"/api/v1/customers/{quiet['id']}", json={"isActive": False}, headers=bearer(admin_token)
    )
    inactive = await _post(client, admin_token, f"/api/v1/campaigns/{made['id']}/start")
    assert inactive.status_code == 422 and "is inactive" in inactive.json()["details"]
    # The operators' diagnostic query, on our tables.
    rows = await campaigns_sql(
        settings,
        "SELECT c.*, cu.company_name, cu.is_active as customer_active FROM campaigns.campaigns c "
        "JOIN campaigns.customers cu ON c.customer_id = cu.id WHERE c.id = $1",
        uuid.UUID(made["id"]),
    )
    assert rows[0]["customer_active"] is False and rows[0]["status"] == "draft"


async def test_past_start_date_and_illegal_transitions(client, admin_token):
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    made = await campaign(client, admin_token, startAt=soon)
    import asyncio

    await asyncio.sleep(1.5)
    late = await _post(client, admin_token, f"/api/v1/campaigns/{made['id']}/start")
    assert late.status_code == 422 and "is not in the future" in late.json()["details"]
    draft = await campaign(client, admin_token)
    resumed = await _post(client, admin_token, f"/api/v1/campaigns/{draft['id']}/resume")
    assert (
        resumed.status_code == 409
        and resumed.json()["details"] == "Campaign is draft; it cannot resume"
    )


async def test_a_campaign_runs_its_steps_and_completes(client, settings, admin_token):
    made = await campaign(client, admin_token, steps=STEPS, start=True)
    assert made["status"] == "active"
    assert len(await events_for(settings, made["id"], "campaign.started")) == 1

    async def due_events():
        return await events_for(settings, made["id"], "campaign.step_due")

    due = await eventually(due_events, lambda found: len(found) == 2)
    first = due[0]["payload"]
    assert first["channel"] == "email" and first["position"] == 1 and first["attempt"] == 1
    assert first["customer"]["email"] and first["payment"]["outstanding"] == "1250.00"
    assert first["payment"]["currency"] == "EUR"
    for event in due:
        await send_event(
            settings,
            "task.completed",
            made["id"],
            {
                "campaignId": made["id"],
                "stepRunId": event["payload"]["stepRunId"],
                "outcome": "sent",
            },
        )

    async def status():
        return (
            await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
        ).json()["status"]

    await eventually(status, lambda s: s == "completed")
    completed = await events_for(settings, made["id"], "campaign.completed")
    assert [e["payload"]["reason"] for e in completed] == ["every step has run"]
    assert [r["status"] for r in await runs_of(settings, made["id"])] == ["completed", "completed"]


async def test_a_step_due_at_once_is_emitted_by_the_start_itself(client, settings, admin_token):
    """The first step of a campaign started now, one by one or in bulk, is emitted in the
    start's own transaction (its `campaign.step_due` beside `campaign.started`), not at the
    scheduler's next pass; a later step stays pending."""
    steps = [{"channel": "email", "delay": "P0D"}, {"channel": "sms", "delay": "P5D"}]
    one = await campaign(client, admin_token, steps=steps, start=True)
    drafts = [await campaign(client, admin_token, steps=steps) for _ in range(2)]
    response = await _post(
        client,
        admin_token,
        "/api/v1/campaigns/bulk-start",
        {"campaignIds": [d["id"] for d in drafts]},
    )
    assert response.status_code == 200, response.text
    for started in (one, *drafts):
        written = await campaigns_sql(
            settings,
            "SELECT envelope->>'type' AS type, tx FROM outbox "
            "WHERE envelope->'payload'->>'campaignId' = $1 "
            "AND envelope->>'type' IN ('campaign.started', 'campaign.step_due') ORDER BY id",
            started["id"],
        )
        assert [row["type"] for row in written] == ["campaign.started", "campaign.step_due"]
        assert written[0]["tx"] == written[1]["tx"]
        first, later = await runs_of(settings, started["id"])
        # The platform runs: the first step may already be done by now.
        assert first["status"] in ("emitted", "completed") and later["status"] == "pending"
        assert first["attempts"] == 1 and first["emitted_at"] is not None


async def test_a_step_emitted_by_the_start_says_what_the_schedulers_claim_would(
    client, settings, admin_token
):
    """A run due at once is written emitted by the start, its event built from what the start
    read; the next one, due two seconds later, is claimed by the scheduler, which reads the
    same facts from the tables. Both events say the same of the campaign."""
    steps = [
        {"channel": "email", "delay": "P0D", "tone": "firm"},
        {"channel": "email", "delay": "PT2S", "tone": "firm", "conditions": {"minOutstanding": "100.00"}},
    ]  # fmt: skip
    started = await campaign(client, admin_token, steps=steps, start=True)
    by_start, by_claim = [
        event["payload"]
        for event in await eventually(
            lambda: events_for(settings, started["id"], "campaign.step_due"),
            lambda found: len(found) == 2,
        )
    ]
    runs = await runs_of(settings, started["id"])
    for payload, run in zip((by_start, by_claim), runs, strict=True):
        assert payload["stepRunId"] == str(run["id"]) and run["attempts"] == 1
        assert datetime.fromisoformat(payload["dueAt"]) == run["due_at"]
        assert payload["position"] == run["position"]
    assert by_start["customer"]["id"] == started["customerId"]
    assert by_start["payment"]["id"] == started["paymentId"]
    assert by_start["tone"] == "firm" and by_start["attempt"] == 1

    def alike(payload: dict[str, Any]) -> dict[str, Any]:
        """The payload without what differs between two steps of one campaign."""
        return {
            k: v
            for k, v in payload.items()
            if k not in ("stepRunId", "stepId", "position", "dueAt")
        }

    assert alike(by_start) == alike(by_claim)


async def test_payment_mid_campaign_stops_it(client, settings, admin_token):
    steps = [{"channel": "email", "delay": "P0D"}, {"channel": "sms", "delay": "P1D"}]
    made = await campaign(client, admin_token, steps=steps, start=True)
    await eventually(
        lambda: events_for(settings, made["id"], "campaign.step_due"), lambda f: len(f) == 1
    )
    paid = await _post(
        client, admin_token, f"/api/v1/payments/{made['paymentId']}/receipts", {"amount": "1250.00"}
    )
    assert paid.json()["status"] == "paid"
    after = (
        await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
    ).json()
    assert after["status"] == "completed"
    first, second = [r["status"] for r in await runs_of(settings, made["id"])]
    # The due email may have gone out before the payment came (a free AI agent sends at once);
    # the step still to come is cancelled either way.
    assert first in ("completed", "cancelled") and second == "cancelled"
    # Even if its time comes, the cancelled step is never emitted.
    await campaigns_sql(
        settings,
        "UPDATE step_runs SET due_at = now() WHERE campaign_id = $1",
        uuid.UUID(made["id"]),
    )
    import asyncio

    await asyncio.sleep(1)
    assert len(await events_for(settings, made["id"], "campaign.step_due")) == 1
    reason = (await events_for(settings, made["id"], "campaign.completed"))[0]["payload"]["reason"]
    assert reason == "paid in full"


async def test_failed_task_is_retried_then_fails(client, settings, admin_token):
    made = await deferred_sms_campaign(client, admin_token)

    async def due():
        return await events_for(settings, made["id"], "campaign.step_due")

    for attempt in (1, 2, 3):

        def has_attempt(found: list[dict[str, object]], n: int = attempt) -> bool:
            return len(found) == n

        events = await eventually(due, has_attempt)
        assert events[-1]["payload"]["attempt"] == attempt
        run_id = events[-1]["payload"]["stepRunId"]
        await send_event(
            settings,
            "task.failed",
            made["id"],
            {"campaignId": made["id"], "stepRunId": run_id, "reason": "SMTP down"},
        )
    runs = await eventually(
        lambda: runs_of(settings, made["id"]), lambda r: r[0]["status"] == "failed"
    )
    assert runs[0]["attempts"] == 3 and runs[0]["last_error"] == "SMTP down"

    async def status():
        return (
            await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
        ).json()["status"]

    await eventually(status, lambda s: s == "completed")


THREE_STEPS = [
    {"channel": "email", "delay": "P1D"},
    {"channel": "sms", "delay": "P2D"},
    {"channel": "voice", "delay": "P3D"},
]


async def _replied(client, settings, admin_token, **reply: str) -> dict[str, Any]:
    """A running three-step campaign whose customer's reply was classified as `reply` says."""
    made = await campaign(client, admin_token, steps=THREE_STEPS, start=True)
    payload = {"customerId": made["customerId"], **reply}
    await send_event(settings, "reply.classified", made["customerId"], payload)
    return made


async def _campaign_when(client, admin_token, campaign_id: str, accept) -> dict[str, Any]:
    async def fetch() -> dict[str, Any]:
        answer = await client.get(f"/api/v1/campaigns/{campaign_id}", headers=bearer(admin_token))
        return dict(answer.json())

    return await eventually(fetch, accept)


async def test_a_promise_to_pay_pauses_until_the_day_after_it(client, settings, admin_token):
    friday = (date.today() + timedelta(days=4)).isoformat()
    made = await _replied(
        client, settings, admin_token, intent="promise_to_pay", promisedDate=friday
    )
    paused = await _campaign_when(
        client, admin_token, made["id"], lambda c: c["status"] == "paused"
    )
    owner = await client.get(f"/api/v1/customers/{made['customerId']}", headers=bearer(admin_token))
    zone = ZoneInfo(owner.json()["timezone"])
    resumes = datetime.fromisoformat(paused["pausedUntil"]).astimezone(zone).date()
    assert resumes == date.fromisoformat(friday) + timedelta(days=1)
    assert paused["pauseReason"] == "promise to pay" and paused["flagged"] is False


async def test_a_dispute_pauses_and_flags_the_campaign_for_a_person(client, settings, admin_token):
    made = await _replied(client, settings, admin_token, intent="dispute")
    flagged = await _campaign_when(
        client, admin_token, made["id"], lambda c: c["status"] == "paused"
    )
    assert flagged["flagged"] is True and flagged["pauseReason"] == "dispute"
    assert flagged["pausedUntil"] is None


async def test_an_opt_out_skips_the_text_and_call_steps(client, settings, admin_token):
    made = await _replied(client, settings, admin_token, intent="opt_out")
    runs = await eventually(
        lambda: runs_of(settings, made["id"]), lambda r: r[1]["status"] == "skipped"
    )
    assert [r["status"] for r in runs] == ["pending", "skipped", "skipped"]


async def test_a_reply_that_says_paid_completes_the_campaign(client, settings, admin_token):
    made = await _replied(client, settings, admin_token, intent="paid")
    await _campaign_when(client, admin_token, made["id"], lambda c: c["status"] == "completed")


async def test_scheduled_start_pause_resume_cancel(client, settings, admin_token):
    start_at = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    steps = [{"channel": "email", "delay": "P1D"}]  # nothing sent (and completed) meanwhile
    made = await campaign(client, admin_token, startAt=start_at, steps=steps, start=True)
    assert made["status"] == "scheduled"

    async def fetch():
        return (
            await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
        ).json()

    await eventually(fetch, lambda c: c["status"] == "active")
    assert len(await events_for(settings, made["id"], "campaign.started")) == 1
    paused = await _post(
        client, admin_token, f"/api/v1/campaigns/{made['id']}/pause", {"reason": "customer called"}
    )
    assert paused.json()["status"] == "paused"
    resumed = await _post(client, admin_token, f"/api/v1/campaigns/{made['id']}/resume")
    assert resumed.json()["status"] == "active"
    cancelled = await _post(client, admin_token, f"/api/v1/campaigns/{made['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    again = await _post(client, admin_token, f"/api/v1/campaigns/{made['id']}/cancel")
    assert again.status_code == 409 and "Campaign is cancelled" in again.json()["details"]
    kinds = [
        row["topic"]
        for row in await campaigns_sql(
            settings, "SELECT topic FROM outbox WHERE event_key = $1 ORDER BY id", made["id"]
        )
    ]
    assert [k for k in kinds if k != "campaign.step_due"] == [
        "campaign.started",
        "campaign.paused",
        "campaign.resumed",
        "campaign.cancelled",
    ]


async def test_schedule_moves_a_night_step_into_the_morning(client, admin_token):
    zone = ZoneInfo("America/New_York")
    tomorrow = datetime.now(zone).date() + timedelta(days=1)
    three_am = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 3, 0, tzinfo=zone)
    owner = await customer(client, admin_token, timezone="America/New_York")
    made = await campaign(
        client, admin_token, customerId=owner["id"], startAt=three_am.isoformat(),
        steps=[{"channel": "email", "delay": "P0D"}, {"channel": "email", "delay": "PT6H"}],
    )  # fmt: skip
    for preview in (made, await campaign_started(client, admin_token, made["id"])):
        schedule = (
            await client.get(
                f"/api/v1/campaigns/{preview['id']}/schedule", headers=bearer(admin_token)
            )
        ).json()
        first, second = schedule["items"]
        assert schedule["timezone"] == "America/New_York"
        assert (
            datetime.fromisoformat(first["scheduledAt"]).astimezone(zone).hour == 8
            and first["moved"] is True
        )
        assert (
            datetime.fromisoformat(second["scheduledAt"]).astimezone(zone).hour == 9
            and second["moved"] is False
        )


async def campaign_started(client, token, campaign_id):
    response = await client.post(f"/api/v1/campaigns/{campaign_id}/start", headers=bearer(token))
    assert response.status_code == 200 and response.json()["status"] == "scheduled"
    return response.json()


async def test_step_conditions_skip_steps_when_due(client, settings, admin_token):
    steps = [
        {"channel": "email", "delay": "P0D", "conditions": {"minOutstanding": "2000.00"}},
        {"channel": "email", "delay": "PT3S", "conditions": {"skipIfReplied": True}},
    ]
    made = await campaign(client, admin_token, steps=steps, start=True)
    assert made["steps"][0]["conditions"] == {"minOutstanding": "2000.00", "skipIfReplied": False}
    first = await eventually(
        lambda: runs_of(settings, made["id"]), lambda r: r[0]["status"] == "skipped"
    )
    assert first[0]["outcome"] == "outstanding 1250.00 is below minOutstanding 2000.00"
    await send_event(
        settings,
        "reply.classified",
        made["customerId"],
        {"customerId": made["customerId"], "intent": "question"},
    )
    runs = await eventually(
        lambda: runs_of(settings, made["id"]), lambda r: r[1]["status"] == "skipped", timeout=20
    )
    assert runs[1]["outcome"] == "the customer has replied"
    assert await events_for(settings, made["id"], "campaign.step_due") == []

    async def status():
        return (
            await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
        ).json()["status"]

    await eventually(status, lambda s: s == "completed")


async def _running(client, admin_token) -> dict[str, Any]:
    return await campaign(
        client, admin_token, steps=[{"channel": "email", "delay": "P1D"}], start=True
    )


async def test_a_pause_until_a_time_without_offset_is_refused(client, admin_token):
    made = await _running(client, admin_token)
    naive = await _post(
        client,
        admin_token,
        f"/api/v1/campaigns/{made['id']}/pause",
        {"until": "2031-01-01T09:00:00"},
    )
    assert naive.status_code == 400 and "time zone offset" in naive.json()["details"]


async def test_a_field_in_snake_case_is_refused(client, admin_token):
    made = await _running(client, admin_token)
    snake = await client.patch(
        f"/api/v1/customers/{made['customerId']}",
        json={"company_name": None},
        headers=bearer(admin_token),
    )
    assert snake.status_code == 400


async def test_a_receipt_over_the_outstanding_balance_is_refused(client, admin_token):
    made = await _running(client, admin_token)
    over = await _post(
        client, admin_token, f"/api/v1/payments/{made['paymentId']}/receipts", {"amount": "2000.00"}
    )
    assert over.status_code == 400
    assert "exceeds the outstanding balance of 1250.00" in over.json()["details"]


async def test_reopening_a_part_paid_payment_keeps_it_partially_paid(client, admin_token):
    made = await _running(client, admin_token)
    await _post(
        client, admin_token, f"/api/v1/payments/{made['paymentId']}/receipts", {"amount": "50.00"}
    )
    reopened = await client.patch(
        f"/api/v1/payments/{made['paymentId']}",
        json={"status": "open"},
        headers=bearer(admin_token),
    )
    assert reopened.json()["status"] == "partially_paid"


async def test_deactivating_a_customer_pauses_its_running_campaigns(client, admin_token):
    made = await _running(client, admin_token)
    await client.patch(
        f"/api/v1/customers/{made['customerId']}",
        json={"isActive": False},
        headers=bearer(admin_token),
    )
    after = (
        await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
    ).json()
    assert after["status"] == "paused" and after["pauseReason"] == "customer deactivated"


async def test_a_campaign_without_steps_is_refused(client, admin_token):
    made = await _running(client, admin_token)
    empty = await _post(
        client,
        admin_token,
        "/api/v1/campaigns",
        {
            "name": "x",
            "customerId": made["customerId"],
            "paymentId": made["paymentId"],
            "steps": [],
        },
    )
    assert empty.json()["details"] == '"steps" must contain at least 1 items'


async def test_disputed_payment_blocks_start_and_dispute_cancels_a_promise(
    client, settings, admin_token
):
    draft = await campaign(client, admin_token)
    await client.patch(
        f"/api/v1/payments/{draft['paymentId']}",
        json={"status": "disputed"},
        headers=bearer(admin_token),
    )
    refused = await _post(client, admin_token, f"/api/v1/campaigns/{draft['id']}/start")
    assert refused.status_code == 422 and "is disputed" in refused.json()["details"]

    made = await campaign(
        client, admin_token, steps=[{"channel": "email", "delay": "P1D"}], start=True
    )
    customer = made["customerId"]
    await send_event(
        settings,
        "reply.classified",
        customer,
        {"customerId": customer, "intent": "promise_to_pay", "promisedDate": "2031-01-03"},
    )

    async def fetch():
        return (
            await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
        ).json()

    await eventually(fetch, lambda c: c["pausedUntil"] is not None)
    await send_event(
        settings, "reply.classified", customer, {"customerId": customer, "intent": "dispute"}
    )
    disputed = await eventually(fetch, lambda c: c["flagged"] is True)
    assert disputed["pausedUntil"] is None and disputed["pauseReason"] == "dispute"


async def test_a_campaign_paused_before_its_start_resumes_as_scheduled(client, admin_token):
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    made = await campaign(client, admin_token, startAt=later, start=True)
    assert (await _post(client, admin_token, f"/api/v1/campaigns/{made['id']}/pause")).json()[
        "status"
    ] == "paused"
    resumed = await _post(client, admin_token, f"/api/v1/campaigns/{made['id']}/resume")
    assert resumed.json()["status"] == "scheduled" and resumed.json()["startedAt"] is None


async def test_bulk_start_starts_what_it_can_and_says_why_not_for_the_rest(
    client, settings, admin_token
):
    ready = [await campaign(client, admin_token) for _ in range(2)]
    running = await campaign(client, admin_token, start=True)
    disputed = await campaign(client, admin_token)
    await client.patch(
        f"/api/v1/payments/{disputed['paymentId']}",
        json={"status": "disputed"},
        headers=bearer(admin_token),
    )
    missing = str(uuid.uuid4())
    ids = [c["id"] for c in (*ready, running, disputed)] + [missing, ready[0]["id"]]
    response = await _post(
        client, admin_token, "/api/v1/campaigns/bulk-start", {"campaignIds": ids}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(body["started"]) == sorted(c["id"] for c in ready)  # each once
    refused = {item["campaignId"]: item for item in body["refused"]}
    assert refused[running["id"]]["status"] == 409
    assert refused[disputed["id"]]["status"] == 422
    assert "is disputed" in refused[disputed["id"]]["details"]
    assert refused[missing] == {
        "campaignId": missing,
        "status": 404,
        "error": "Not Found",
        "details": f"Campaign {missing} does not exist",
    }
    for started in ready:
        assert len(await events_for(settings, started["id"], "campaign.started")) == 1
    assert (await events_for(settings, disputed["id"], "campaign.started")) == []

    for bad in ([], [missing] * 1001, ["not-a-uuid"]):
        rejected = await _post(
            client, admin_token, "/api/v1/campaigns/bulk-start", {"campaignIds": bad}
        )
        assert rejected.status_code == 400, rejected.text


@pytest.mark.parametrize(
    ("template", "said"),
    [
        ("Pay {amount:>99999999} now", "formats a placeholder ({amount:>99999999})"),
        (
            "{contact_name.__class__.__mro__}",
            "unknown placeholder {contact_name.__class__.__mro__}",
        ),
        ("Hello {nickname}", "unknown placeholder {nickname}; use only {contact_name}"),
        ("Hello {", "is not a valid template"),
    ],
)
async def test_a_template_beyond_plain_placeholders_is_refused(client, admin_token, template, said):
    owner = await customer(client, admin_token)
    owed = await payment(client, admin_token, owner["id"])
    body = {
        "name": "Hostile template",
        "customerId": owner["id"],
        "paymentId": owed["id"],
        "steps": [
            {"channel": "email", "delay": "P0D"},
            {"channel": "sms", "delay": "P1D", "template": template},
        ],
    }
    refused = await client.post("/api/v1/campaigns", json=body, headers=bearer(admin_token))
    assert refused.status_code == 400
    answer = refused.json()
    assert answer["error"] == "Validation error"
    assert "steps[1].template" in answer["details"] and said in answer["details"]
