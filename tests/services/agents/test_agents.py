"""The agents service through the gateway: every due step becomes one task that an eligible
agent works; results, replies and stuck work are handled."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from tests.agents_helpers import (
    agents_sql,
    human_agent,
    requested_messages,
    tasks_of,
    the_only_human_agent,
)
from tests.auth_helpers import bearer
from tests.campaign_helpers import (
    campaign,
    deferred_sms_campaign,
    events_for,
    runs_of,
    send_event,
)
from tests.helpers import eventually
from tests.notifier_helpers import notifier_sql


async def test_a_fresh_platform_has_an_ai_agent_for_every_channel(client, admin_token):
    listed = await client.get("/api/v1/agents?kind=ai", headers=bearer(admin_token))
    assert listed.status_code == 200
    default = next(a for a in listed.json()["items"] if a["name"] == "Default AI agent")
    assert default["status"] == "online" and set(default["channels"]) == {"email", "sms", "voice"}


async def test_ai_step_becomes_one_task_one_message_and_completes_the_step(
    client, settings, admin_token
):
    made = await campaign(client, admin_token, start=True)
    requested = await eventually(
        lambda: requested_messages(settings, made["id"]), lambda m: len(m) == 1
    )
    message = requested[0]
    assert message["channel"] == "email" and message["to"].startswith("ap-")
    assert "This is an attempt to collect a debt" in message["body"]
    assert message["subject"] and message["composedBy"].startswith("template")
    task = (await tasks_of(client, admin_token, made["id"]))[0]
    assert task["status"] in ("in_progress", "completed") and message["taskId"] == task["id"]
    assert message["idempotencyKey"] == f"{task['stepRunId']}:1:0"
    # The notifier sends it (to the SMTP sink) and its message.sent completes the step.
    runs = await eventually(
        lambda: runs_of(settings, made["id"]), lambda r: r[0]["status"] == "completed"
    )
    assert runs[0]["outcome"] == "sent"
    # The operators' diagnostic query works on our tables.
    rows = await agents_sql(
        settings,
        "SELECT t.*, a.status as agent_status FROM agents.tasks t LEFT JOIN agents.agents a "
        "ON t.assigned_agent_id = a.id WHERE t.campaign_id = $1",
        uuid.UUID(made["id"]),
    )
    assert [(r["status"], r["agent_status"]) for r in rows] == [("completed", "online")]


async def test_a_redelivered_step_due_creates_no_second_task(client, settings, admin_token):
    made = await campaign(client, admin_token, start=True)
    due = await eventually(
        lambda: events_for(settings, made["id"], "campaign.step_due"), lambda e: len(e) == 1
    )
    # A free AI agent requests the message as the task opens: the first request is out.
    await eventually(lambda: requested_messages(settings, made["id"]), lambda m: len(m) == 1)
    again = await send_event(
        settings, "campaign.step_due", made["id"], due[0]["payload"]
    )  # a new event id, same step
    await eventually(
        lambda: agents_sql(
            settings, "SELECT 1 FROM processed_events WHERE event_id = $1", again.event_id
        ),
        lambda rows: len(rows) == 1,
    )
    # The step asked for again opens no second task; it is told the task's result again, or
    # (still in progress) the same message is asked for again, under the same key.
    assert len(await tasks_of(client, admin_token, made["id"])) == 1
    requested = await requested_messages(settings, made["id"])
    assert len(requested) <= 2 and len({m["idempotencyKey"] for m in requested}) == 1
    sent = await eventually(
        lambda: notifier_sql(
            settings, "SELECT idempotency_key FROM messages WHERE campaign_id = $1",
            uuid.UUID(made["id"]),
        ),
        lambda rows: len(rows) >= 1,
    )  # fmt: skip
    assert len(sent) == 1


async def test_human_step_waits_for_a_person_who_claims_and_completes_it(
    client, settings, admin_token
):
    steps = [{"channel": "human", "delay": "P0D"}, {"channel": "email", "delay": "P7D"}]
    made = await campaign(client, admin_token, steps=steps, start=True)
    task = (
        await eventually(lambda: tasks_of(client, admin_token, made["id"]), lambda t: len(t) == 1)
    )[0]
    by_channel = {
        channel: (
            await client.get(
                "/api/v1/tasks",
                params={"campaignId": made["id"], "channel": channel},
                headers=bearer(admin_token),
            )
        ).json()
        for channel in ("human", "email")
    }
    assert [t["id"] for t in by_channel["human"]["items"]] == [task["id"]]
    assert by_channel["email"]["total"] == 0  # the email step is a week away
    unknown = await client.get("/api/v1/tasks?channel=fax", headers=bearer(admin_token))
    assert unknown.status_code == 400
    _, token = await human_agent(client, admin_token)
    mine = await eventually(
        lambda: client.get("/api/v1/tasks?assignee=me", headers=bearer(token)),
        lambda r: any(t["id"] == task["id"] for t in r.json()["items"]),
    )
    assert mine.status_code == 200
    claimed = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=bearer(token))
    assert claimed.status_code == 200 and claimed.json()["status"] == "in_progress"
    bad = await client.post(
        f"/api/v1/tasks/{task['id']}/complete",
        json={"outcome": "promise_to_pay"},
        headers=bearer(token),
    )
    assert bad.status_code == 400 and '"promisedDate" is required' in bad.json()["details"]
    friday = (date.today() + timedelta(days=5)).isoformat()
    done = await client.post(
        f"/api/v1/tasks/{task['id']}/complete",
        json={"outcome": "promise_to_pay", "promisedDate": friday, "note": "Will pay Friday"},
        headers=bearer(token),
    )
    assert done.status_code == 200 and done.json()["outcome"] == "promise_to_pay"

    async def state():
        return (
            await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
        ).json()

    paused = await eventually(state, lambda c: c["status"] == "paused")
    assert paused["pauseReason"] == "promise to pay"
    runs = await eventually(
        lambda: runs_of(settings, made["id"]), lambda r: r[0]["status"] == "completed"
    )
    assert runs[0]["outcome"] == "promise_to_pay"
    not_mine = await client.post(
        f"/api/v1/tasks/{task['id']}/complete",
        json={"outcome": "paid"},
        headers=bearer(admin_token),
    )
    assert not_mine.status_code == 403  # the admin is no human agent


async def test_lapsed_heartbeat_sends_the_agent_offline_and_requeues(client, settings, admin_token):
    await human_agent(client, admin_token)
    made = await campaign(
        client, admin_token, steps=[{"channel": "human", "delay": "P0D"}], start=True
    )

    async def task():
        return await tasks_of(client, admin_token, made["id"])

    assigned = await eventually(task, lambda t: len(t) == 1 and t[0]["status"] == "assigned")
    holder = assigned[0]["assignedAgentId"]
    await agents_sql(
        settings,
        "UPDATE agents SET last_heartbeat_at = now() - interval '1 hour' WHERE id = $1",
        uuid.UUID(holder),
    )
    offline = await eventually(
        lambda: client.get(f"/api/v1/agents/{holder}", headers=bearer(admin_token)),
        lambda r: r.json()["status"] == "offline",
    )
    assert offline.json()["openTasks"] == 0
    requeued = await eventually(task, lambda t: t[0]["assignedAgentId"] != holder)
    assert requeued[0]["status"] in ("pending", "assigned")


async def test_stuck_task_is_reset_and_reassignment_reuses_the_idempotency_key(
    client, settings, admin_token
):
    made = await deferred_sms_campaign(client, admin_token)
    first = await eventually(
        lambda: requested_messages(settings, made["id"]), lambda m: len(m) == 1
    )
    task_id = first[0]["taskId"]
    # A crash after the request: the task stays in progress until someone notices.
    await agents_sql(
        settings,
        "UPDATE tasks SET updated_at = now() - interval '2 hours' WHERE id = $1",
        uuid.UUID(task_id),
    )
    viewer_refused = await client.post("/api/v1/tasks/reset-stuck", headers=bearer(admin_token))
    assert viewer_refused.status_code == 200
    again = await eventually(
        lambda: requested_messages(settings, made["id"]), lambda m: len(m) == 2
    )
    assert {m["idempotencyKey"] for m in again} == {first[0]["idempotencyKey"]}


async def test_reset_stuck_reports_how_many(client, settings, admin_token):
    made = await campaign(
        client, admin_token, steps=[{"channel": "human", "delay": "P0D"}], start=True
    )
    _, token = await human_agent(client, admin_token)
    await eventually(
        lambda: tasks_of(client, admin_token, made["id"]),
        lambda t: len(t) == 1 and t[0]["status"] == "assigned",
    )
    await agents_sql(
        settings,
        "UPDATE tasks SET updated_at = now() - interval '90 minutes' WHERE campaign_id = $1",
        uuid.UUID(made["id"]),
    )
    report = await client.post("/api/v1/tasks/reset-stuck", headers=bearer(admin_token))
    assert report.status_code == 200 and report.json()["reset"] >= 1
    forbidden = await client.post("/api/v1/tasks/reset-stuck", headers=bearer(token))
    assert forbidden.status_code == 403 and "tasks:admin" in forbidden.json()["details"]


async def test_failed_send_is_retried_then_fails_the_task(client, settings, admin_token):
    made = await deferred_sms_campaign(client, admin_token)
    for tries in (1, 2, 3):

        def sent_times(found: list[dict[str, object]], n: int = tries) -> bool:
            return len(found) == n

        messages = await eventually(lambda: requested_messages(settings, made["id"]), sent_times)
        await send_event(
            settings,
            "message.failed",
            made["id"],
            {
                "taskId": messages[-1]["taskId"],
                "idempotencyKey": messages[-1]["idempotencyKey"],
                "reason": "mailbox full",
                "retryable": True,
            },
        )
    keys = [m["idempotencyKey"] for m in messages]
    assert len(set(keys)) == 3  # each retry is a new send
    failed = await eventually(
        lambda: tasks_of(client, admin_token, made["id"]), lambda t: t[0]["status"] == "failed"
    )
    assert failed[0]["lastError"] == "mailbox full"
    assert await eventually(
        lambda: events_for(settings, made["id"], "campaign.step_due"), lambda e: len(e) == 2
    )


async def _reply(settings, made: dict[str, Any], text: str, **more: str) -> None:
    """The campaign's customer answers by SMS (`more`: other fields of the event)."""
    customer = made["customerId"]
    payload = {"customerId": customer, "campaignId": made["id"], "channel": "sms", "text": text}
    await send_event(settings, "reply.received", customer, {**payload, **more})


