"""The notifier through the gateway: sends once per key, guards, suppression API, webhooks."""

from __future__ import annotations

import uuid

from tests.auth_helpers import bearer
from tests.campaign_helpers import campaign, send_event
from tests.helpers import eventually, twilio_signed
from tests.notifier_helpers import messages_of, notifier_sql


async def test_email_and_sms_steps_are_sent_and_complete_the_campaign(
    platform, client, admin_token
):
    steps = [{"channel": "email", "delay": "P0D"}, {"channel": "sms", "delay": "PT1S"}]
    made = await campaign(client, admin_token, steps=steps, start=True)
    sent = await eventually(
        lambda: messages_of(client, admin_token, made["id"]),
        lambda m: len(m) == 2 and all(x["status"] == "sent" for x in m),
        timeout=45,
    )
    by_channel = {m["channel"]: m for m in sent}
    assert by_channel["sms"]["simulated"] is True and by_channel["sms"]["providerId"].startswith(
        "SIM"
    )
    assert by_channel["email"]["simulated"] is False
    mailbox = platform.state_dir / "mail"
    import mailbox as mb

    assert any(m["To"] == by_channel["email"]["recipient"] for m in mb.Maildir(mailbox))
    await eventually(
        lambda: client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token)),
        lambda r: r.json()["status"] == "completed",
        timeout=45,
    )


async def test_a_repeated_request_is_sent_once(client, settings, admin_token):
    key = f"test-{uuid.uuid4()}"
    request = {
        "idempotencyKey": key,
        "channel": "sms",
        "to": "+14155552671",
        "timezone": "UTC",
        "body": "hello",
    }
    for _ in range(3):
        await send_event(settings, "message.requested", key, request)

    async def rows():
        return await notifier_sql(
            settings, "SELECT status FROM messages WHERE idempotency_key = $1", key
        )

    await eventually(rows, lambda r: len(r) == 1 and r[0]["status"] in ("sent", "deferred"))
    import asyncio

    await asyncio.sleep(1)
    assert len(await rows()) == 1


async def test_suppression_list_api_and_guard(client, settings, admin_token):
    number = "+14155550123"
    added = await client.post(
        "/api/v1/suppressions",
        json={"channel": "sms", "recipient": "+1 415 555 0123", "reason": "do_not_call"},
        headers=bearer(admin_token),
    )
    assert added.status_code == 201 and added.json()["recipient"] == number
    check = await client.get(
        f"/api/v1/suppressions/check?recipient={number.replace('+', '%2B')}",
        headers=bearer(admin_token),
    )
    assert check.json() == {"recipient": number, "suppressed": True, "channels": ["sms"]}
    key = f"test-{uuid.uuid4()}"
    await send_event(
        settings,
        "message.requested",
        key,
        {"idempotencyKey": key, "channel": "sms", "to": number, "timezone": "UTC", "body": "x"},
    )
    rows = await eventually(
        lambda: notifier_sql(
            settings, "SELECT status, reason FROM messages WHERE idempotency_key = $1", key
        ),
        lambda r: len(r) == 1 and r[0]["status"] == "suppressed",
    )
    assert rows[0]["reason"] == "Number is on the Do-Not-Call list"
    bad = await client.post(
        "/api/v1/suppressions",
        json={"channel": "sms", "recipient": "12"},
        headers=bearer(admin_token),
    )
    assert bad.status_code == 400
    removed = await client.delete(
        f"/api/v1/suppressions/{added.json()['id']}",
        params={"reason": "added by mistake"},
        headers=bearer(admin_token),
    )
    assert removed.status_code == 204


