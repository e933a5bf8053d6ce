"""Primary login (password, email magic link) and sign-out; the engine decides what follows.

After a primary factor the provider answers as Stytch does — a session, or an IST with
`mfa_required` — and `after_primary` turns that into the next page: the account, the
enrollment choice, or the code form (SMS already sent when `secondary_auth_initiated`).
"""

from __future__ import annotations

from starlette.responses import Response

from mfa_fsm import MfaError, offered_methods
from mfa_fsm_local.provider import AuthResult

from ._kit import Page
from ._messages import message_for, status_for
from ._websession import Pending

MAGIC_TOKEN_TYPE = "multi_tenant_magic_links"


def home(page: Page) -> Response:
    s = page.session
    if s.intermediate_session_token:
        if s.pending is not None:
            return page.redirect("/mfa/code")
        return page.redirect(
            "/mfa/challenge" if page.current_state() == "challenged" else "/mfa/enroll"
        )
    if page.member_session() is not None:
        return page.redirect("/account")
    return page.render("login.html", title="Sign in")


def _login_again(page: Page, exc: MfaError, **form: str) -> Response:
    return page.render(
        "login.html", status=status_for(exc), title="Sign in", error=message_for(exc), **form
    )


def login_password(page: Page) -> Response:
    org, email = page.field("organization"), page.field("email")
    password = page.field("password")
    try:
        result = page.provider.passwords_authenticate(
            org, email, password, request_id=page.request_id
        )
    except MfaError as exc:
        return _login_again(page, exc, organization=org, email=email)
    return after_primary(page, result)


def magic_link_send(page: Page) -> Response:
    org, email = page.field("organization"), page.field("email")
    try:
        page.provider.magic_links_email_login_or_signup(org, email)
    except MfaError as exc:
        return _login_again(page, exc, organization=org, email=email)
    return page.render("magic_sent.html", title="Check your email", email=email)


def magic_link_landing(page: Page) -> Response:
    """The emailed link lands here; a button POSTs the token, so link scanners that only
    GET cannot spend it, and the token leaves the address bar at once."""
    token = page.request.query_params.get("token", "")
    kind = page.request.query_params.get("stytch_token_type", MAGIC_TOKEN_TYPE)
    if not token or kind != MAGIC_TOKEN_TYPE or len(token) > 256:
        return page.error("This sign-in link is incomplete or not ours.", 400)
    return page.render("magic_confirm.html", title="Finish signing in", token=token)


def magic_link_authenticate(page: Page) -> Response:
    token = page.field("token")
    try:
        result = page.provider.magic_links_authenticate(token, request_id=page.request_id)
    except MfaError as exc:
        return page.error(message_for(exc), status_for(exc), title="Sign-in link refused")
    return after_primary(page, result)


def after_primary(page: Page, result: AuthResult) -> Response:
    """Rotate the browser's session id, keep the IST server-side, go where the engine says."""
    page.rotate()
    s = page.session
    s.clear_mfa()
    s.session_token = ""
    s.next_path = ""
    s.organization_id = result.organization.organization_id
    s.member_id = result.member.member_id
    if result.flow is not None:
        s.flow_id, s.state = result.flow.flow_id, result.flow.state
        s.offered = [m.value for m in offered_methods(result.flow)]
    if result.member_authenticated:
        s.session_token = result.session_token
        return page.redirect("/account", notice="Signed in.")
    s.intermediate_session_token = result.intermediate_session_token
    mfa = result.mfa_required or {}
    if mfa.get("member_options") is None:
        return page.redirect("/mfa/enroll")
    if mfa.get("secondary_auth_initiated") == "sms_otp":
        s.pending = Pending(purpose="login", method="sms_otp")
        s.sms_sent_at = page.now()
        return page.redirect("/mfa/code", notice="We sent a code to your phone.")
    return page.redirect("/mfa/challenge")


def logout(page: Page) -> Response:
    found = page.member_session()
    if found is not None:
        page.provider.sessions_revoke(found.member_session_id)
    page.rotate()
    s = page.session
    s.clear_mfa()
    s.session_token = s.organization_id = s.member_id = s.flow_id = s.next_path = ""
    s.state = "start"
    return page.redirect("/", notice="Signed out.")


__all__ = [
    "after_primary",
    "home",
    "login_password",
    "logout",
    "magic_link_authenticate",
    "magic_link_landing",
    "magic_link_send",
]
