"""The console and the debtor's portal in a real browser (headless Chromium driven by Selenium):
a manager builds a campaign and sees its email sent as the timeline updates itself, a collector records a promise
to pay on a human task, an SRE traces a request across the services, a viewer is offered
nothing that changes anything, a debtor disputes and pays on a phone-sized portal, another sets
up a payment plan and pays its first instalment, every form
is labelled and every field reached from the keyboard, and no page breaks its security policy or throws a script error. Screenshots of each
screen go to `<platform log dir>/screenshots/` (not committed)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from tests.agents_helpers import human_agent, the_only_human_agent
from tests.auth_helpers import PASSWORD, bearer, new_user
from tests.campaign_helpers import campaign, daytime_zone, pay_links_sent

INSTALL = "apt-get install chromium chromium-driver (`make test` does it when they are missing)"
# How long a lookup waits for an element to appear.
IMPLICIT_WAIT_S = 5


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, f"the browser tests need Chromium and its driver: {INSTALL}"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,900"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    chrome.implicitly_wait(IMPLICIT_WAIT_S)
    yield chrome
    chrome.quit()


@pytest.fixture(scope="module")
def screenshots(platform) -> Path:
    folder = Path(platform.log_dir) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _found_now(browser: WebDriver, by: str, value: str) -> list[WebElement]:
    """The elements on the loaded page, without waiting for more: a check that something is
    absent would otherwise wait out the implicit wait."""
    browser.implicitly_wait(0)
    try:
        return browser.find_elements(by, value)
    finally:
        browser.implicitly_wait(IMPLICIT_WAIT_S)


def _sign_in(browser: WebDriver, gateway_url: str, email: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{gateway_url}/login")
    browser.find_element(By.ID, "email").send_keys(email)
    browser.find_element(By.ID, "password").send_keys(PASSWORD + Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: "/login" not in b.current_url)


def _unlabelled_fields(browser: WebDriver) -> list[str]:
    """Every field a person fills in, without a label naming it."""
    found: list[str] = browser.execute_script(
        """
        return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
          .filter(f => !(f.id && document.querySelector(`label[for="${f.id}"]`))
                       && !f.getAttribute('aria-label'))
          .map(f => f.name || f.outerHTML);
        """
    )
    return found


def _unreachable_by_keyboard(browser: WebDriver) -> list[str]:
    """The page's fields and buttons that Tab, from the top of the page, never reaches, or
    reaches out of their order on the page."""
    controls: list[str] = browser.execute_script(
        """
        const controls = [...document.querySelectorAll(
            'main input:not([type=hidden]), main select, main textarea, main button')]
          .filter(c => c.offsetParent !== null && !c.disabled);
        controls.forEach((c, i) => { c.dataset.keyboardOrder = i; });
        document.activeElement?.blur();
        window.scrollTo(0, 0);
        return controls.map(c => c.id || c.name || c.textContent.trim());
        """
    )
    reached: list[int] = []
    for _ in range(4 * len(controls) + 10):  # a date field takes a Tab per part
        ActionChains(browser).send_keys(Keys.TAB).perform()
        order = browser.switch_to.active_element.get_attribute("data-keyboard-order")
        if order is None or (reached and reached[-1] == int(order)):
            continue
        if reached and int(order) < reached[-1]:
            break  # back to the top (or out of order: what follows counts as missed)
        reached.append(int(order))
    return [name for i, name in enumerate(controls) if i not in reached]


def _script_errors(browser: webdriver.Chrome) -> list[str]:
    """What the browser reported as errors since the last look: a script that failed, a part
    of a page that did not load, or something the page's security policy blocked. A page the
    console answered with a refusal on purpose (a form's 400) is not one."""
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE"
        and (
            entry["source"] != "network"
            or "/static/" in entry["message"]
            or "favicon" in entry["message"]
        )
    ]


def _fill(browser: WebDriver, field_id: str, value: str) -> None:
    field = browser.find_element(By.ID, field_id)
    field.clear()
    field.send_keys(value)


