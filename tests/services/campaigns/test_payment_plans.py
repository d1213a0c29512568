"""Payment plans on the debtor's portal: within the campaign's terms, the campaign waits while
the plan is kept, each instalment's link is sent on its day and paid through the provider, and
a missed instalment resumes the campaign from where it was. And the hours a debtor prefers."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.auth_helpers import bearer
from tests.campaign_helpers import campaign, campaigns_sql, pay_links_sent, runs_of
from tests.helpers import eventually, schema_sql
from tests.stripe_helpers import signed, stripe_event

pytestmark = pytest.mark.usefixtures("portal_budget")

TWO_STEPS = [{"channel": "email", "delay": "P0D"}, {"channel": "email", "delay": "P5D"}]
TERMS: dict[str, Any] = {"maxInstalments": 3, "minInstalment": "100.00", "firstWithinDays": 14}


async def _planned(client, token: str) -> tuple[dict[str, Any], str, date]:
    """A running campaign offering plans, its debtor's link, and the debtor's today."""
    made = await campaign(client, token, steps=TWO_STEPS, start=True, planTerms=TERMS)
    (link,) = await pay_links_sent(client, token, made["id"], 1)
    terms = (await client.get(f"/api/v1/portal/{link}")).json()["planTerms"]
    today = date.fromisoformat(terms["firstDateEarliest"])
    assert date.fromisoformat(terms["firstDateLatest"]) == today + timedelta(days=14)
    return made, link, today


async def _campaign(client, token: str, made: dict[str, Any]) -> dict[str, Any]:
    answer = await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(token))
    return dict(answer.json())


async def _plans(client, token: str, made: dict[str, Any]) -> list[dict[str, Any]]:
    answer = await client.get(f"/api/v1/payments/{made['paymentId']}/plans", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def _first_link_sent(settings, plan: dict[str, Any]) -> Any:
    """The message with the plan's first instalment's link, once the notifier sent it."""
    (first,) = await campaigns_sql(
        settings,
        "SELECT id FROM plan_instalments WHERE plan_id = $1 AND number = 1",
        uuid.UUID(plan["id"]),
    )
    (sent,) = await eventually(
        lambda: schema_sql(
            settings,
            "notifier",
            "SELECT channel, status, body, campaign_id FROM messages WHERE idempotency_key = $1",
            f"instalment-due:{first['id']}",
        ),
        lambda rows: len(rows) == 1 and rows[0]["status"] == "sent",
        timeout=30,
    )
    return sent


async def test_a_plan_pauses_the_campaign_and_its_instalments_are_linked_and_paid(
    client, admin_token, settings
):
    made, link, today = await _planned(client, admin_token)
    assert (await _campaign(client, admin_token, made))["planTerms"] == TERMS
    answer = await client.post(
        f"/api/v1/portal/{link}/plan",
        json={"instalments": 3, "firstDate": today.isoformat(), "every": "month"},
    )
    assert answer.status_code == 201, answer.text
    plan = answer.json()
    assert [i["amount"] for i in plan["instalments"]] == ["416.67", "416.67", "416.66"]
    assert plan["instalments"][0]["dueDate"] == today.isoformat()
    assert plan["status"] == "active" and plan["total"] == "1250.00"
    paused = await _campaign(client, admin_token, made)
    assert paused["status"] == "paused" and paused["pauseReason"] == "payment plan"
    assert paused["pausedUntil"] is None  # it waits for the plan, not for a date
    debt = (await client.get(f"/api/v1/portal/{link}")).json()
    assert debt["plan"]["id"] == plan["id"] and debt["planTerms"] is None
    again = await client.post(
        f"/api/v1/portal/{link}/plan", json={"instalments": 2, "firstDate": today.isoformat()}
    )
    assert again.status_code == 409

    # The first instalment falls due today: its link is sent once, through the notifier.
    sent = await _first_link_sent(settings, plan)
    assert link in sent["body"] and "416.67 EUR" in sent["body"] and sent["channel"] == "email"
    assert str(sent["campaign_id"]) == made["id"]  # on the campaign's timeline
    (listed,) = await _plans(client, admin_token, made)
    assert listed["instalments"][0]["linkedAt"] is not None
    assert listed["instalments"][1]["linkedAt"] is None  # not its day yet

    # The debtor pays the next instalment through the (simulated) provider.
    opened = await client.post(f"/api/v1/portal/{link}/checkout", json={"pay": "next_instalment"})
    assert opened.status_code == 201, opened.text
    checkout_id = opened.json()["checkoutUrl"].rsplit("/", 1)[1]
    seen = await client.get(f"/api/v1/portal/{link}/checkout/{checkout_id}")
    assert seen.status_code == 200, seen.text
    assert seen.json() == {
        "id": checkout_id,
        "amount": "416.67",
        "currency": "EUR",
        "status": "open",
        "instalmentNumber": 1,
    }
    paid = await client.post(f"/api/v1/portal/{link}/checkout/{checkout_id}/simulated-payment")
    assert paid.status_code == 201 and "416.67 EUR" in paid.json()["noted"]
    seen = await client.get(f"/api/v1/portal/{link}/checkout/{checkout_id}")
    assert seen.json()["status"] == "paid"
    unknown = await client.get(f"/api/v1/portal/{link}/checkout/{uuid.uuid4()}")
    assert unknown.status_code == 404
    (listed,) = await _plans(client, admin_token, made)
    assert [i["status"] for i in listed["instalments"]] == ["paid", "due", "due"]
    record = await client.get(f"/api/v1/payments/{made['paymentId']}", headers=bearer(admin_token))
    assert record.json()["amountPaid"] == "416.67"
    assert (await _campaign(client, admin_token, made))["status"] == "paused"

    # The last two paid: the record is paid, the plan completed, the campaign completed.
    for _ in range(2):
        opened = await client.post(
            f"/api/v1/portal/{link}/checkout", json={"pay": "next_instalment"}
        )
        checkout_id = opened.json()["checkoutUrl"].rsplit("/", 1)[1]
        await client.post(f"/api/v1/portal/{link}/checkout/{checkout_id}/simulated-payment")
    (listed,) = await _plans(client, admin_token, made)
    assert listed["status"] == "completed"
    assert (await _campaign(client, admin_token, made))["status"] == "completed"
    none_left = await client.post(
        f"/api/v1/portal/{link}/checkout", json={"pay": "next_instalment"}
    )
    assert none_left.status_code == 409


async def test_a_missed_instalment_resumes_the_campaign_from_where_it_was(
    client, admin_token, settings
):
    made, link, today = await _planned(client, admin_token)
    first = today + timedelta(days=7)
    answer = await client.post(
        f"/api/v1/portal/{link}/plan",
        json={"instalments": 2, "firstDate": first.isoformat(), "every": "two_weeks"},
    )
    assert answer.status_code == 201, answer.text
    assert [i["dueDate"] for i in answer.json()["instalments"]] == [
        first.isoformat(),
        (first + timedelta(days=14)).isoformat(),
    ]
    assert (await _campaign(client, admin_token, made))["status"] == "paused"
    before = await runs_of(settings, made["id"])
    # Its link sent on its day, then the grace days (PLAN_GRACE_DAYS, 3) passed, nothing paid.
    await campaigns_sql(
        settings,
        "UPDATE plan_instalments SET due_date = $2, linked_at = now() - interval '5 days' "
        "WHERE plan_id = $1 AND number = 1",
        uuid.UUID(answer.json()["id"]),
        today - timedelta(days=5),
    )
    resumed = await eventually(
        lambda: _campaign(client, admin_token, made),
        lambda state: state["status"] == "active",
        timeout=30,
    )
    assert resumed["pauseReason"] is None
    after = await runs_of(settings, made["id"])  # the pending step moved by the pause
    assert after[1]["status"] == "pending" and after[1]["due_at"] >= before[1]["due_at"]
    (listed,) = await _plans(client, admin_token, made)
    assert listed["status"] == "missed"
    assert [i["status"] for i in listed["instalments"]] == ["missed", "due"]
    # The debtor may set up another plan; the campaign waits again.
    debt = (await client.get(f"/api/v1/portal/{link}")).json()
    assert debt["plan"] is None and debt["planTerms"] is not None


async def test_a_plan_outside_the_campaigns_terms_is_refused(client, admin_token):
    made, link, today = await _planned(client, admin_token)
    refusals = {
        "between 2 and 3": {"instalments": 4, "firstDate": today.isoformat()},
        '"firstDate" must be between': {
            "instalments": 2,
            "firstDate": (today + timedelta(days=15)).isoformat(),
        },
    }
    for said, body in refusals.items():
        answer = await client.post(f"/api/v1/portal/{link}/plan", json=body)
        assert answer.status_code == 400, answer.text
        assert said in answer.json()["details"] and answer.json()["error"] == "Validation error"
    unknown = await client.post(
        f"/api/v1/portal/{link}/plan",
        json={"instalments": 2, "firstDate": today.isoformat(), "every": "day"},
    )
    assert unknown.status_code == 400
    # 1250.00 in 3 is 416.66 at the least: a minimum of 500.00 allows 2 instalments at most.
    strict = await campaign(
        client,
        admin_token,
        steps=TWO_STEPS,
        start=True,
        planTerms={**TERMS, "minInstalment": "500.00"},
    )
    (strict_link,) = await pay_links_sent(client, admin_token, strict["id"], 1)
    small = await client.post(
        f"/api/v1/portal/{strict_link}/plan",
        json={"instalments": 3, "firstDate": today.isoformat()},
    )
    assert small.status_code == 400 and "at least 500.00 EUR" in small.json()["details"]
    # A campaign without terms offers no plan.
    plain = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    (plain_link,) = await pay_links_sent(client, admin_token, plain["id"], 1)
    assert (await client.get(f"/api/v1/portal/{plain_link}")).json()["planTerms"] is None
    offered = await client.post(
        f"/api/v1/portal/{plain_link}/plan",
        json={"instalments": 2, "firstDate": today.isoformat()},
    )
    assert offered.status_code == 400 and "not offered" in offered.json()["details"]
    assert (await _campaign(client, admin_token, made))["status"] == "active"  # nothing made


async def test_an_operator_cancelling_a_plan_resumes_its_campaign(client, admin_token):
    made, link, today = await _planned(client, admin_token)
    none = await client.post(
        f"/api/v1/payments/{made['paymentId']}/plans/cancel", headers=bearer(admin_token)
    )
    assert none.status_code == 409
    await client.post(
        f"/api/v1/portal/{link}/plan",
        json={"instalments": 2, "firstDate": (today + timedelta(days=3)).isoformat()},
    )
    anonymous = await client.post(f"/api/v1/payments/{made['paymentId']}/plans/cancel")
    assert anonymous.status_code == 401
    cancelled = await client.post(
        f"/api/v1/payments/{made['paymentId']}/plans/cancel", headers=bearer(admin_token)
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["items"][0]["status"] == "cancelled"
    assert (await _campaign(client, admin_token, made))["status"] == "active"
    unknown = await client.get(
        f"/api/v1/payments/{uuid.uuid4()}/plans", headers=bearer(admin_token)
    )
    assert unknown.status_code == 404


async def test_a_failed_stripe_instalment_leaves_it_to_pay(client, admin_token, settings):
    made, link, today = await _planned(client, admin_token)
    plan = (
        await client.post(
            f"/api/v1/portal/{link}/plan",
            json={"instalments": 2, "firstDate": (today + timedelta(days=3)).isoformat()},
        )
    ).json()
    session_id = f"cs_test_{uuid.uuid4().hex}"
    rows = await campaigns_sql(
        settings,
        "SELECT l.id AS link_id, i.id AS instalment_id FROM pay_links l, plan_instalments i "
        "WHERE l.payment_id = $1 AND i.plan_id = $2 AND i.number = 1",
        uuid.UUID(made["paymentId"]),
        uuid.UUID(plan["id"]),
    )
    await campaigns_sql(
        settings,
        "INSERT INTO checkouts (id, payment_id, link_id, provider, provider_session_id, amount, "
        "currency, instalment_id) VALUES ($1, $2, $3, 'stripe', $4, 625.00, 'EUR', $5)",
        uuid.uuid4(), uuid.UUID(made["paymentId"]), rows[0]["link_id"], session_id,
        rows[0]["instalment_id"],
    )  # fmt: skip
    for event_type, status in (
        ("checkout.session.async_payment_failed", "unpaid"),
        ("checkout.session.completed", "paid"),
    ):
        body, signature = signed(
            stripe_event(
                event_type,
                {"id": session_id, "payment_status": status, "amount_total": 62500,
                 "currency": "eur", "payment_intent": "pi_instalment"},
            )
        )  # fmt: skip
        answer = await client.post(
            "/api/v1/payments/webhooks/stripe", content=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )  # fmt: skip
        assert answer.status_code == 200
        (listed,) = await _plans(client, admin_token, made)
        if status == "unpaid":  # the instalment is still to pay; the plan and the pause stand
            assert [i["status"] for i in listed["instalments"]] == ["due", "due"]
            assert listed["status"] == "active"
    assert [i["status"] for i in listed["instalments"]] == ["paid", "due"]
    assert (await _campaign(client, admin_token, made))["status"] == "paused"


async def test_the_debtors_hours_are_kept_within_the_legal_window(client, admin_token):
    made, link, _ = await _planned(client, admin_token)
    debt = (await client.get(f"/api/v1/portal/{link}")).json()
    assert (debt["windowOpens"], debt["windowCloses"]) == ("08:00:00", "21:00:00")
    refusals = {
        "Choose hours between 08:00 and 21:00": {"contactFrom": "06:00", "contactUntil": "09:00"},
        "without a time zone offset": {"contactFrom": "09:00Z", "contactUntil": "17:00+02:00"},
        "go together": {"contactFrom": "10:00", "contactUntil": None},
        "at least an hour": {"contactFrom": "10:00", "contactUntil": "10:30"},
    }
    for said, body in refusals.items():
        answer = await client.post(f"/api/v1/portal/{link}/contact-hours", json=body)
        assert answer.status_code == 400 and said in answer.json()["details"], answer.text
    chosen = await client.post(
        f"/api/v1/portal/{link}/contact-hours",
        json={"contactFrom": "18:00", "contactUntil": "20:00"},
    )
    assert chosen.status_code == 201 and "between 18:00 and 20:00" in chosen.json()["noted"]
    customer = await client.get(
        f"/api/v1/customers/{made['customerId']}", headers=bearer(admin_token)
    )
    assert (customer.json()["contactFrom"], customer.json()["contactUntil"]) == (
        "18:00:00",
        "20:00:00",
    )
    cleared = await client.post(
        f"/api/v1/portal/{link}/contact-hours", json={"contactFrom": None, "contactUntil": None}
    )
    assert cleared.status_code == 201 and "any time" in cleared.json()["noted"]
    debt = (await client.get(f"/api/v1/portal/{link}")).json()
    assert debt["contactFrom"] is None


async def test_money_recorded_by_hand_pays_the_instalments_it_covers(client, admin_token, settings):
    made, link, today = await _planned(client, admin_token)
    await client.post(
        f"/api/v1/portal/{link}/plan",
        json={"instalments": 3, "firstDate": (today + timedelta(days=2)).isoformat()},
    )
    for amount, statuses in (
        ("500.00", ["paid", "due", "due"]),
        ("333.34", ["paid"] * 2 + ["due"]),
    ):
        receipt = await client.post(
            f"/api/v1/payments/{made['paymentId']}/receipts",
            json={"amount": amount},
            headers=bearer(admin_token),
        )
        assert receipt.status_code == 201, receipt.text
        (listed,) = await _plans(client, admin_token, made)
        assert [i["status"] for i in listed["instalments"]] == statuses
    # A plan is kept: no other campaign may chase the same invoice meanwhile.
    other = await campaign(
        client, admin_token, customerId=made["customerId"], paymentId=made["paymentId"]
    )
    refused = await client.post(
        f"/api/v1/campaigns/{other['id']}/start", headers=bearer(admin_token)
    )
    assert refused.status_code == 422 and "payment plan" in refused.json()["details"]
    await client.post(
        f"/api/v1/payments/{made['paymentId']}/receipts",
        json={"amount": "416.66"},
        headers=bearer(admin_token),
    )
    (listed,) = await _plans(client, admin_token, made)
    assert listed["status"] == "completed"
    assert (await _campaign(client, admin_token, made))["status"] == "completed"


async def test_a_dispute_ends_the_plan_and_an_operators_pause_outlasts_it(client, admin_token):
    made, link, today = await _planned(client, admin_token)
    paused = await client.post(
        f"/api/v1/campaigns/{made['id']}/pause",
        json={"reason": "checking the invoice"},
        headers=bearer(admin_token),
    )
    assert paused.status_code == 200, paused.text
    await client.post(
        f"/api/v1/portal/{link}/plan",
        json={"instalments": 2, "firstDate": (today + timedelta(days=2)).isoformat()},
    )
    kept = await _campaign(client, admin_token, made)
    assert kept["pauseReason"] == "checking the invoice"  # the operator's pause stands
    await client.post(
        f"/api/v1/payments/{made['paymentId']}/plans/cancel", headers=bearer(admin_token)
    )
    assert (await _campaign(client, admin_token, made))["status"] == "paused"

    disputed, link, today = await _planned(client, admin_token)
    await client.post(
        f"/api/v1/portal/{link}/plan",
        json={"instalments": 2, "firstDate": (today + timedelta(days=2)).isoformat()},
    )
    answer = await client.post(f"/api/v1/portal/{link}/dispute", json={"reason": "wrong_amount"})
    assert answer.status_code == 201
    (listed,) = await _plans(client, admin_token, disputed)
    assert listed["status"] == "cancelled"  # no instalment links while a person looks
    state = await _campaign(client, admin_token, disputed)
    assert state["flagged"] and state["pauseReason"] == "dispute"


async def test_an_instalments_link_goes_by_sms_when_email_is_stopped(client, admin_token, settings):
    _, link, today = await _planned(client, admin_token)
    stopped = await client.post(f"/api/v1/portal/{link}/stop", json={"channel": "email"})
    assert stopped.status_code == 201
    await eventually(
        lambda: client.get(
            "/api/v1/suppressions", params={"q": "@acme"}, headers=bearer(admin_token)
        ),
        lambda answer: any(
            entry["recipient"].startswith("ap-") and entry["channel"] == "email"
            for entry in answer.json()["items"]
        ),
    )
    plan = (
        await client.post(
            f"/api/v1/portal/{link}/plan",
            json={"instalments": 2, "firstDate": today.isoformat()},
        )
    ).json()
    assert (await _first_link_sent(settings, plan))["channel"] == "sms"


async def test_an_instalments_link_waits_for_the_debtors_hours(client, admin_token, settings):
    made, link, today = await _planned(client, admin_token)
    customer = (
        await client.get(f"/api/v1/customers/{made['customerId']}", headers=bearer(admin_token))
    ).json()
    local_hour = datetime.now(ZoneInfo(customer["timezone"])).hour
    hours = ("08:00", "09:00") if local_hour >= 10 else ("19:00", "20:00")
    chosen = await client.post(
        f"/api/v1/portal/{link}/contact-hours",
        json={"contactFrom": hours[0], "contactUntil": hours[1]},
    )
    assert chosen.status_code == 201
    plan = (
        await client.post(
            f"/api/v1/portal/{link}/plan", json={"instalments": 2, "firstDate": today.isoformat()}
        )
    ).json()
    (waiting,) = await eventually(
        lambda: campaigns_sql(
            settings,
            "SELECT linked_at, link_after FROM plan_instalments WHERE plan_id = $1 AND number = 1",
            uuid.UUID(plan["id"]),
        ),
        lambda rows: rows[0]["link_after"] is not None,
        timeout=30,
    )
    assert waiting["linked_at"] is None
    opening = waiting["link_after"].astimezone(ZoneInfo(customer["timezone"]))
    assert opening.strftime("%H:%M") == hours[0]
