"""Pages behind a session: optional enrollment, default method, unenrollment, step-up and
the page that enforces MFA by `authentication_factors`."""

from __future__ import annotations

import re

from .conftest import PHONE, WebKit, alerts, current_state


def _member(kit: WebKit, email: str = "ada@example.com") -> object:
    found = kit.provider.member_by_email("acme", email)
    assert found is not None
    return found


def test_optional_enrollment_from_the_account_page(kit: WebKit) -> None:
    kit.member(kit.org())
    b = kit.browser()
    account = kit.sign_in(b)
    assert "Add a phone number" in account.text and "Add an authenticator app" in account.text
    form = b.get("/mfa/enroll/sms")
    assert "Ask for a code every time I sign in" in form.text
    code = b.post("/mfa/enroll/sms", phone=PHONE, every_login_offered="1", every_login="1")
    assert current_state(code.text) == "enrolling_sms"
    done = b.post("/mfa/code", code=kit.last_code())
    assert done.url.path == "/account"
    assert "The text message (SMS) was added to your account." in alerts(done.text)
    member = kit.provider.member_by_email("acme", "ada@example.com")
    assert member is not None and member.mfa_enrolled and member.mfa_phone_number_verified
    kit.clock.advance(60)
    again = kit.sign_in(kit.browser())
    assert again.url.path == "/mfa/code"  # now asked at every sign-in


def test_optional_factor_for_step_up_only_keeps_password_logins(kit: WebKit) -> None:
    kit.member(kit.org())
    b = kit.browser()
    kit.sign_in(b)
    b.post("/mfa/enroll/sms", phone=PHONE, every_login_offered="1")  # box left unticked
    assert b.post("/mfa/code", code=kit.last_code()).url.path == "/account"
    member = kit.provider.member_by_email("acme", "ada@example.com")
    assert member is not None and member.mfa_phone_number_verified and not member.mfa_enrolled
    assert kit.sign_in(kit.browser()).url.path == "/account"


def test_default_method_is_set_by_verifying_it(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    b = kit.browser()
    kit.enroll_sms(b)
    secret, _ = kit.enroll_totp(b)
    member = kit.provider.member_by_email("acme", "ada@example.com")
    assert member is not None and member.default_mfa_method == "sms_otp"
    page = b.post("/account/default", method="totp")
    assert page.url.path == "/mfa/code"
    kit.clock.advance(30)
    done = b.post("/mfa/code", code=kit.totp_code(secret))
    assert "Your default method is now the authenticator app." in alerts(done.text)
    member = kit.provider.member_by_email("acme", "ada@example.com")
    assert member is not None and member.default_mfa_method == "totp"
    bad = b.post("/account/default", method="email")
    assert bad.status_code == 400


def test_unenroll_needs_a_fresh_factor_and_keeps_the_last_one_when_required(
    kit: WebKit,
) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    b = kit.browser()
    kit.enroll_sms(b)
    refused = b.post("/account/remove", method="sms_otp")
    assert refused.status_code == 400
    assert any("cannot be removed" in a for a in alerts(refused.text))
    secret, _ = kit.enroll_totp(b)
    kit.clock.advance(400)
    stale = b.post("/account/remove", method="sms_otp")
    assert stale.url.path == "/mfa/challenge"
    assert "Confirm with a second factor before removing one." in alerts(stale.text)
    b.post("/mfa/challenge/totp")
    assert b.post("/mfa/code", code=kit.totp_code(secret)).url.path == "/account"
    removed = b.post("/account/remove", method="sms_otp")
    assert "The text message (SMS) was removed." in alerts(removed.text)
    member = kit.provider.member_by_email("acme", "ada@example.com")
    assert member is not None and not member.mfa_phone_number and member.totp_registration_id
    assert b.post("/account/remove", method="sms_otp").status_code == 400  # not set up


def test_optional_org_may_remove_its_only_factor(kit: WebKit) -> None:
    kit.member(kit.org())
    b = kit.browser()
    kit.sign_in(b)
    b.post("/mfa/enroll/sms", phone=PHONE, every_login_offered="1", every_login="1")
    b.post("/mfa/code", code=kit.last_code())
    done = b.post("/account/remove", method="sms_otp")
    assert "was removed" in " ".join(alerts(done.text))
    member = kit.provider.member_by_email("acme", "ada@example.com")
    assert member is not None and not member.mfa_enrolled and not member.mfa_phone_number


def test_step_up_before_the_sensitive_action(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    b = kit.browser()
    kit.sign_in(b)
    b.post("/mfa/enroll/totp")
    secret = re.search(r'data-testid="totp-secret"[^>]*>([A-Z2-7 ]+)<', b.last.text)  # type: ignore[union-attr]
    assert secret is not None
    plain = secret.group(1).replace(" ", "")
    b.post("/mfa/code", code=kit.totp_code(plain))
    fresh = b.get("/sensitive")
    assert 'data-testid="step-up-fresh"' in fresh.text
    kit.clock.advance(301)
    stale = b.get("/sensitive")
    assert 'data-testid="step-up-needed"' in stale.text
    forced = b.post("/sensitive")
    assert forced.status_code == 403 and "Step-up needed" in forced.text
    challenge = b.post("/mfa/step-up", next="/sensitive")
    assert challenge.url.path == "/mfa/challenge" and "recent second factor" in challenge.text
    b.post("/mfa/challenge/totp")
    done = b.post("/mfa/code", code=kit.totp_code(plain))
    assert done.url.path == "/sensitive"
    assert 'data-testid="step-up-fresh"' in done.text
    rotated = b.post("/sensitive")
    assert rotated.status_code == 200
    assert len(re.findall(r"<li><code>([a-z0-9-]+)</code></li>", rotated.text)) == 10


def test_step_up_by_sms_and_open_redirects_are_ignored(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    b = kit.browser()
    kit.enroll_sms(b)
    kit.clock.advance(301)
    b.post("/mfa/step-up", next="https://evil.example/")
    b.post("/mfa/challenge/sms")
    done = b.post("/mfa/code", code=kit.last_code())
    assert done.url.path == "/account" and done.url.host == "testserver"


def test_protected_page_enforces_a_second_factor_in_the_session(kit: WebKit) -> None:
    kit.member(kit.org())
    b = kit.browser()
    kit.sign_in(b)
    refused = b.get("/protected")
    assert refused.status_code == 403
    assert "needs a session with a second factor" in refused.text
    assert "password" in refused.text
    b.post("/mfa/enroll/sms", phone=PHONE)
    b.post("/mfa/code", code=kit.last_code())
    allowed = b.get("/protected")
    assert allowed.status_code == 200 and 'data-testid="protected-ok"' in allowed.text
    assert "otp (second factor)" in allowed.text and "UTC" in allowed.text


def test_pages_behind_a_session_send_strangers_to_sign_in(kit: WebKit) -> None:
    b = kit.browser()
    for path in ("/account", "/protected", "/sensitive"):
        page = b.get(path)
        assert page.url.path == "/" and "Please sign in" in page.text