def _submit(browser: WebDriver, form: str) -> None:
    browser.find_element(By.CSS_SELECTOR, f"{form} button[type=submit]").click()


def _until(browser: WebDriver, found: Callable[[WebDriver], bool], reload: bool = False) -> None:
    """Wait for `found` (up to 60 s), reloading the page between looks when asked."""

    def look(b: WebDriver) -> bool:
        if found(b):
            return True
        if reload:
            b.refresh()
        return False

    try:
        WebDriverWait(browser, 60, poll_frequency=1).until(look)
    except TimeoutException:
        page = browser.find_element(By.TAG_NAME, "body").text
        raise AssertionError(f"not seen within 60 s on {browser.current_url}:\n{page}") from None


async def test_a_manager_builds_a_campaign_and_sees_its_email_sent(
    browser, gateway_url, client, admin_token, screenshots
):
    manager = await new_user(client, admin_token, role="manager")
    browser.delete_all_cookies()
    browser.get(f"{gateway_url}/customers")  # not signed in: the sign-in page, then back
    assert "/login" in browser.current_url and not _unlabelled_fields(browser)
    browser.save_screenshot(str(screenshots / "sign-in.png"))
    _fill(browser, "email", manager["email"])
    browser.find_element(By.ID, "password").send_keys(PASSWORD + Keys.ENTER)
    _until(browser, lambda b: b.current_url.endswith("/customers"))
    browser.save_screenshot(str(screenshots / "customers.png"))
    browser.find_element(By.LINK_TEXT, "New customer").click()
    assert not _unlabelled_fields(browser) and not _unreachable_by_keyboard(browser)
    company = f"Browser Co {uuid.uuid4().hex[:6]}"
    for field_id, value in (("companyName", company), ("contactName", "Ada Payer"),
                            ("email", "not-an-email"), ("timezone", daytime_zone()),
                            ("phone", f"+8001{uuid.uuid4().int % 10**7:07d}")):  # fmt: skip
        _fill(browser, field_id, value)
    _submit(browser, "form.card")
    assert "email" in browser.find_element(By.ID, "email-error").text  # beside its field
    browser.save_screenshot(str(screenshots / "customer-form-refused.png"))
    _fill(browser, "email", f"ada-{uuid.uuid4().hex[:6]}@example.com")
    _submit(browser, "form.card")
    _until(browser, lambda b: "notice=" in b.current_url)
    assert browser.find_element(By.TAG_NAME, "h1").text == company
    for field_id, value in (("payment-invoiceNumber", "INV-B1"), ("payment-amount", "300.00"),
                            ("payment-currency", "EUR")):  # fmt: skip
        _fill(browser, field_id, value)
    due = (date.today() + timedelta(days=20)).isoformat()
    browser.execute_script(
        "arguments[0].value = arguments[1]", browser.find_element(By.ID, "payment-dueDate"), due
    )
    _submit(browser, "form[action$='/payments']")
    _until(browser, lambda b: "Payment record added." in b.page_source)
    assert not _unlabelled_fields(browser) and not _unreachable_by_keyboard(browser)
    browser.save_screenshot(str(screenshots / "customer.png"))
    browser.find_element(By.LINK_TEXT, "New campaign").click()
    assert not _unlabelled_fields(browser) and not _unreachable_by_keyboard(browser)
    _fill(browser, "name", "Three steps")
    for row, (channel, days) in enumerate((("email", "0"), ("sms", "3"), ("human", "7")), 1):
        Select(browser.find_element(By.ID, f"step-{row}-channel")).select_by_value(channel)
        _fill(browser, f"step-{row}-delay", days)
    browser.save_screenshot(str(screenshots / "campaign-builder.png"))
    _submit(browser, "form.card")
    _until(browser, lambda b: "saved as a draft" in b.page_source)
    preview = browser.find_elements(By.CSS_SELECTOR, "#schedule tbody tr")
    assert len(preview) == 3  # the schedule, in the customer's zone, before starting
    browser.save_screenshot(str(screenshots / "campaign-draft.png"))
    browser.find_element(By.XPATH, "//button[text()='Start']").click()
    _until(browser, lambda b: "Campaign active." in b.page_source)
    started_page = browser.find_element(By.TAG_NAME, "h1")
    # No reload: the timeline updates itself in place until the email shows as sent.
    _until(
        browser,
        lambda b: any(
            cell.text == "sent" for cell in b.find_elements(By.CSS_SELECTOR, ".message-status")
        ),
    )
    assert started_page.is_displayed()  # the same page, not a new one
    browser.save_screenshot(str(screenshots / "campaign-running.png"))
    browser.get(f"{gateway_url}/")
    browser.save_screenshot(str(screenshots / "dashboard.png"))
    assert _script_errors(browser) == [], _script_errors(browser)


