"""The debtor's link: every message carries it, it opens the portal on what is owed (through
the API and as a page), and an altered, expired, revoked or overused link is refused."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.auth_helpers import bearer
from tests.campaign_helpers import campaign, campaigns_sql, pay_links_sent
from tests.helpers import eventually

pytestmark = pytest.mark.usefixtures("portal_budget")


def _holding(part: str) -> Callable[[str], bool]:
    return lambda text: part in text


def _reader(log: Path) -> Callable[[], Awaitable[str]]:
    async def read() -> str:
        return log.read_text()

    return read


async def test_every_message_carries_the_same_link_and_it_opens_the_debt(
    client, admin_token, platform
):
    steps = [{"channel": "email", "delay": "P0D"}, {"channel": "sms", "delay": "PT1S"}]
    made = await campaign(client, admin_token, steps=steps, start=True)
    tokens = await pay_links_sent(client, admin_token, made["id"], 2)
    assert len(set(tokens)) == 1  # one live link per payment record, in every message
    debt = await client.get(f"/api/v1/portal/{tokens[0]}")  # no sign-in: the link is the key
    assert debt.status_code == 200, debt.text
    body: dict[str, Any] = debt.json()
    assert body["outstanding"] == "1250.00" and body["currency"] == "EUR"
    assert body["itemization"]["amountThen"] == "1250.00"
    assert body["itemization"]["paymentsSince"] == "0.00"
    assert body["creditor"] and body["invoiceNumber"].startswith("INV-")
    page = await client.get(f"/pay/{tokens[0]}")
    assert page.status_code == 200 and 'id="outstanding">1250.00 EUR<' in page.text
    assert 'id="itemization"' in page.text
    # The link is a credential: the services' logs keep the path without it.
    for service, path in (("campaigns", "/api/v1/portal/<token>"), ("console", "/pay/<token>")):
        log = Path(platform.log_dir) / f"{service}.log"
        await eventually(_reader(log), _holding(path))
        assert tokens[0] not in log.read_text(), service


async def test_an_altered_or_made_up_link_is_not_found(client, admin_token):
    made = await campaign(client, admin_token, start=True)
    (token,) = await pay_links_sent(client, admin_token, made["id"], 1)
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    made_up = f"{uuid.uuid4().hex[:22]}.{uuid.uuid4().hex[:16]}"
    for refused in (altered, made_up, "x", "a" * 64):
        answer = await client.get(f"/api/v1/portal/{refused}")
        assert answer.status_code == 404, (refused, answer.text)
        assert answer.json()["error"] == "Not Found"
        assert answer.json()["details"].startswith("This link is not valid")
    page = await client.get(f"/pay/{altered}")
    assert page.status_code == 404 and "This link is not valid" in page.text


async def test_an_expired_or_revoked_link_is_gone(client, admin_token, settings):
    made = await campaign(client, admin_token, start=True)
    (token,) = await pay_links_sent(client, admin_token, made["id"], 1)
    assert (await client.get(f"/api/v1/portal/{token}")).status_code == 200
    opened = await client.post(f"/api/v1/portal/{token}/checkout")
    checkout_id = uuid.UUID(opened.json()["checkoutUrl"].rsplit("/", 1)[1])
    revoked = await client.delete(
        f"/api/v1/payments/{made['paymentId']}/pay-links", headers=bearer(admin_token)
    )
    assert revoked.status_code == 200 and revoked.json() == {"revoked": 1, "checkoutsEnded": 1}
    (ended,) = await campaigns_sql(
        settings, "SELECT status FROM checkouts WHERE id = $1", checkout_id
    )
    assert ended["status"] == "expired"  # not payable through its address any more
    gone = await client.get(f"/api/v1/portal/{token}")
    assert gone.status_code == 410 and gone.json()["details"].startswith("This link has expired")
    page = await client.get(f"/pay/{token}")
    assert page.status_code == 410 and "This link has expired" in page.text

    other = await campaign(client, admin_token, start=True)
    (second,) = await pay_links_sent(client, admin_token, other["id"], 1)
    await campaigns_sql(
        settings,
        "UPDATE pay_links SET expires_at = now() - interval '1 second' WHERE payment_id = $1",
        uuid.UUID(other["paymentId"]),
    )
    assert (await client.get(f"/api/v1/portal/{second}")).status_code == 410


async def test_revoking_needs_the_payments_permission(client, admin_token):
    made = await campaign(client, admin_token)
    unknown = await client.delete(
        f"/api/v1/payments/{uuid.uuid4()}/pay-links", headers=bearer(admin_token)
    )
    assert unknown.status_code == 404
    anonymous = await client.delete(f"/api/v1/payments/{made['paymentId']}/pay-links")
    assert anonymous.status_code == 401


async def test_a_promise_on_the_portal_pauses_the_campaign_until_that_day(client, admin_token):
    steps = [{"channel": "email", "delay": "P0D"}, {"channel": "email", "delay": "P5D"}]
    made = await campaign(client, admin_token, steps=steps, start=True)
    (token,) = await pay_links_sent(client, admin_token, made["id"], 1)
    owner = await client.get(f"/api/v1/customers/{made['customerId']}", headers=bearer(admin_token))
    # The debtor's today, where they live: the machine's date differs from it around midnight.
    today = datetime.now(ZoneInfo(owner.json()["timezone"])).date()
    for refused in (today - timedelta(days=1), today + timedelta(days=61)):
        late = await client.post(
            f"/api/v1/portal/{token}/promise", json={"promisedDate": refused.isoformat()}
        )
        assert late.status_code == 400
        assert late.json()["details"].startswith('"promisedDate" must be between')
    friday = (today + timedelta(days=4)).isoformat()
    noted = await client.post(f"/api/v1/portal/{token}/promise", json={"promisedDate": friday})
    assert noted.status_code == 201 and friday in noted.json()["noted"]
    state = (
        await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
    ).json()
    assert state["status"] == "paused" and state["pauseReason"] == "promise to pay"
    assert state["pausedUntil"] is not None
    said = await client.get(f"/api/v1/campaigns/{made['id']}/replies", headers=bearer(admin_token))
    (reply,) = said.json()["items"]
    assert reply["channel"] == "portal" and reply["intent"] == "promise_to_pay"
    assert reply["promisedDate"] == friday


async def test_a_dispute_on_the_portal_pauses_flags_and_goes_to_a_person(client, admin_token):
    steps = [{"channel": "email", "delay": "P0D"}, {"channel": "email", "delay": "P5D"}]
    made = await campaign(client, admin_token, steps=steps, start=True)
    (token,) = await pay_links_sent(client, admin_token, made["id"], 1)
    unknown = await client.post(f"/api/v1/portal/{token}/dispute", json={"reason": "bored"})
    assert unknown.status_code == 400
    noted = await client.post(
        f"/api/v1/portal/{token}/dispute",
        json={"reason": "wrong_amount", "details": "We were charged twice for March"},
    )
    assert noted.status_code == 201, noted.text
    state = (
        await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
    ).json()
    assert state["status"] == "paused" and state["flagged"] is True
    assert state["pauseReason"] == "dispute"
    tasks = await eventually(
        lambda: client.get(
            "/api/v1/tasks", params={"campaignId": made["id"], "channel": "human"},
            headers=bearer(admin_token),
        ),
        lambda answer: answer.json()["total"] == 1,
    )  # fmt: skip
    (task,) = tasks.json()["items"]
    said = await client.get(f"/api/v1/campaigns/{made['id']}/replies", headers=bearer(admin_token))
    (reply,) = said.json()["items"]
    assert reply["text"] == "The amount is wrong: We were charged twice for March"
    assert task["channel"] == "human"


async def test_stopping_sms_on_the_portal_suppresses_the_number_and_skips_its_steps(
    client, admin_token
):
    steps = [{"channel": "email", "delay": "P0D"}, {"channel": "sms", "delay": "P3D"},
             {"channel": "email", "delay": "P5D"}]  # fmt: skip
    made = await campaign(client, admin_token, steps=steps, start=True)
    (token,) = await pay_links_sent(client, admin_token, made["id"], 1)
    wrong = await client.post(f"/api/v1/portal/{token}/stop", json={"channel": "fax"})
    assert wrong.status_code == 400
    noted = await client.post(f"/api/v1/portal/{token}/stop", json={"channel": "sms"})
    assert noted.status_code == 201 and "text messages" in noted.json()["noted"]
    schedule = await client.get(
        f"/api/v1/campaigns/{made['id']}/schedule", headers=bearer(admin_token)
    )
    by_channel = {step["channel"]: step for step in schedule.json()["items"][1:]}
    assert by_channel["sms"]["status"] == "skipped"
    assert by_channel["email"]["status"] == "pending"  # the other channels go on
    customer = await client.get(
        f"/api/v1/customers/{made['customerId']}", headers=bearer(admin_token)
    )
    checked = await eventually(
        lambda: client.get(
            "/api/v1/suppressions/check", params={"recipient": customer.json()["phone"]},
            headers=bearer(admin_token),
        ),
        lambda answer: answer.json()["suppressed"],
    )  # fmt: skip
    assert checked.json()["channels"] == ["sms"]


async def test_a_dispute_on_the_portal_is_about_its_invoice_alone(client, admin_token):
    steps = [{"channel": "email", "delay": "P0D"}, {"channel": "email", "delay": "P5D"}]
    disputed = await campaign(client, admin_token, steps=steps, start=True)
    other = await campaign(
        client, admin_token, steps=steps, start=True, customerId=disputed["customerId"]
    )
    (token,) = await pay_links_sent(client, admin_token, disputed["id"], 1)
    await pay_links_sent(client, admin_token, other["id"], 1)
    noted = await client.post(f"/api/v1/portal/{token}/dispute", json={"reason": "not_mine"})
    assert noted.status_code == 201
    states = {
        made["id"]: (
            await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
        ).json()["status"]
        for made in (disputed, other)
    }
    assert states == {disputed["id"]: "paused", other["id"]: "active"}


async def test_one_address_trying_links_is_stopped(client):
    made_up = f"{uuid.uuid4().hex[:22]}.{uuid.uuid4().hex[:16]}"
    answers = [(await client.get(f"/api/v1/portal/{made_up}")).status_code for _ in range(70)]
    assert 429 in answers and set(answers) <= {404, 429}
    refused = await client.get(f"/api/v1/portal/{made_up}")
    assert refused.status_code == 429 and refused.json()["error"] == "Too Many Requests"
