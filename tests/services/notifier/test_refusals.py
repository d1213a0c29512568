"""A refusal that will not change ends its step at once: the step is skipped with the reason,
the campaign goes on with its other steps, and the refused message can be listed."""

from __future__ import annotations

import asyncio
import uuid

from services.notifier.domain.guards import Policy, check
from shared.contracts import MessageFailed, TaskFailed
from tests.auth_helpers import bearer
from tests.campaign_helpers import (
    campaign,
    customer,
    deferred_sms_campaign,
    events_for,
    runs_of,
    send_event,
)
from tests.helpers import eventually
from tests.notifier_helpers import facts, messages_of


def test_the_checks_that_retrying_cannot_change_are_refusals():
    refused = [
        facts(recipient="555-1234"),  # not a valid number
        facts(suppression="do_not_call"),
        facts(suppression="opt_out"),
        facts(channel="voice", voice_consent=False),
        facts(channel="voice", calls_last_7_days=7),  # Regulation F's weekly cap
    ]
    for given in refused:
        assert check(given, Policy()).refused, given
    # A deferral waits, and a time zone Python does not know is a fault, not a refusal.
    not_refused = [
        facts(),
        facts(channel="voice", last_conversation_at=facts().now),
        facts(timezone="Mars/Olympus"),
    ]
    for given in not_refused:
        assert not check(given, Policy()).refused, given


def test_events_from_before_refusals_read_as_not_refused():
    common = {
        "messageId": str(uuid.uuid4()),
        "idempotencyKey": "k",
        "taskId": str(uuid.uuid4()),
        "channel": "sms",
        "reason": "x",
        "retryable": False,
        "outcomeUnknown": False,
    }
    assert MessageFailed.model_validate({**common, "status": "failed"}).refused is False
    task = {
        "taskId": str(uuid.uuid4()),
        "campaignId": str(uuid.uuid4()),
        "stepRunId": str(uuid.uuid4()),
        "customerId": str(uuid.uuid4()),
        "channel": "sms",
        "reason": "x",
        "retryable": False,
        "outcomeUnknown": False,
    }
    assert TaskFailed.model_validate(task).refused is False
    assert TaskFailed.model_validate({**task, "refused": True}).refused is True


async def test_refused_steps_are_skipped_and_the_campaign_goes_on(client, settings, admin_token):
    """An SMS to a number on the Do-Not-Call list and a call without consent are refused: both
    steps are skipped with the reason at once, never retried; the email step is sent and the
    campaign completes."""
    owner = await customer(client, admin_token)
    listed = await client.post(
        "/api/v1/suppressions",
        json={"channel": "sms", "recipient": owner["phone"], "reason": "do_not_call"},
        headers=bearer(admin_token),
    )
    assert listed.status_code == 201, listed.text
    steps = [
        {"channel": "sms", "delay": "P0D"},
        {"channel": "voice", "delay": "PT1S"},
        {"channel": "email", "delay": "PT2S"},
    ]
    made = await campaign(client, admin_token, customerId=owner["id"], steps=steps, start=True)

    async def status() -> str:
        answer = await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
        return str(answer.json()["status"])

    await eventually(status, lambda s: s == "completed", timeout=45)
    runs = await runs_of(settings, made["id"])
    assert [(r["channel"], r["status"], r["attempts"]) for r in runs] == [
        ("sms", "skipped", 1),
        ("voice", "skipped", 1),
        ("email", "completed", 1),
    ]
    assert runs[0]["outcome"] == "refused: Number is on the Do-Not-Call list"
    assert runs[1]["outcome"] == "refused: No recorded consent to AI-voice calls (TCPA)"
    completed = await events_for(settings, made["id"], "campaign.completed")
    assert [e["payload"]["reason"] for e in completed] == ["every step has run"]
    assert await events_for(settings, made["id"], "campaign.failed") == []
    # STEP_RETRY_DELAY is 1 s here: a retry would have come by now.
    await asyncio.sleep(2)
    assert len(await events_for(settings, made["id"], "campaign.step_due")) == 3

    schedule = await client.get(
        f"/api/v1/campaigns/{made['id']}/schedule", headers=bearer(admin_token)
    )
    assert [(i["status"], i["reason"]) for i in schedule.json()["items"]] == [
        ("skipped", "refused: Number is on the Do-Not-Call list"),
        ("skipped", "refused: No recorded consent to AI-voice calls (TCPA)"),
        ("completed", None),
    ]

    by_channel = {m["channel"]: m for m in await messages_of(client, admin_token, made["id"])}
    assert by_channel["sms"]["status"] == "suppressed" and by_channel["sms"]["refused"] is True
    assert by_channel["voice"]["status"] == "failed" and by_channel["voice"]["refused"] is True
    assert by_channel["email"]["status"] == "sent" and by_channel["email"]["refused"] is False
    listed_refused = await client.get(
        f"/api/v1/messages?status=refused&campaignId={made['id']}", headers=bearer(admin_token)
    )
    assert listed_refused.status_code == 200, listed_refused.text
    page = listed_refused.json()
    assert page["total"] == 2
    assert {m["channel"] for m in page["items"]} == {"sms", "voice"}


async def test_a_final_failure_that_is_no_refusal_still_fails_the_step(
    client, settings, admin_token
):
    """Not every failure retrying cannot help is a refusal (a Twilio account error, say): such
    a step fails, as before, rather than being skipped."""
    made = await deferred_sms_campaign(client, admin_token)
    due = await eventually(
        lambda: events_for(settings, made["id"], "campaign.step_due"), lambda e: len(e) == 1
    )
    await send_event(
        settings,
        "task.failed",
        made["id"],
        {
            "campaignId": made["id"],
            "stepRunId": due[0]["payload"]["stepRunId"],
            "reason": "Twilio Authentication Error (20003)",
            "retryable": False,
        },
    )
    runs = await eventually(
        lambda: runs_of(settings, made["id"]), lambda r: r[0]["status"] != "emitted"
    )
    assert (runs[0]["status"], runs[0]["attempts"]) == ("failed", 1)
    assert runs[0]["last_error"] == "Twilio Authentication Error (20003)"