async def test_a_collector_claims_the_human_task_and_records_a_promise(
    browser, gateway_url, client, admin_token, screenshots
):
    agent, _ = await human_agent(client, admin_token)
    await the_only_human_agent(client, admin_token, agent["id"])
    steps = [{"channel": "human", "delay": "P0D"}, {"channel": "email", "delay": "P10D"}]
    started = await campaign(client, admin_token, steps=steps, start=True)
    _sign_in(browser, gateway_url, agent["name"])
    browser.get(f"{gateway_url}/queue")
    short = started["id"][:8]
    _until(browser, lambda b: f"campaign {short}" in b.page_source)  # the queue updates itself
    assert not _unlabelled_fields(browser) and not _unreachable_by_keyboard(browser)
    browser.save_screenshot(str(screenshots / "queue.png"))
    claim = browser.find_elements(By.XPATH, f"//tr[contains(., '{short}')]//button[text()='Claim']")
    if claim:  # waiting for anyone; else already given to this collector
        claim[0].click()
    else:
        browser.find_element(By.PARTIAL_LINK_TEXT, f"campaign {short}").click()
    _until(browser, lambda b: b.find_elements(By.ID, "outcome") != [])
    assert not _unlabelled_fields(browser) and not _unreachable_by_keyboard(browser)
    Select(browser.find_element(By.ID, "outcome")).select_by_value("promise_to_pay")
    promised = (date.today() + timedelta(days=5)).isoformat()
    browser.execute_script(
        "arguments[0].value = arguments[1]", browser.find_element(By.ID, "promisedDate"), promised
    )
    browser.find_element(By.ID, "note").send_keys("Will pay on the date")
    browser.save_screenshot(str(screenshots / "task.png"))
    _submit(browser, "form.card")
    _until(browser, lambda b: "Recorded" in b.page_source)
    browser.get(f"{gateway_url}/campaigns/{started['id']}")
    _until(browser, lambda b: b.find_element(By.ID, "campaign-status").text == "paused")
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "(promise to pay), until" in main and f"Promise to pay on {promised}" in main
    assert _script_errors(browser) == [], _script_errors(browser)