async def test_webhooks_check_signatures_and_stop_suppresses_at_once(
    client, gateway_url, settings, admin_token
):
    made = await campaign(
        client,
        admin_token,
        steps=[{"channel": "sms", "delay": "P0D"}, {"channel": "sms", "delay": "P1D"}],
        start=True,
    )
    first = await eventually(
        lambda: messages_of(client, admin_token, made["id"]),
        lambda m: len(m) == 1 and m[0]["status"] == "sent",
        timeout=45,
    )
    phone = first[0]["recipient"]
    form = {"From": phone, "Body": "STOP", "MessageSid": "SM" + uuid.uuid4().hex}
    path = "/api/v1/webhooks/twilio/sms"
    forged = await client.post(
        path, data=form, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
    )
    assert forged.status_code == 403 and forged.json()["details"] == "Invalid X-Twilio-Signature"
    assert (
        await notifier_sql(
            settings, "SELECT 1 FROM suppressions WHERE recipient = $1 AND channel = 'sms'", phone
        )
    ) == []
    for _ in range(2):  # Twilio may retry a webhook: still one confirmation
        answered = await client.post(
            path, data=form, headers=twilio_signed(gateway_url, path, form)
        )
        assert answered.status_code == 200 and answered.text.startswith("<?xml")
        assert "x-ratelimit-limit" not in answered.headers  # signed webhooks are not API-limited
    assert (
        len(
            await notifier_sql(
                settings,
                "SELECT 1 FROM suppressions WHERE recipient = $1 AND channel = 'sms'",
                phone,
            )
        )
        == 1
    )
    # Queued with the opt-out, sent by the SMS send loop (no provider call in the webhook).
    confirmations = await eventually(
        lambda: notifier_sql(
            settings,
            "SELECT status, kind, body FROM messages WHERE recipient = $1 "
            "AND idempotency_key LIKE 'stop-confirmation:%'",
            phone,
        ),
        lambda found: [c["status"] for c in found] == ["sent"],
    )
    assert confirmations[0]["kind"] == "account" and "unsubscribed" in confirmations[0]["body"]
    replies = await notifier_sql(
        settings,
        "SELECT envelope FROM outbox WHERE topic = 'reply.received' AND event_key = $1",
        made["customerId"],
    )
    # The webhook came twice (same MessageSid): the reply is told once.
    assert [reply["envelope"]["payload"]["text"] for reply in replies] == ["STOP"]
    # A reply holding U+0000 could be stored by no one downstream: refused here, told nowhere.
    nul = {"From": phone, "Body": "paid\x00 today", "MessageSid": "SM" + uuid.uuid4().hex}
    refused = await client.post(path, data=nul, headers=twilio_signed(gateway_url, path, nul))
    assert refused.status_code == 400, refused.text
    assert refused.json()["details"] == "Text must not contain the NUL character (\\u0000)"
    assert len(await notifier_sql(settings, "SELECT 1 FROM outbox WHERE topic = 'reply.received' AND event_key = $1", made["customerId"])) == 1  # fmt: skip


async def test_delivery_callback_marks_the_message_delivered(
    client, gateway_url, settings, admin_token
):
    made = await campaign(
        client, admin_token, steps=[{"channel": "sms", "delay": "P0D"}], start=True
    )
    sent = await eventually(
        lambda: messages_of(client, admin_token, made["id"]),
        lambda m: len(m) == 1 and m[0]["status"] == "sent",
        timeout=45,
    )
    path = "/api/v1/webhooks/twilio/status"
    form = {"MessageSid": sent[0]["providerId"], "MessageStatus": "delivered"}
    answered = await client.post(path, data=form, headers=twilio_signed(gateway_url, path, form))
    assert answered.status_code == 204
    delivered = await client.get(f"/api/v1/messages/{sent[0]['id']}", headers=bearer(admin_token))
    assert delivered.json()["status"] == "delivered" and delivered.json()["deliveredAt"]


async def test_voice_needs_consent_and_call_input_becomes_a_reply(
    client, gateway_url, settings, admin_token
):
    from tests.campaign_helpers import customer

    owner = await customer(client, admin_token)
    steps = [{"channel": "voice", "delay": "P0D"}]
    refused_campaign = await campaign(
        client, admin_token, customerId=owner["id"], steps=steps, start=True
    )
    refused = await eventually(
        lambda: messages_of(client, admin_token, refused_campaign["id"]),
        lambda m: len(m) == 1 and m[0]["status"] == "failed",
    )
    assert "TCPA" in refused[0]["reason"]

    consent = await client.post(
        "/api/v1/consents",
        json={"recipient": owner["phone"], "source": "signed form"},
        headers=bearer(admin_token),
    )
    assert consent.status_code == 201
    second = await payment_for(client, admin_token, owner["id"])
    made = await campaign(
        client, admin_token, customerId=owner["id"], paymentId=second, steps=steps, start=True
    )
    call = (
        await eventually(
            lambda: messages_of(client, admin_token, made["id"]),
            lambda m: len(m) == 1 and m[0]["status"] == "sent",
        )
    )[0]
    path = "/api/v1/webhooks/twilio/voice/gather"
    form = {"CallSid": call["providerId"], "Digits": "1"}
    for _ in range(2):  # the same signed request replayed: answered alike, acted on once
        answered = await client.post(
            path, data=form, headers=twilio_signed(gateway_url, path, form)
        )
        assert answered.status_code == 200 and "<Say>" in answered.text
    replies = await notifier_sql(
        settings,
        "SELECT envelope FROM outbox WHERE topic = 'reply.received' AND event_key = $1",
        owner["id"],
    )
    assert [reply["envelope"]["payload"]["text"] for reply in replies] == ["I will pay"]
    talks = await notifier_sql(
        settings, "SELECT 1 FROM conversations WHERE recipient = $1", owner["phone"]
    )
    assert len(talks) == 1  # Regulation F's quiet week for this debt starts now


async def payment_for(client, token, customer_id):
    from tests.campaign_helpers import payment

    return (await payment(client, token, customer_id))["id"]
