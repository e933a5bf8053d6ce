"""Second-factor pages: enrollment, challenge, codes, resend, recovery, lockout, expiry."""

from __future__ import annotations

import re

from .conftest import PHONE, WebKit, alerts, current_state


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_required_enrollment_by_sms(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    b = kit.browser()
    kit.sign_in(b)
    form = b.get("/mfa/enroll/sms")
    assert "E.164" in form.text
    bad = b.post("/mfa/enroll/sms", phone="415 555 1234")
    assert bad.status_code == 400
    assert any("country code" in a for a in alerts(bad.text))
    assert 'aria-invalid="true"' in bad.text and 'value="415 555 1234"' in bad.text
    empty = b.post("/mfa/enroll/sms", phone="")
    assert empty.status_code == 400
    code_page = b.post("/mfa/enroll/sms", phone="+1 (415) 555-1234")
    assert code_page.url.path == "/mfa/code"
    assert current_state(code_page.text) == "enrolling_sms"
    wrong = b.post("/mfa/code", code=_wrong(kit.last_code()))
    assert wrong.status_code == 400
    assert any("wrong or has expired" in a for a in alerts(wrong.text))
    done = b.post("/mfa/code", code=kit.last_code())
    assert done.url.path == "/account"
    assert current_state(done.text) == "authenticated"
    assert "otp (second factor)" in done.text and "sms" in done.text
    member = kit.provider.member_by_email("acme", "ada@example.com")
    assert member is not None and member.mfa_phone_number == PHONE and member.mfa_enrolled


def test_totp_only_org_offers_and_accepts_only_totp(kit: WebKit) -> None:
    kit.member(
        kit.org(
            mfa_policy="REQUIRED_FOR_ALL", mfa_methods="RESTRICTED", allowed_mfa_methods=["totp"]
        )
    )
    b = kit.browser()
    choice = kit.sign_in(b)
    assert "Use an authenticator app" in choice.text and "Use a phone number" not in choice.text
    refused = b.post("/mfa/enroll/sms", phone=PHONE)
    assert refused.status_code == 403
    assert any("does not allow that method" in a for a in alerts(refused.text))
    page = b.post("/mfa/enroll/totp")
    assert page.url.path == "/mfa/enroll/totp"
    assert current_state(page.text) == "enrolling_totp"
    assert 'src="data:image/png;base64,' in page.text and 'alt="QR code' in page.text
    secret = re.search(r'data-testid="totp-secret"[^>]*>([A-Z2-7 ]+)<', page.text)
    assert secret is not None
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", page.text)
    assert len(codes) == 10
    plain = secret.group(1).replace(" ", "")
    wrong = b.post("/mfa/code", code=_wrong(kit.totp_code(plain)))
    assert wrong.status_code == 400 and 'data-testid="totp-secret"' in wrong.text
    assert any("Enter the 6-digit code your app shows now" in a for a in alerts(wrong.text))
    done = b.post("/mfa/code", code=kit.totp_code(plain))
    assert done.url.path == "/account"
    assert "totp (second factor)" in done.text
    assert "Recovery codes left" in done.text


def test_returning_sms_member_gets_the_code_sent_at_once(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    kit.enroll_sms(kit.browser())
    kit.clock.advance(60)
    b = kit.browser()
    before = kit.sms_count()
    page = kit.sign_in(b)
    assert page.url.path == "/mfa/code"
    assert kit.sms_count() == before + 1  # secondary_auth_initiated: sent by primary auth
    assert "We sent a code to your phone." in alerts(page.text)
    assert current_state(page.text) == "challenged"
    done = b.post("/mfa/code", code=kit.last_code())
    assert done.url.path == "/account"


def test_returning_totp_member_and_recovery_code(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    first = kit.browser()
    kit.sign_in(first)
    secret, codes = kit.enroll_totp(first)
    kit.clock.advance(60)
    b = kit.browser()
    page = kit.sign_in(b)
    assert page.url.path == "/mfa/challenge"
    assert "Use my authenticator app" in page.text and "Text me a code" not in page.text
    recovery = b.get("/mfa/recovery")
    wrong = b.post("/mfa/recovery", recovery_code="aaaa-bbbb-cccc")
    assert wrong.status_code == 400 and recovery.status_code == 200
    done = b.post("/mfa/recovery", recovery_code=codes[0])
    assert done.url.path == "/account"
    assert "Signed in with a recovery code; 9 left." in alerts(done.text)
    assert "recovery_codes (second factor)" in done.text
    kit.clock.advance(60)
    c = kit.browser()
    kit.sign_in(c)
    c.post("/mfa/challenge/totp")
    assert c.post("/mfa/code", code=kit.totp_code(secret)).url.path == "/account"


def test_resend_has_a_cooldown_and_voids_the_old_code(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    b = kit.browser()
    kit.sign_in(b)
    page = b.post("/mfa/enroll/sms", phone=PHONE)
    assert 'data-testid="cooldown"' in page.text and "30 seconds" in page.text
    old = kit.last_code()
    early = b.post("/mfa/resend")
    assert early.status_code == 429
    assert any("wait 30 seconds" in a for a in alerts(early.text))
    kit.clock.advance(12)
    assert "18 seconds" in b.get("/mfa/code").text
    kit.clock.advance(19)
    again = b.post("/mfa/resend")
    assert again.url.path == "/mfa/code" and kit.sms_count() == 2
    new = kit.last_code()
    if new != old:
        assert b.post("/mfa/code", code=old).status_code == 400
    assert b.post("/mfa/code", code=new).url.path == "/account"


def test_lockout_after_ten_wrong_codes_is_explained(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    b = kit.browser()
    kit.sign_in(b)
    b.post("/mfa/enroll/sms", phone=PHONE)
    wrong = _wrong(kit.last_code())
    for _ in range(9):
        assert b.post("/mfa/code", code=wrong).status_code == 400
    locked = b.post("/mfa/code", code=wrong)
    assert locked.status_code == 429
    assert "Account locked" in locked.text and "locked until" in locked.text
    assert current_state(locked.text) == "failed"
    again = kit.sign_in(kit.browser())
    assert again.status_code == 429
    assert any("locked for an hour" in a for a in alerts(again.text))


def test_an_expired_sign_in_says_so(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    b = kit.browser()
    kit.sign_in(b)
    b.post("/mfa/enroll/sms", phone=PHONE)
    kit.clock.advance(601)
    late = b.post("/mfa/code", code=kit.last_code())
    assert late.status_code == 401
    assert "Sign-in expired" in late.text and "sign in again" in late.text.lower()
    assert b.get("/mfa/code").url.path == "/"


def test_mfa_pages_without_a_sign_in_send_you_to_the_start(kit: WebKit) -> None:
    b = kit.browser()
    for path in ("/mfa/enroll", "/mfa/enroll/sms", "/mfa/challenge", "/mfa/code", "/account"):
        page = b.get(path)
        assert page.url.path == "/" and page.status_code == 200, path
    b.get("/")
    assert b.post("/mfa/code", code="123456").url.path == "/"
    assert b.post("/mfa/enroll/totp").url.path == "/"