async def test_an_sre_pastes_a_request_id_and_sees_the_services(
    browser, gateway_url, client, admin_token, screenshots
):
    request_id = f"browser-trace-{uuid.uuid4().hex[:10]}"
    made = await campaign(client, admin_token)
    started = await client.post(
        f"/api/v1/campaigns/{made['id']}/start",
        headers={**bearer(admin_token), "X-Request-ID": request_id},
    )
    assert started.status_code == 200
    sre = await new_user(client, admin_token, role="admin")
    _sign_in(browser, gateway_url, sre["email"])
    browser.find_element(By.LINK_TEXT, "Trace").click()
    assert not _unlabelled_fields(browser) and not _unreachable_by_keyboard(browser)
    _fill(browser, "request_id", request_id + Keys.ENTER)

    def services(b: WebDriver) -> set[str]:
        return {cell.text for cell in b.find_elements(By.CSS_SELECTOR, "#timeline .service")}

    _until(browser, lambda b: {"campaigns", "agents", "notifier"} <= services(b), reload=True)
    browser.save_screenshot(str(screenshots / "trace.png"))
    browser.get(f"{gateway_url}/users")
    assert not _unlabelled_fields(browser) and not _unreachable_by_keyboard(browser)
    browser.save_screenshot(str(screenshots / "users.png"))
    for path, body in (
        ("/api/v1/suppressions", {"channel": "sms", "recipient": "+14155550199",
                                  "reason": "opt_out", "note": "replied STOP"}),
        ("/api/v1/consents", {"recipient": "+14155550123", "source": "signed form"}),
    ):  # fmt: skip
        answer = await client.post(path, json=body, headers=bearer(admin_token))
        assert answer.status_code == 201, answer.text
    browser.get(f"{gateway_url}/compliance")
    assert not _unlabelled_fields(browser) and not _unreachable_by_keyboard(browser)
    browser.save_screenshot(str(screenshots / "compliance.png"))
    assert _script_errors(browser) == [], _script_errors(browser)


async def test_a_viewer_sees_no_form_that_would_change_anything(
    browser, gateway_url, client, admin_token
):
    made = await campaign(client, admin_token)
    viewer = await new_user(client, admin_token, role="viewer")
    _sign_in(browser, gateway_url, viewer["email"])
    for path in ("/customers", f"/customers/{made['customerId']}", f"/campaigns/{made['id']}",
                 "/compliance", "/"):  # fmt: skip
        browser.get(f"{gateway_url}{path}")
        changing = _found_now(browser, By.CSS_SELECTOR, "form[method=post]:not(.signout)")
        assert changing == [], path
    assert _found_now(browser, By.LINK_TEXT, "Users") == []


async def test_the_sign_in_form_works_from_the_keyboard(browser, gateway_url, client, admin_token):
    viewer = await new_user(client, admin_token, role="viewer")
    browser.delete_all_cookies()
    browser.get(f"{gateway_url}/login")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)  # the skip link first
    assert browser.switch_to.active_element.text == "Skip to content"
    browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "email"
    browser.switch_to.active_element.send_keys(viewer["email"] + Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "password"
    browser.switch_to.active_element.send_keys(PASSWORD + Keys.TAB)
    assert browser.switch_to.active_element.tag_name == "button"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: "/login" not in b.current_url)


@pytest.mark.usefixtures("portal_budget")
async def test_a_debtor_disputes_then_pays_on_the_portal(
    browser, gateway_url, client, admin_token, screenshots
):
    steps = [{"channel": "email", "delay": "P0D"}, {"channel": "email", "delay": "P5D"}]
    disputed = await campaign(client, admin_token, steps=steps, start=True)
    (token,) = await pay_links_sent(client, admin_token, disputed["id"], 1)
    browser.delete_all_cookies()
    browser.set_window_size(390, 844)  # a phone
    try:
        await _dispute_then_pay(browser, gateway_url, client, admin_token, screenshots, token)
    finally:
        browser.set_window_size(1280, 900)
    state = await client.get(f"/api/v1/campaigns/{disputed['id']}", headers=bearer(admin_token))
    assert state.json()["flagged"] is True


