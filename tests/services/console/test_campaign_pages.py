"""The console's campaign screens: the builder, the schedule preview before starting, the
actions each status allows, the debtor's payment plans, and the campaign's timeline as its
steps are sent."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from tests.agents_helpers import human_agent, the_only_human_agent
from tests.campaign_helpers import campaign, customer, pay_links_sent, payment
from tests.console_helpers import form_token, sign_in, signed_in
from tests.helpers import eventually


async def _builder(console, client, admin_token) -> tuple[str, str, str]:
    """A customer with a payment record; the builder's path, its page and the payment's id."""
    owed = await customer(client, admin_token)
    record = await payment(client, admin_token, owed["id"])
    path = f"/customers/{owed['id']}/campaigns/new"
    form = await console.get(path)
    assert form.status_code == 200, form.text
    return path, form.text, record["id"]


async def _save_draft(
    console: httpx.AsyncClient, path: str, form: str, payment_id: str, name: str, **rows: str
) -> httpx.Response:
    """The builder posted with these step rows (`step-1-channel="email"`, ...)."""
    fields = {key.replace("_", "-"): value for key, value in rows.items()}
    data = {"csrf": form_token(form), "name": name, "paymentId": payment_id, **fields}
    answer: httpx.Response = await console.post(path, data=data)
    return answer


async def test_a_manager_builds_previews_starts_and_sees_the_email_sent(
    console, client, admin_token
):
    await signed_in(console, client, admin_token, "manager")
    path, form, payment_id = await _builder(console, client, admin_token)
    saved = await _save_draft(
        console, path, form, payment_id, "Three steps",
        step_1_channel="email", step_1_delay="0", step_1_tone="friendly",
        step_2_channel="sms", step_2_delay="3", step_2_tone="firm",
        step_3_channel="human", step_3_delay="7", step_3_tone="final",
    )  # fmt: skip
    assert saved.status_code == 303, saved.text
    draft = await console.get(saved.headers["location"])
    assert 'id="campaign-status">draft<' in draft.text
    preview = draft.text.split('id="schedule"')[1].split("</table>")[0]
    assert preview.count("<tr>") == 4  # a heading and the three steps, before anything starts
    campaign_path = saved.headers["location"].split("?")[0]
    started = await console.post(f"{campaign_path}/start", data={"csrf": form_token(draft.text)})
    assert started.status_code == 303, started.text

    async def timeline() -> str:
        answer: httpx.Response = await console.get(campaign_path)
        return answer.text

    sent = await eventually(timeline, lambda page: ">sent<" in page.split('id="messages"')[-1])
    # A running campaign's timeline keeps itself up to date: htmx asks for the page again, and
    # gets the part that changes alone; without scripts, the page reloads itself.
    assert f'hx-get="{campaign_path}" hx-trigger="every 5s"' in sent
    refresh = f'<noscript><meta http-equiv="refresh" content="5; url={campaign_path}"></noscript>'
    assert refresh in sent
    part = await console.get(campaign_path, headers={"HX-Request": "true"})
    assert part.status_code == 200 and part.headers["vary"] == "HX-Request"
    assert part.text.lstrip().startswith('<div id="live"') and "<html" not in part.text
    assert 'id="messages"' in part.text and 'hx-trigger="every 5s"' in part.text
    cancelled = await console.post(f"{campaign_path}/cancel", data={"csrf": form_token(sent)})
    assert cancelled.status_code == 303
    ended = await console.get(campaign_path, headers={"HX-Request": "true"})
    assert 'id="campaign-status">cancelled<' in ended.text
    assert "hx-trigger" not in ended.text  # an ended campaign's part stops asking


async def test_the_builder_keeps_rows_it_cannot_read_and_says_why(console, client, admin_token):
    await signed_in(console, client, admin_token, "manager")
    path, form, payment_id = await _builder(console, client, admin_token)
    unread = await _save_draft(
        console, path, form, payment_id, "Bad delay", step_1_channel="email", step_1_delay="two"
    )
    assert unread.status_code == 400
    assert 'id="step-1-delay-error"' in unread.text and 'value="two"' in unread.text
    empty = await _save_draft(console, path, form, payment_id, "No steps")
    assert empty.status_code == 400 and "at least one step" in empty.text


async def test_an_action_the_status_forbids_shows_the_apis_refusal(console, client, admin_token):
    await signed_in(console, client, admin_token, "manager")
    path, form, payment_id = await _builder(console, client, admin_token)
    saved = await _save_draft(
        console, path, form, payment_id, "Draft", step_1_channel="email", step_1_delay="5"
    )
    campaign_path = saved.headers["location"].split("?")[0]
    page = await console.get(campaign_path)
    assert ">Resume<" not in page.text  # not offered to a draft
    refused = await console.post(f"{campaign_path}/resume", data={"csrf": form_token(page.text)})
    assert refused.status_code == 409 and 'role="alert"' in refused.text


async def test_a_viewer_sees_a_campaign_without_its_actions(console, client, admin_token):
    manager = httpx.AsyncClient(base_url=str(console.base_url), timeout=30)
    async with manager:
        await signed_in(manager, client, admin_token, "manager")
        path, form, payment_id = await _builder(manager, client, admin_token)
        saved = await _save_draft(
            manager, path, form, payment_id, "Seen", step_1_channel="email", step_1_delay="5"
        )
    await signed_in(console, client, admin_token, "viewer")
    page = await console.get(saved.headers["location"].split("?")[0])
    assert page.status_code == 200 and ">Start<" not in page.text and ">Cancel<" not in page.text


async def test_a_collector_works_a_human_task_and_the_campaign_waits_for_the_promise(
    console, client, admin_token
):
    agent, _ = await human_agent(client, admin_token)
    await the_only_human_agent(client, admin_token, agent["id"])
    steps = [{"channel": "human", "delay": "P0D"}, {"channel": "email", "delay": "P10D"}]
    started = await campaign(client, admin_token, steps=steps, start=True)
    assert (await sign_in(console, agent["name"])).status_code == 303
    short = started["id"][:8]

    async def queue() -> str:
        answer: httpx.Response = await console.get("/queue")
        return answer.text

    listed = await eventually(queue, lambda page: short in page.split('id="mine"')[-1])
    task_path = listed.split(f'">human step of campaign {short}')[0].rsplit('href="', 1)[1]
    page = await console.get(task_path)
    assert page.status_code == 200 and 'id="outcome"' in page.text
    undated = await console.post(
        f"{task_path}/complete",
        data={"csrf": form_token(page.text), "outcome": "promise_to_pay", "note": "Friday"},
    )
    assert undated.status_code == 400 and 'id="promisedDate-error"' in undated.text
    assert "Friday" in undated.text  # the note typed is kept
    friday = (date.today() + timedelta(days=5)).isoformat()
    done = await console.post(
        f"{task_path}/complete",
        data={"csrf": form_token(page.text), "outcome": "promise_to_pay",
              "promisedDate": friday, "note": "Friday"},
    )  # fmt: skip
    assert done.status_code == 303 and "Recorded" in done.headers["location"]

    async def campaign_page() -> str:
        answer: httpx.Response = await console.get(f"/campaigns/{started['id']}")
        return answer.text

    paused = await eventually(campaign_page, lambda text: ">paused<" in text)
    assert "(promise to pay), until " in paused  # the day after the promise, in their zone
    # The outcome is in the campaign's timeline and the task's history, as the API understood it.
    replies = paused.split('id="replies"')[1].split("</table>")[0]
    assert f"Promise to pay on {friday}" in replies and "Friday" in replies
    history = (await console.get(task_path)).text.split('id="history"')[1]
    assert "Outcome recorded" in history and f"Promise to pay on {friday}" in history
    # The task's page, and its outcome form, are for collectors only.
    console.cookies.clear()
    await signed_in(console, client, admin_token, "viewer")
    refused = await console.get(task_path)
    assert refused.status_code == 403 and "tasks:work" in refused.text


@pytest.mark.usefixtures("portal_budget")
async def test_a_manager_offers_plans_then_cancels_the_one_the_debtor_set_up(
    console, client, admin_token
):
    await signed_in(console, client, admin_token, "manager")
    path, form, payment_id = await _builder(console, client, admin_token)
    saved = await _save_draft(
        console, path, form, payment_id, "With plans",
        step_1_channel="email", step_1_delay="0", step_2_channel="email", step_2_delay="5",
        maxInstalments="3", minInstalment="100.00", firstWithinDays="14",
    )  # fmt: skip
    assert saved.status_code == 303, saved.text
    campaign_path = saved.headers["location"].split("?")[0]
    draft = await console.get(campaign_path)
    assert "at most 3 instalments of at least 100.00, the first within 14 days" in draft.text
    started = await console.post(f"{campaign_path}/start", data={"csrf": form_token(draft.text)})
    assert started.status_code == 303, started.text
    campaign_id = campaign_path.rsplit("/", 1)[1]
    (token,) = await pay_links_sent(client, admin_token, campaign_id, 1)
    latest = (await client.get(f"/api/v1/portal/{token}")).json()["planTerms"]["firstDateLatest"]
    plan = {"instalments": 2, "firstDate": latest, "every": "two_weeks"}
    assert (await client.post(f"/api/v1/portal/{token}/plan", json=plan)).status_code == 201
    kept = await console.get(campaign_path)
    assert 'class="plan-status">active<' in kept.text and "625.00 EUR" in kept.text
    assert 'id="campaign-status">paused<' in kept.text and 'id="cancel-plan"' in kept.text
    cancelled = await console.post(
        f"{campaign_path}/plans/cancel", data={"csrf": form_token(kept.text)}
    )
    assert cancelled.status_code == 303, cancelled.text
    after = await console.get(cancelled.headers["location"])
    assert "Payment plan cancelled" in after.text and 'class="plan-status">cancelled<' in after.text
    assert 'id="campaign-status">active<' in after.text and 'id="cancel-plan"' not in after.text
    again = await console.post(
        f"{campaign_path}/plans/cancel", data={"csrf": form_token(after.text)}
    )
    assert again.status_code == 409 and "no active payment plan" in again.text