async def _classified(settings, customer: str) -> list[dict[str, Any]]:
    """The `reply.classified` payloads the agents wrote for the customer."""
    rows = await agents_sql(
        settings,
        "SELECT envelope FROM outbox WHERE topic = 'reply.classified' AND event_key = $1",
        customer,
    )
    return [row["envelope"]["payload"] for row in rows]


async def test_replies_are_understood_and_questions_go_to_a_person(client, settings, admin_token):
    made = await campaign(
        client, admin_token, steps=[{"channel": "email", "delay": "P1D"}], start=True
    )
    customer = made["customerId"]
    await _reply(settings, made, "What is this invoice for?")

    found = await eventually(lambda: _classified(settings, customer), lambda c: len(c) == 1)
    assert found[0]["intent"] == "question"
    tasks = await eventually(
        lambda: tasks_of(client, admin_token, made["id"]),
        lambda t: any(x["channel"] == "human" for x in t),
    )
    assert (
        next(t for t in tasks if t["channel"] == "human")["step"]["reply"]["text"]
        == "What is this invoice for?"
    )
    await _reply(settings, made, "I dispute this")
    await eventually(
        lambda: client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token)),
        lambda r: r.json()["flagged"] is True,
    )


async def test_a_day_a_reply_names_is_the_customers_own(client, settings, admin_token):
    """A reply saying "I will pay tomorrow" means the day after the customer's today, where
    they live: a zone whose date differs from UTC's now (a day behind before noon UTC, a day
    ahead after)."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    made = await campaign(
        client, admin_token, steps=[{"channel": "email", "delay": "P1D"}], start=True
    )
    customer = made["customerId"]
    zone = "Etc/GMT+12" if datetime.now(UTC).hour < 12 else "Pacific/Kiritimati"
    their_today = datetime.now(ZoneInfo(zone)).date()
    assert their_today != datetime.now(UTC).date()
    await _reply(settings, made, "I will pay tomorrow", timezone=zone)

    (found,) = await eventually(lambda: _classified(settings, customer), lambda c: len(c) == 1)
    assert found["intent"] == "promise_to_pay"
    assert found["promisedDate"] == (their_today + timedelta(days=1)).isoformat()


async def test_agent_input_is_checked(client, admin_token):
    stranger = await client.post(
        "/api/v1/agents",
        json={"name": "Ghost", "kind": "human", "channels": ["human"], "userId": str(uuid.uuid4())},
        headers=bearer(admin_token),
    )
    assert stranger.status_code == 400 and "is not an active user" in stranger.json()["details"]
    no_user = await client.post(
        "/api/v1/agents",
        json={"name": "X", "kind": "human", "channels": ["human"]},
        headers=bearer(admin_token),
    )
    assert (
        no_user.status_code == 400
        and '"userId" is required for a human agent' in no_user.json()["details"]
    )
    ai_human = await client.post(
        "/api/v1/agents",
        json={"name": "X", "kind": "ai", "channels": ["human"]},
        headers=bearer(admin_token),
    )
    assert ai_human.status_code == 400
    missing = await client.get(f"/api/v1/agents/{uuid.uuid4()}", headers=bearer(admin_token))
    assert missing.status_code == 404


async def test_reset_stuck_refuses_an_age_beyond_a_year(client, admin_token):
    """An age Postgres cannot hold as an interval was a 500."""
    response = await client.post(
        "/api/v1/tasks/reset-stuck?olderThan=51794971351155", headers=bearer(admin_token)
    )
    assert response.status_code == 400
    assert response.json()["details"] == '"olderThan" must be less than or equal to 31622400'


async def test_a_collector_who_reached_the_customer_says_so_and_the_campaign_goes_on(
    client, admin_token
):
    agent, token = await human_agent(client, admin_token)
    await the_only_human_agent(client, admin_token, agent["id"])
    steps = [{"channel": "human", "delay": "P0D"}, {"channel": "email", "delay": "P7D"}]
    made = await campaign(client, admin_token, steps=steps, start=True)
    mine = await eventually(
        lambda: client.get(
            "/api/v1/tasks", params={"assignee": "me", "campaignId": made["id"]},
            headers=bearer(token),
        ),
        lambda r: r.json()["total"] == 1,
    )  # fmt: skip
    task_id = mine.json()["items"][0]["id"]
    done = await client.post(
        f"/api/v1/tasks/{task_id}/complete",
        json={"outcome": "reached", "note": "Spoke to the accounts team"},
        headers=bearer(token),
    )
    assert done.status_code == 200 and done.json()["outcome"] == "reached"
    ran = await eventually(
        lambda: client.get(f"/api/v1/campaigns/{made['id']}/schedule", headers=bearer(admin_token)),
        lambda r: r.json()["items"][0]["status"] == "completed",
    )
    assert ran.json()["items"][1]["status"] == "pending"  # the campaign goes on
    state = await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
    assert state.json()["status"] == "active"
    replies = await client.get(
        f"/api/v1/campaigns/{made['id']}/replies", headers=bearer(admin_token)
    )
    assert replies.json()["total"] == 0  # nothing for the campaign to act on