async def _dispute_then_pay(browser, gateway_url, client, admin_token, screenshots, token):
    steps = [{"channel": "email", "delay": "P0D"}, {"channel": "email", "delay": "P5D"}]
    browser.get(f"{gateway_url}/pay/{token}")
    assert "1250.00 EUR" in browser.find_element(By.ID, "outstanding").text
    assert not _unlabelled_fields(browser) and not _unreachable_by_keyboard(browser)
    browser.save_screenshot(str(screenshots / "portal.png"))
    Select(browser.find_element(By.ID, "dispute-reason")).select_by_value("wrong_amount")
    browser.find_element(By.ID, "dispute-details").send_keys("Charged twice for March")
    _submit(browser, "#dispute")
    _until(browser, lambda b: b.find_elements(By.ID, "noted") != [])
    paying = await campaign(client, admin_token, steps=steps, start=True)
    (token,) = await pay_links_sent(client, admin_token, paying["id"], 1)
    browser.get(f"{gateway_url}/pay/{token}")
    _submit(browser, "#pay-now")
    _until(browser, lambda b: b.find_elements(By.ID, "simulated-pay") != [])
    browser.save_screenshot(str(screenshots / "portal-checkout.png"))
    _submit(browser, "#simulated-pay")
    _until(browser, lambda b: "Payment of 1250.00 EUR received" in b.page_source)
    assert browser.find_element(By.ID, "outstanding").text == "0.00 EUR"
    assert _script_errors(browser) == [], _script_errors(browser)
    state = await client.get(f"/api/v1/campaigns/{paying['id']}", headers=bearer(admin_token))
    assert state.json()["status"] == "completed"


@pytest.mark.usefixtures("portal_budget")
async def test_a_debtor_sets_up_a_plan_and_pays_an_instalment_on_the_portal(
    browser, gateway_url, client, admin_token, screenshots
):
    steps = [{"channel": "email", "delay": "P0D"}, {"channel": "email", "delay": "P5D"}]
    terms = {"maxInstalments": 3, "minInstalment": "100.00", "firstWithinDays": 14}
    planned = await campaign(client, admin_token, steps=steps, start=True, planTerms=terms)
    (token,) = await pay_links_sent(client, admin_token, planned["id"], 1)
    browser.delete_all_cookies()
    browser.set_window_size(390, 844)  # a phone
    try:
        _plan_then_pay_an_instalment(browser, gateway_url, screenshots, token)
    finally:
        browser.set_window_size(1280, 900)
    state = await client.get(f"/api/v1/campaigns/{planned['id']}", headers=bearer(admin_token))
    assert state.json()["pauseReason"] == "payment plan"


def _plan_then_pay_an_instalment(browser, gateway_url, screenshots, token):
    browser.get(f"{gateway_url}/pay/{token}")
    assert not _unlabelled_fields(browser) and not _unreachable_by_keyboard(browser)
    _fill(browser, "plan-instalments", "3")
    first_date = browser.find_element(By.ID, "plan-firstDate")
    latest = first_date.get_attribute("max")  # the latest day the terms allow
    browser.execute_script("arguments[0].value = arguments[1]", first_date, latest)
    Select(browser.find_element(By.ID, "plan-every")).select_by_visible_text("Every two weeks")
    browser.save_screenshot(str(screenshots / "portal-plan-form.png"))
    _submit(browser, "#plan")
    _until(browser, lambda b: b.find_elements(By.ID, "noted") != [])
    assert "Your plan of 3 instalments is set up" in browser.find_element(By.ID, "noted").text
    statuses = browser.find_elements(By.CSS_SELECTOR, "#instalments .instalment-status")
    assert [cell.text for cell in statuses] == ["Due", "Due", "Due"]
    assert _found_now(browser, By.ID, "plan") == []  # no second plan offered
    browser.save_screenshot(str(screenshots / "portal-plan.png"))
    _submit(browser, "#pay-instalment")
    _until(browser, lambda b: b.find_elements(By.ID, "simulated-pay") != [])
    assert browser.find_element(By.ID, "checkout-amount").text == "416.67 EUR"
    _submit(browser, "#simulated-pay")
    _until(browser, lambda b: "Payment of 416.67 EUR received" in b.page_source)
    statuses = browser.find_elements(By.CSS_SELECTOR, "#instalments .instalment-status")
    assert [cell.text for cell in statuses] == ["Paid", "Due", "Due"]
    assert browser.find_element(By.ID, "outstanding").text == "833.33 EUR"
    assert _script_errors(browser) == [], _script_errors(browser)
