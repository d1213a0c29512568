"""The debtor's portal as a page: what is owed, the promise, dispute, payment plan and contact
hours forms with the API's refusals beside their fields, paying in full or an instalment; a
form from elsewhere changes nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.auth_helpers import bearer
from tests.campaign_helpers import campaign, pay_links_sent
from tests.console_helpers import form_token

pytestmark = pytest.mark.usefixtures("portal_budget")

TWO_STEPS = [{"channel": "email", "delay": "P0D"}, {"channel": "email", "delay": "P5D"}]
PLAN_TERMS = {"maxInstalments": 3, "minInstalment": "100.00", "firstWithinDays": 14}


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


async def test_a_debtor_sets_up_a_plan_and_pays_its_first_instalment(console, client, admin_token):
    made = await campaign(client, admin_token, steps=TWO_STEPS, start=True, planTerms=PLAN_TERMS)
    (token,) = await pay_links_sent(client, admin_token, made["id"], 1)
    page = await console.get(f"/pay/{token}")
    latest = (await client.get(f"/api/v1/portal/{token}")).json()["planTerms"]["firstDateLatest"]
    assert 'id="plan"' in page.text and f'max="{latest}"' in page.text
    assert ">Every two weeks<" in page.text  # how often, as people say it
    plan = {"csrf": form_token(page.text), "firstDate": latest, "every": "month"}
    too_many = await console.post(f"/pay/{token}/plan", data={**plan, "instalments": "4"})
    assert too_many.status_code == 400 and 'id="plan-instalments-error"' in too_many.text
    assert "must be between 2 and 3" in too_many.text and f'value="{latest}"' in too_many.text
    set_up = await console.post(f"/pay/{token}/plan", data={**plan, "instalments": "3"})
    assert set_up.status_code == 303
    shown = await console.get(set_up.headers["location"])
    assert f"Your plan of 3 instalments is set up: the first, 416.67 EUR, is due on {latest}" in (
        shown.text
    )
    assert 'id="instalments"' in shown.text and 'id="plan"' not in shown.text  # one plan at once
    assert shown.text.count('class="instalment-status">Due<') == 3
    onward = await console.post(
        f"/pay/{token}/checkout", data={"csrf": form_token(shown.text), "pay": "next_instalment"}
    )
    assert onward.status_code == 303
    checkout = await console.get(onward.headers["location"])
    assert 'id="checkout-amount">416.67 EUR<' in checkout.text  # the instalment, not the debt
    assert "Instalment 1 of your payment plan" in checkout.text
    paid = await console.post(onward.headers["location"], data={"csrf": form_token(checkout.text)})
    thanked = await console.get(paid.headers["location"])
    assert "Payment of 416.67 EUR received" in thanked.text
    assert 'class="instalment-status">Paid<' in thanked.text
    assert 'id="outstanding">833.33 EUR<' in thanked.text
    again = await console.get(onward.headers["location"])  # a paid checkout pays no more
    assert 'id="simulated-pay"' not in again.text and "This checkout is paid" in again.text
    state = await client.get(f"/api/v1/campaigns/{made['id']}", headers=bearer(admin_token))
    assert state.json()["pauseReason"] == "payment plan"  # the plan keeps the reminders away


async def test_a_plan_the_terms_refuse_shows_why_above_the_form(console, client, admin_token):
    terms = {**PLAN_TERMS, "minInstalment": "500.00"}
    made = await campaign(client, admin_token, steps=TWO_STEPS, start=True, planTerms=terms)
    (token,) = await pay_links_sent(client, admin_token, made["id"], 1)
    page = await console.get(f"/pay/{token}")
    latest = (await client.get(f"/api/v1/portal/{token}")).json()["planTerms"]["firstDateLatest"]
    plan = {"instalments": "3", "firstDate": latest, "every": "week"}
    refused = await console.post(f"/pay/{token}/plan", data={"csrf": form_token(page.text), **plan})
    assert refused.status_code == 400
    assert 'role="alert">Each instalment must be at least 500.00 EUR' in refused.text
    assert '<option value="week" selected>' in refused.text  # what was chosen is kept


async def test_a_campaign_without_plan_terms_offers_no_plan(console, client, admin_token):
    made = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    (token,) = await pay_links_sent(client, admin_token, made["id"], 1)
    page = await console.get(f"/pay/{token}")
    assert page.status_code == 200 and 'id="plan"' not in page.text
    assert 'id="instalments"' not in page.text and 'id="contact-hours"' in page.text


async def test_a_debtor_chooses_then_clears_the_hours_to_be_contacted(console, client, admin_token):
    made = await campaign(client, admin_token, steps=TWO_STEPS, start=True)
    (token,) = await pay_links_sent(client, admin_token, made["id"], 1)
    page = await console.get(f"/pay/{token}")
    assert 'min="08:00"' in page.text and 'max="21:00"' in page.text  # the legal window
    hours = {"csrf": form_token(page.text), "contactFrom": "09:00"}
    too_short = await console.post(
        f"/pay/{token}/contact-hours", data={**hours, "contactUntil": "09:30"}
    )
    assert too_short.status_code == 400 and "Choose at least an hour" in too_short.text
    assert 'value="09:30"' in too_short.text
    alone = await console.post(f"/pay/{token}/contact-hours", data={**hours, "contactUntil": ""})
    assert alone.status_code == 400 and 'id="hours-contactFrom-error"' in alone.text
    chosen = await console.post(
        f"/pay/{token}/contact-hours", data={**hours, "contactUntil": "12:00"}
    )
    assert chosen.status_code == 303
    kept = await console.get(chosen.headers["location"])
    assert "We will contact you only between 09:00 and 12:00" in kept.text
    assert 'value="09:00"' in kept.text and 'value="12:00"' in kept.text
    cleared = await console.post(
        f"/pay/{token}/contact-hours",
        data={**hours, "contactUntil": "12:00", "clear": "yes"},
    )
    assert cleared.status_code == 303
    any_time = await console.get(cleared.headers["location"])
    assert "We will contact you at any time the law allows" in any_time.text
    assert "Now: any time the law allows" in any_time.text
