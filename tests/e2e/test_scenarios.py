"""The product end to end, through the gateway: every service a separate process on the real
embedded stack, SMS and calls to a fake Twilio, email to the SMTP sink, and the platform clock
moved forward so that days pass in seconds."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.agents_helpers import human_agent, tasks_of
from tests.auth_helpers import bearer
from tests.campaign_helpers import campaign, payment, runs_of
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.e2e.platform_helpers import (
    advance_clock,
    campaign_state,
    daytime_customer,
    mail_to,
    platform_now,
    sent_messages,
    twilio_requests,
)
from tests.helpers import eventually, twilio_signed
from tests.notifier_helpers import messages_of

DAY = timedelta(days=1)


async def _inbound_sms(client, gateway_url: str, sender: str, text: str) -> None:
    path = "/api/v1/webhooks/twilio/sms"
    form = {"From": sender, "Body": text, "MessageSid": f"SM{abs(hash((sender, text))):032d}"}
    answered = await client.post(path, data=form, headers=twilio_signed(gateway_url, path, form))
    assert answered.status_code == 200, answered.text


async def test_1_every_channel_from_email_to_a_person_then_the_campaign_completes(
    client, platform, twilio
):
    login = await client.post(
        "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert login.status_code == 200, login.text
    token = login.json()["accessToken"]
    _, person_token = await human_agent(client, token)
    owner = await daytime_customer(client, token)
    consent = await client.post(
        "/api/v1/consents",
        json={"recipient": owner["phone"], "source": "signed agreement"},
        headers=bearer(token),
    )
    assert consent.status_code == 201, consent.text
    bill = await payment(client, token, owner["id"])
    steps = [
        {"channel": "email", "delay": "P0D"},
        {"channel": "sms", "delay": "P1D"},
        {"channel": "voice", "delay": "P2D"},
        {"channel": "human", "delay": "P3D"},
    ]
    made = await campaign(
        client, token, steps=steps, customerId=owner["id"], paymentId=bill["id"], start=True
    )

    mail = await eventually(
        lambda: mail_to(platform.state_dir, owner["email"]), lambda found: len(found) == 1
    )
    assert bill["invoiceNumber"] in mail[0].as_string()

    await advance_clock(client, token, DAY)
    sms = await eventually(
        lambda: twilio_requests(twilio, "Messages", owner["phone"]), lambda found: len(found) == 1
    )
    assert "STOP" in sms[0]["Body"]  # the opt-out line every SMS carries

    await advance_clock(client, token, DAY)
    call = await eventually(
        lambda: twilio_requests(twilio, "Calls", owner["phone"]), lambda found: len(found) == 1
    )
    assert "<Gather" in call[0]["Twiml"] and "<Say" in call[0]["Twiml"]

    await advance_clock(client, token, DAY)
    mine = await eventually(
        lambda: client.get(
            f"/api/v1/tasks?assignee=me&campaignId={made['id']}", headers=bearer(person_token)
        ),
        lambda response: len(response.json()["items"]) == 1,
    )
    task = mine.json()["items"][0]
    assert task["channel"] == "human"
    claimed = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=bearer(person_token))
    assert claimed.status_code == 200, claimed.text
    done = await client.post(
        f"/api/v1/tasks/{task['id']}/complete",
        json={"outcome": "other", "note": "Spoke to accounts payable"},
        headers=bearer(person_token),
    )
    assert done.status_code == 200, done.text

    final = await eventually(
        lambda: campaign_state(client, token, made["id"]),
        lambda state: state["status"] == "completed",
    )
    assert final["endedAt"]
    sent = await messages_of(client, token, made["id"])
    assert sorted((m["channel"], m["status"], m["simulated"]) for m in sent) == [
        ("email", "sent", False),
        ("sms", "sent", False),
        ("voice", "sent", False),
    ]


async def test_2_a_payment_mid_campaign_cancels_the_remaining_steps(
    client, admin_token, settings, twilio
):
    owner = await daytime_customer(client, admin_token)
    bill = await payment(client, admin_token, owner["id"], amount="400.00")
    steps = [{"channel": "email", "delay": "P0D"}, {"channel": "sms", "delay": "P1D"}]
    made = await campaign(
        client, admin_token, steps=steps, customerId=owner["id"], paymentId=bill["id"], start=True
    )
    # A second customer's SMS falls due at the same time: once it is sent, the platform has
    # passed the moment the paid campaign's SMS would have gone.
    witness = await campaign(
        client, admin_token, steps=[{"channel": "sms", "delay": "P1D"}], start=True
    )
    await sent_messages(client, admin_token, made["id"], 1)
    await eventually(
        lambda: runs_of(settings, made["id"]), lambda runs: runs[0]["status"] == "completed"
    )

    receipt = await client.post(
        f"/api/v1/payments/{bill['id']}/receipts",
        json={"amount": "400.00", "reference": "bank transfer"},
        headers=bearer(admin_token),
    )
    assert receipt.status_code == 201 and receipt.json()["status"] == "paid", receipt.text
    assert (await campaign_state(client, admin_token, made["id"]))["status"] == "completed"
    assert [r["status"] for r in await runs_of(settings, made["id"])] == [
        "completed",
        "cancelled",
    ]

    await advance_clock(client, admin_token, DAY)
    await sent_messages(client, admin_token, witness["id"], 1)
    assert [m["channel"] for m in await messages_of(client, admin_token, made["id"])] == ["email"]
    assert await twilio_requests(twilio, "Messages", owner["phone"]) == []


async def test_3a_stop_suppresses_further_sms(client, gateway_url, admin_token, settings, twilio):
    owner = await daytime_customer(client, admin_token)
    steps = [{"channel": "sms", "delay": "P0D"}, {"channel": "sms", "delay": "P1D"}]
    made = await campaign(client, admin_token, steps=steps, customerId=owner["id"], start=True)
    await sent_messages(client, admin_token, made["id"], 1)

    await _inbound_sms(client, gateway_url, owner["phone"], "STOP")
    # The opt-out reaches the campaign, which skips its SMS steps from then on (the notifier's
    # suppression list, in place at once, stops any SMS already on its way).
    runs = await eventually(
        lambda: runs_of(settings, made["id"]), lambda found: found[1]["status"] == "skipped"
    )
    assert "opt" in runs[1]["outcome"].lower()
    await advance_clock(client, admin_token, DAY)
    await eventually(
        lambda: campaign_state(client, admin_token, made["id"]),
        lambda state: state["status"] == "completed",
    )
    assert [m["status"] for m in await messages_of(client, admin_token, made["id"])] == ["sent"]
    check = await client.get(
        "/api/v1/suppressions/check",
        params={"recipient": owner["phone"]},
        headers=bearer(admin_token),
    )
    assert check.json()["suppressed"] is True and "sms" in check.json()["channels"]
    # The first reminder and the one opt-out confirmation; nothing after the STOP.
    sms = await eventually(
        lambda: twilio_requests(twilio, "Messages", owner["phone"]), lambda found: len(found) >= 2
    )
    assert len(sms) == 2 and "unsubscribed" in sms[1]["Body"].lower()


async def _held_back(client, token, settings, campaign_id: str) -> None:
    """The campaign's second step is overdue by the platform clock, yet neither emitted nor
    sent: a paused campaign sends nothing."""
    await asyncio.sleep(1)  # a few scheduler passes at the new time
    second = (await runs_of(settings, campaign_id))[1]
    assert second["status"] == "pending"
    assert second["due_at"] < await platform_now(client, token)
    assert len(await messages_of(client, token, campaign_id)) == 1


async def test_3b_a_promise_to_pay_on_friday_pauses_the_campaign_until_then(
    client, gateway_url, admin_token, settings
):
    owner = await daytime_customer(client, admin_token)
    zone = ZoneInfo(owner["timezone"])
    steps = [{"channel": "sms", "delay": "P0D"}, {"channel": "email", "delay": "P1D"}]
    made = await campaign(client, admin_token, steps=steps, customerId=owner["id"], start=True)
    await sent_messages(client, admin_token, made["id"], 1)

    await _inbound_sms(client, gateway_url, owner["phone"], "I'll pay on Friday")
    paused = await eventually(
        lambda: campaign_state(client, admin_token, made["id"]),
        lambda state: state["status"] == "paused",
    )
    until = datetime.fromisoformat(paused["pausedUntil"]).astimezone(zone)
    now = (await platform_now(client, admin_token)).astimezone(zone)
    # Quiet through Friday: the pause ends as Saturday begins where the customer lives.
    assert (until.weekday(), until.hour, until.minute) == (5, 0, 0)
    assert timedelta(0) < until - now <= timedelta(days=8)

    # An hour before the pause ends (at least 34 h on, past the email's own due time):
    await advance_clock(client, admin_token, until - now - timedelta(hours=1))
    await _held_back(client, admin_token, settings, made["id"])
    assert (await campaign_state(client, admin_token, made["id"]))["status"] == "paused"

    await advance_clock(client, admin_token, timedelta(hours=2))
    await eventually(
        lambda: campaign_state(client, admin_token, made["id"]),
        lambda state: state["status"] == "active",
    )
    # The pending email moved later by the time spent paused (to Sunday 01:00, so into the
    # morning): by Sunday 10:00 it has gone out.
    await advance_clock(client, admin_token, DAY + timedelta(hours=9))
    sent = await sent_messages(client, admin_token, made["id"], 2)
    assert {m["channel"] for m in sent} == {"sms", "email"}


async def test_3c_a_dispute_pauses_the_campaign_and_asks_a_person(
    client, gateway_url, admin_token, settings
):
    owner = await daytime_customer(client, admin_token)
    steps = [{"channel": "sms", "delay": "P0D"}, {"channel": "email", "delay": "P1D"}]
    made = await campaign(client, admin_token, steps=steps, customerId=owner["id"], start=True)
    await sent_messages(client, admin_token, made["id"], 1)

    await _inbound_sms(client, gateway_url, owner["phone"], "I dispute this, we never received it")
    paused = await eventually(
        lambda: campaign_state(client, admin_token, made["id"]),
        lambda state: state["status"] == "paused",
    )
    assert paused["flagged"] is True
    tasks = await eventually(
        lambda: tasks_of(client, admin_token, made["id"]),
        lambda found: any(task["channel"] == "human" for task in found),
    )
    review = next(task for task in tasks if task["channel"] == "human")
    assert review["step"]["reply"]["intent"] == "dispute"
    await advance_clock(client, admin_token, 2 * DAY)
    await _held_back(client, admin_token, settings, made["id"])


async def test_4_a_step_falling_in_the_night_goes_out_next_morning_local_time(
    client, admin_token, settings, twilio
):
    owner = await daytime_customer(client, admin_token)
    zone = ZoneInfo(owner["timezone"])
    started = (await platform_now(client, admin_token)).astimezone(zone)
    # Twelve hours after early afternoon is the middle of the customer's night.
    made = await campaign(
        client,
        admin_token,
        steps=[{"channel": "sms", "delay": "PT12H"}],
        customerId=owner["id"],
        start=True,
    )
    due = (await runs_of(settings, made["id"]))[0]["due_at"].astimezone(zone)
    assert (due.date(), due.hour, due.minute) == (started.date() + DAY, 8, 0)

    now = await platform_now(client, admin_token)
    await advance_clock(client, admin_token, due - now - timedelta(minutes=10))
    await asyncio.sleep(1)  # a few scheduler passes
    assert await twilio_requests(twilio, "Messages", owner["phone"]) == []

    await advance_clock(client, admin_token, timedelta(minutes=11))
    await eventually(
        lambda: twilio_requests(twilio, "Messages", owner["phone"]), lambda found: len(found) == 1
    )
    sent = (await sent_messages(client, admin_token, made["id"], 1))[0]
    at = datetime.fromisoformat(sent["sentAt"]).astimezone(zone)
    assert (at.date(), at.hour) == (started.date() + DAY, 8)
