"""The debtor's portal as a page: what is owed, and the promise and dispute forms with the
API's refusals beside their fields; a form from elsewhere changes nothing."""

from __future__ import annotations

from datetime import date, timedelta

from tests.auth_helpers import bearer
from tests.campaign_helpers import campaign, pay_links_sent
from tests.console_helpers import form_token

TWO_STEPS = [{"channel": "email", "delay": "P0D"}, {"channel": "email", "delay": "P5D"}]


async def test_a_debtor_promises_a_date_from_the_page(console, client, admin_token):
    made = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    (token,) = await pay_links_sent(client, admin_token, made["id"], 1)
    page = await console.get(f"/pay/{token}")
    assert page.status_code == 200 and 'id="promise"' in page.text and 'id="dispute"' in page.text
    assert "remit_portal_form" in console.cookies
    too_late = (date.today() + timedelta(days=90)).isoformat()
    refused = await console.post(
        f"/pay/{token}/promise", data={"csrf": form_token(page.text), "promisedDate": too_late}
    )
    assert refused.status_code == 400 and 'id="promise-promisedDate-error"' in refused.text
    assert f'value="{too_late}"' in refused.text  # what was typed is kept
    friday = (date.today() + timedelta(days=4)).isoformat()
    noted = await console.post(
        f"/pay/{token}/promise", data={"csrf": form_token(page.text), "promisedDate": friday}
    )
    assert noted.status_code == 303
    thanked = await console.get(noted.headers["location"])
    assert f"Your promise to pay by {friday} is recorded" in thanked.text
    state = await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
    assert state.json()["status"] == "paused"


async def test_a_debtor_disputes_from_the_page(console, client, admin_token):
    made = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    (token,) = await pay_links_sent(client, admin_token, made["id"], 1)
    page = await console.get(f"/pay/{token}")
    assert "The amount is wrong" in page.text  # the reasons the API offers
    noted = await console.post(
        f"/pay/{token}/dispute",
        data={"csrf": form_token(page.text), "reason": "already_paid", "details": "Paid 3 Dec"},
    )
    assert noted.status_code == 303
    state = await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
    assert state.json()["status"] == "paused" and state.json()["flagged"] is True


async def test_a_portal_form_from_elsewhere_changes_nothing(console, client, admin_token):
    made = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    (token,) = await pay_links_sent(client, admin_token, made["id"], 1)
    forged = await console.post(f"/pay/{token}/dispute", data={"csrf": "x", "reason": "other"})
    assert forged.status_code == 403
    state = await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
    assert state.json()["status"] == "active"


async def test_a_debtor_stops_calls_from_the_page(console, client, admin_token):
    made = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    (token,) = await pay_links_sent(client, admin_token, made["id"], 1)
    page = await console.get(f"/pay/{token}")
    noted = await console.post(
        f"/pay/{token}/stop", data={"csrf": form_token(page.text), "channel": "voice"}
    )
    assert noted.status_code == 303
    thanked = await console.get(noted.headers["location"])
    assert "We will send no more calls to you" in thanked.text


async def test_a_debtor_pays_in_full_through_the_simulated_provider(console, client, admin_token):
    made = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    (token,) = await pay_links_sent(client, admin_token, made["id"], 1)
    page = await console.get(f"/pay/{token}")
    assert "https://checkout.stripe.com" in page.headers["content-security-policy"]
    onward = await console.post(f"/pay/{token}/checkout", data={"csrf": form_token(page.text)})
    assert onward.status_code == 303 and f"/pay/{token}/checkout/" in onward.headers["location"]
    checkout = await console.get(onward.headers["location"])
    assert 'id="checkout-amount">1250.00 EUR<' in checkout.text
    paid = await console.post(onward.headers["location"], data={"csrf": form_token(checkout.text)})
    assert paid.status_code == 303
    thanked = await console.get(paid.headers["location"])
    assert "Payment of 1250.00 EUR received" in thanked.text
    assert 'id="pay-now"' not in thanked.text and 'id="outstanding">0.00 EUR<' in thanked.text
    state = await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
    assert state.json()["status"] == "completed"


async def test_a_link_of_another_shape_never_reaches_the_api(console):
    for odd in ("x" * 39, "%2E%2E", "abc?x=1", "A" * 22 + "." + "B" * 15 + "="):
        answer = await console.get(f"/pay/{odd}")
        assert answer.status_code in (400, 404), odd
