"""Primary login pages: password and magic link, and what the engine decides next."""

from __future__ import annotations

from .conftest import PASSWORD, WebKit, alerts, current_state


def test_login_page_renders_with_the_flow_at_start(kit: WebKit) -> None:
    b = kit.browser()
    page = b.get("/")
    assert page.status_code == 200
    assert current_state(page.text) == "start"
    assert 'aria-current="step"' in page.text and "<script" not in page.text
    assert 'autocomplete="current-password"' in page.text


def test_wrong_password_and_unknown_org_say_so(kit: WebKit) -> None:
    kit.member(kit.org())
    b = kit.browser()
    b.get("/")
    wrong = b.post("/login", organization="acme", email="ada@example.com", password="nope")
    assert wrong.status_code == 401
    assert "That email address and password do not match." in alerts(wrong.text)
    unknown = b.post("/login", organization="nowhere", email="ada@example.com", password="x")
    assert unknown.status_code == 404
    assert any("No organization has that name" in a for a in alerts(unknown.text))


def test_missing_field_is_a_clear_400(kit: WebKit) -> None:
    b = kit.browser()
    b.get("/")
    page = b.post("/login", organization="acme", email="ada@example.com")
    assert page.status_code == 400
    assert "password" in page.text and "is required" in page.text


def test_optional_org_signs_in_with_the_password_alone(kit: WebKit) -> None:
    kit.member(kit.org())
    b = kit.browser()
    page = kit.sign_in(b)
    assert page.url.path == "/account"
    assert "Signed in." in alerts(page.text)
    assert current_state(page.text) == "authenticated"
    assert "password" in page.text and "knowledge" in page.text


def test_required_org_without_factor_goes_to_enrollment_choice(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    b = kit.browser()
    page = kit.sign_in(b)
    assert page.url.path == "/mfa/enroll"
    assert current_state(page.text) == "primary_done"
    assert "Use a phone number" in page.text and "Use an authenticator app" in page.text


def test_magic_link_landing_does_not_spend_the_token_and_post_does(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    b = kit.browser()
    b.get("/")
    sent = b.post("/login/magic-link", organization="acme", email="ada@example.com")
    assert sent.status_code == 200 and "Check your email" in sent.text
    token = kit.last_token("ada@example.com")
    url = f"/authenticate?stytch_token_type=multi_tenant_magic_links&token={token}"
    assert b.get(url).status_code == 200
    landing = b.get(url)  # a link scanner's GET must not use up the link
    assert "Continue" in landing.text
    page = b.post("/authenticate", token=token)
    assert page.url.path == "/mfa/enroll"
    again = b.post("/authenticate", token=token)
    assert again.status_code == 404
    assert any("already used" in a for a in alerts(again.text))


def test_magic_link_with_a_foreign_token_type_is_refused(kit: WebKit) -> None:
    b = kit.browser()
    page = b.get("/authenticate?stytch_token_type=oauth&token=abc")
    assert page.status_code == 400
    assert b.get("/authenticate").status_code == 400


def test_logout_revokes_the_member_session(kit: WebKit) -> None:
    kit.member(kit.org())
    b = kit.browser()
    kit.sign_in(b)
    assert b.get("/account").url.path == "/account"
    out = b.post("/logout")
    assert out.url.path == "/" and "Signed out." in alerts(out.text)
    assert b.get("/account").url.path == "/"
    sessions = kit.provider.sessions_get(
        kit.provider.organizations_get("acme").organization_id,
        kit.provider.member_by_email("acme", "ada@example.com").member_id,  # type: ignore[union-attr]
    )
    assert sessions == []
    assert PASSWORD not in out.text


def test_home_during_a_sign_in_resumes_it_and_it_can_be_cancelled(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    b = kit.browser()
    kit.sign_in(b)
    resumed = b.get("/")
    assert resumed.url.path == "/mfa/enroll" and "Cancel sign-in" in resumed.text
    cancelled = b.post("/logout")
    assert cancelled.url.path == "/" and current_state(cancelled.text) == "start"
    assert 'id="pw-org"' in cancelled.text
