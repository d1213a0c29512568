"""A result that was lost on the way is told again when asked for, and a send whose outcome is
unknown is never tried again, by any service, under any key."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.agents_helpers import agents_sql, requested_messages, tasks_of
from tests.campaign_helpers import (
    campaign,
    campaigns_sql,
    daytime_zone,
    deferred_sms_campaign,
    events_for,
    runs_of,
    send_event,
)
from tests.helpers import eventually
from tests.notifier_helpers import notifier_sql


async def _outbox(query_sql, settings, topic: str, field: str, value: str) -> list[Any]:
    rows = await query_sql(
        settings,
        "SELECT envelope FROM outbox WHERE topic = $1 AND envelope->'payload'->>$2 = $3 "
        "ORDER BY id",
        topic,
        field,
        value,
    )
    return [row["envelope"]["payload"] for row in rows]


async def test_a_known_send_request_publishes_its_result_again(client, settings, admin_token):
    """The notifier sends a key once; asked again after it was sent, it tells `message.sent`
    again (whoever asked may have missed it) and sends nothing."""
    key = f"test-{uuid.uuid4()}"
    # An email where it is daytime now: sent at once, whatever the hour of the test run.
    request = {
        "idempotencyKey": key,
        "channel": "email",
        "to": f"again-{key}@example.com",
        "timezone": daytime_zone(),
        "subject": "Invoice",
        "body": "hello",
    }
    await send_event(settings, "message.requested", key, request)

    async def told() -> list[Any]:
        return await _outbox(notifier_sql, settings, "message.sent", "idempotencyKey", key)

    await eventually(told, lambda sent: len(sent) == 1)
    await send_event(settings, "message.requested", key, request)
    again = await eventually(told, lambda sent: len(sent) == 2)
    assert again[0]["providerId"] == again[1]["providerId"]
    rows = await notifier_sql(
        settings, "SELECT status, attempts FROM messages WHERE idempotency_key = $1", key
    )
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)]


async def test_a_step_due_again_for_a_finished_task_tells_its_result_again(
    client, settings, admin_token
):
    """The agents make one task per step run and attempt; a step asked for again after its
    task completed gets `task.completed` again, and no second task or message."""
    made = await campaign(client, admin_token, start=True)
    runs = await eventually(
        lambda: runs_of(settings, made["id"]), lambda r: r[0]["status"] == "completed"
    )
    due = (await events_for(settings, made["id"], "campaign.step_due"))[0]
    await send_event(settings, "campaign.step_due", made["id"], due["payload"])

    async def completions() -> list[Any]:
        return await _outbox(agents_sql, settings, "task.completed", "campaignId", made["id"])

    again = await eventually(completions, lambda found: len(found) == 2)
    assert {c["stepRunId"] for c in again} == {str(runs[0]["id"])}
    assert {c["outcome"] for c in again} == {"sent"}
    assert len(await tasks_of(client, admin_token, made["id"])) == 1
    assert len(await requested_messages(settings, made["id"])) == 1


async def test_a_step_emitted_long_ago_without_a_result_is_asked_for_again(
    client, settings, admin_token
):
    """A human step stays emitted while a person works on it. Once it has been emitted longer
    than STEP_REDRIVE_AFTER_S with no result heard, the scheduler emits it again, same
    attempt; the agents see the task still at work and leave it."""
    made = await campaign(
        client, admin_token, steps=[{"channel": "human", "delay": "P0D"}], start=True
    )
    await eventually(lambda: tasks_of(client, admin_token, made["id"]), lambda t: len(t) == 1)
    await campaigns_sql(
        settings,
        "UPDATE step_runs SET updated_at = now() - interval '1 hour' "
        "WHERE campaign_id = $1 AND status = 'emitted'",
        uuid.UUID(made["id"]),
    )
    emitted = await eventually(
        lambda: events_for(settings, made["id"], "campaign.step_due"), lambda e: len(e) == 2
    )
    first, second = (event["payload"] for event in emitted)
    assert (first["stepRunId"], first["attempt"]) == (second["stepRunId"], second["attempt"])
    runs = await runs_of(settings, made["id"])
    assert [(r["status"], r["attempts"]) for r in runs] == [("emitted", 1)]
    assert len(await tasks_of(client, admin_token, made["id"])) == 1


async def test_an_unknown_outcome_is_never_sent_again_by_any_service(client, settings, admin_token):
    """The notifier reports a send whose outcome is unknown. The agents fail the task without
    another try, and the campaigns service fails the step without a retry: nobody sends it
    again under a new key."""
    made = await deferred_sms_campaign(client, admin_token)
    requested = await eventually(
        lambda: requested_messages(settings, made["id"]), lambda m: len(m) == 1
    )
    task_id = requested[0]["taskId"]
    await send_event(
        settings,
        "message.failed",
        made["id"],
        {
            "taskId": task_id,
            "campaignId": made["id"],
            "channel": "sms",
            "idempotencyKey": requested[0]["idempotencyKey"],
            "status": "unknown",
            "reason": "Twilio did not answer",
            "retryable": False,
            "outcomeUnknown": True,
        },
    )
    failed = await eventually(
        lambda: _outbox(agents_sql, settings, "task.failed", "taskId", task_id), bool
    )
    assert failed[0]["retryable"] is False and failed[0]["outcomeUnknown"] is True
    runs = await eventually(
        lambda: runs_of(settings, made["id"]), lambda r: r[0]["status"] == "failed"
    )
    assert runs[0]["attempts"] == 1
    assert runs[0]["last_error"].startswith("outcome unknown, not retried")
    # STEP_RETRY_DELAY is 1 s here: a retry would have come by now.
    await asyncio.sleep(3)
    assert len(await events_for(settings, made["id"], "campaign.step_due")) == 1
    assert len(await requested_messages(settings, made["id"])) == 1
    tasks = await tasks_of(client, admin_token, made["id"])
    assert [t["status"] for t in tasks] == ["failed"]


async def test_a_step_due_again_for_a_requested_message_repeats_the_request(
    client, settings, admin_token
):
    """A task whose message was requested but never answered (here: deferred at night) is
    asked for again: the same request under the same key, not composed anew; the notifier
    keeps one message."""
    made = await deferred_sms_campaign(client, admin_token)
    first = await eventually(
        lambda: requested_messages(settings, made["id"]), lambda m: len(m) == 1
    )
    due = (await events_for(settings, made["id"], "campaign.step_due"))[0]
    await send_event(settings, "campaign.step_due", made["id"], due["payload"])
    again = await eventually(
        lambda: requested_messages(settings, made["id"]), lambda m: len(m) == 2
    )
    assert again[1] == first[0]  # the same request, the same key
    rows = await notifier_sql(
        settings,
        "SELECT status FROM messages WHERE idempotency_key = $1",
        first[0]["idempotencyKey"],
    )
    assert [r["status"] for r in rows] == ["deferred"]


async def test_a_failure_told_again_is_counted_once(client, settings, admin_token):
    """The notifier may tell a send's failure again (asked again with its key). The agents
    count each send try's failure once: one retry, not two."""
    made = await deferred_sms_campaign(client, admin_token)
    requested = await eventually(
        lambda: requested_messages(settings, made["id"]), lambda m: len(m) == 1
    )
    failure = {
        "taskId": requested[0]["taskId"],
        "idempotencyKey": requested[0]["idempotencyKey"],
        "reason": "mailbox full",
        "retryable": True,
    }
    for _ in range(2):
        await send_event(settings, "message.failed", made["id"], failure)
    await eventually(lambda: requested_messages(settings, made["id"]), lambda m: len(m) == 2)
    await asyncio.sleep(2)
    messages = await requested_messages(settings, made["id"])
    assert [m["idempotencyKey"].rsplit(":", 1)[1] for m in messages] == ["0", "1"]
    tasks = await tasks_of(client, admin_token, made["id"])
    assert [(t["status"], t["attempts"]) for t in tasks] == [("in_progress", 1)]
