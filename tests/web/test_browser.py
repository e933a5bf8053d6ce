"""End to end in a real browser: Debian's Chromium (never downloaded) driven by Playwright
against `mfa-fsm demo` on a free port. Each page is saved as a screenshot artifact in
$MFA_FSM_ARTIFACTS (default: the test's tmp dir)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from mfa_fsm_cli.demo import DEMO_PASSWORD

from .demo_process import Demo, running_demo

STEP_UP_SECONDS = 5.0


def chromium_path() -> str:
    found = os.environ.get("MFA_FSM_CHROMIUM") or shutil.which("chromium")
    if not found:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Chromium must be installed under CI=true (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("MFA_FSM_ARTIFACTS")
    folder = Path(root) / "screenshots" if root else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("demo")
    extra = ("--step-up-seconds", str(STEP_UP_SECONDS))
    with running_demo(root / "data", root / "demo.log", *extra) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium_path()
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=path, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def state(page: Page) -> str:
    return page.get_by_test_id("current-state").inner_text()


def sign_in(page: Page, demo: Demo, org: str, email: str) -> None:
    page.goto(demo.url + "/")
    page.fill("#pw-org", org)
    page.fill("#pw-email", email)
    page.fill("#pw-password", DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def outbox_code(page: Page, demo: Demo, phone: str) -> str:
    """Read the newest code sent to `phone` from the dev outbox, in a second tab."""
    tab = page.context.new_page()
    tab.goto(demo.url + "/dev/outbox")
    row = tab.locator("tr", has=tab.get_by_test_id("to").filter(has_text=phone)).first
    code = row.get_by_test_id("code").inner_text()
    tab.close()
    return code


def test_enroll_by_sms_then_returning_login_then_step_up(
    page: Page, demo: Demo, artifacts: Path
) -> None:
    phone = "+14155550101"
    sign_in(page, demo, "acme-required", "ada@acme.example")
    assert state(page) == "primary_done"
    shot(page, artifacts, "01-enroll-choice")
    page.get_by_role("link", name="Use a phone number").click()
    page.fill("#phone", "415 555 0101")
    page.get_by_role("button", name="Text me a code").click()
    assert "country code" in page.get_by_role("alert").inner_text()
    shot(page, artifacts, "02-phone-invalid")
    page.fill("#phone", phone)
    page.get_by_role("button", name="Text me a code").click()
    assert state(page) == "enrolling_sms"
    assert "You can ask for a new code in" in page.get_by_test_id("cooldown").inner_text()
    shot(page, artifacts, "03-sms-code")
    page.context.new_page()
    outbox = page.context.pages[-1]
    outbox.goto(demo.url + "/dev/outbox")
    shot(outbox, artifacts, "04-dev-outbox")
    outbox.close()
    page.fill("#code", outbox_code(page, demo, phone))
    page.get_by_role("button", name="Verify").click()
    assert page.url.endswith("/account") and state(page) == "authenticated"
    shot(page, artifacts, "05-account-after-sms")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, demo, "acme-required", "ada@acme.example")
    assert page.url.endswith("/mfa/code") and state(page) == "challenged"
    assert "We sent a code to your phone." in page.get_by_role("status").inner_text()
    shot(page, artifacts, "06-returning-login-code")
    page.fill("#code", outbox_code(page, demo, phone))
    page.get_by_role("button", name="Verify").click()
    assert page.url.endswith("/account")

    time.sleep(STEP_UP_SECONDS + 0.5)
    page.goto(demo.url + "/sensitive")
    assert page.get_by_test_id("step-up-needed").is_visible()
    shot(page, artifacts, "07-step-up-needed")
    page.get_by_role("button", name="Confirm with a second factor").click()
    shot(page, artifacts, "08-step-up-challenge")
    page.get_by_role("button", name="Text me a code").click()
    page.fill("#code", outbox_code(page, demo, phone))
    page.get_by_role("button", name="Verify").click()
    assert page.url.endswith("/sensitive")
    assert page.get_by_test_id("step-up-fresh").is_visible()
    shot(page, artifacts, "09-step-up-done")
    page.goto(demo.url + "/protected")
    assert page.get_by_test_id("protected-ok").is_visible()
    shot(page, artifacts, "10-protected")


def test_enroll_by_totp_from_the_shown_secret(page: Page, demo: Demo, artifacts: Path) -> None:
    sign_in(page, demo, "globex-totp-only", "grace@globex.example")
    assert page.get_by_role("link", name="Use a phone number").count() == 0
    page.get_by_role("button", name="Use an authenticator app").click()
    assert state(page) == "enrolling_totp"
    assert page.get_by_role("img", name="QR code for your authenticator app").is_visible()
    shot(page, artifacts, "11-totp-setup")
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    assert len(page.get_by_test_id("recovery-codes").locator("li").all()) == 10
    page.fill("#code", "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.get_by_role("button", name="Verify and finish").click()
    assert "Enter the 6-digit code your app shows now" in page.get_by_role("alert").inner_text()
    page.fill("#code", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Verify and finish").click()
    assert page.url.endswith("/account")
    assert "totp (second factor)" in page.get_by_test_id("factors").inner_text()
    shot(page, artifacts, "12-account-after-totp")


def test_wrong_code_then_lockout(page: Page, demo: Demo, artifacts: Path) -> None:
    phone = "+14155550102"
    sign_in(page, demo, "acme-required", "alan@acme.example")
    page.get_by_role("link", name="Use a phone number").click()
    page.fill("#phone", phone)
    page.get_by_role("button", name="Text me a code").click()
    wrong = "000000" if outbox_code(page, demo, phone) != "000000" else "111111"
    page.fill("#code", wrong)
    page.get_by_role("button", name="Verify").click()
    assert "That code is wrong or has expired" in page.get_by_role("alert").inner_text()
    shot(page, artifacts, "13-wrong-code")
    for _ in range(9):
        page.fill("#code", wrong)
        page.get_by_role("button", name="Verify").click()
    assert page.get_by_role("heading", name="Account locked").is_visible()
    assert "locked until" in page.get_by_role("alert").inner_text()
    assert state(page) == "failed"
    shot(page, artifacts, "14-locked")


def test_magic_link_and_the_mfa_enforcing_page(page: Page, demo: Demo, artifacts: Path) -> None:
    page.goto(demo.url + "/")
    page.fill("#ml-org", "initech-optional")
    page.fill("#ml-email", "linus@initech.example")
    page.get_by_role("button", name="Email me a sign-in link").click()
    page.get_by_role("link", name="dev outbox", exact=True).click()
    page.get_by_role("link", name="Sign-in link").first.click()
    shot(page, artifacts, "15-magic-link-confirm")
    page.get_by_role("button", name="Continue").click()
    assert page.url.endswith("/account")
    shot(page, artifacts, "16-account-optional")
    response = page.goto(demo.url + "/protected")
    assert response is not None and response.status == 403
    assert "needs a session with a second factor" in page.get_by_role("alert").inner_text()
    shot(page, artifacts, "17-protected-refused")
