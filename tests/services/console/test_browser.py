"""The console in a real browser (headless Chromium driven by Selenium): a manager signs in
and creates a customer, a viewer is offered nothing that changes anything, and every form is
labelled and can be worked from the keyboard. Screenshots of each screen go to
`<platform log dir>/screenshots/` (not committed)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from tests.auth_helpers import PASSWORD, new_user

INSTALL = "apt-get install chromium chromium-driver (`.ci/run` does it when they are missing)"


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, f"the browser tests need Chromium and its driver: {INSTALL}"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,900"):  # fmt: skip
        options.add_argument(argument)
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    chrome.implicitly_wait(5)
    yield chrome
    chrome.quit()


@pytest.fixture(scope="module")
def screenshots(platform) -> Path:
    folder = Path(platform.log_dir) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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


async def test_a_manager_signs_in_and_creates_a_customer(
    browser, gateway_url, client, admin_token, screenshots
):
    manager = await new_user(client, admin_token, role="manager")
    browser.delete_all_cookies()
    browser.get(f"{gateway_url}/customers")  # not signed in: the sign-in page, then back
    assert "/login" in browser.current_url and not _unlabelled_fields(browser)
    browser.save_screenshot(str(screenshots / "sign-in.png"))
    browser.find_element(By.ID, "email").send_keys(manager["email"])
    browser.find_element(By.ID, "password").send_keys(PASSWORD + Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith("/customers"))
    browser.save_screenshot(str(screenshots / "customers.png"))
    browser.find_element(By.LINK_TEXT, "New customer").click()
    assert not _unlabelled_fields(browser)
    company = f"Browser Co {uuid.uuid4().hex[:6]}"
    browser.find_element(By.ID, "companyName").send_keys(company)
    browser.find_element(By.ID, "contactName").send_keys("Ada Payer")
    browser.find_element(By.ID, "email").send_keys("not-an-email")
    browser.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()
    error = browser.find_element(By.ID, "email-error")  # the API's message, beside its field
    assert "email" in error.text
    browser.save_screenshot(str(screenshots / "customer-form-refused.png"))
    email = browser.find_element(By.ID, "email")
    email.clear()
    email.send_keys("ada@example.com")
    browser.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda b: "notice=" in b.current_url)
    assert browser.find_element(By.TAG_NAME, "h1").text == company
    browser.save_screenshot(str(screenshots / "customer.png"))
    browser.get(f"{gateway_url}/")
    browser.save_screenshot(str(screenshots / "dashboard.png"))


async def test_a_viewer_sees_no_form_that_would_change_anything(
    browser, gateway_url, client, admin_token
):
    viewer = await new_user(client, admin_token, role="viewer")
    _sign_in(browser, gateway_url, viewer["email"])
    browser.get(f"{gateway_url}/customers")
    changing = browser.find_elements(By.CSS_SELECTOR, "form[method=post]:not(.signout)")
    assert changing == [] and browser.find_elements(By.LINK_TEXT, "New customer") == []


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
