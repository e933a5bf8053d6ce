"""What the second-factor pages share: the credential a browser answers with, where a
verified code leads, the resend cooldown, and Stytch's `set_mfa_enrollment` from a form."""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

from starlette.responses import Response

from mfa_fsm_local.provider import AuthResult

from ._kit import Page

WRONG_CODE = {"otp_code_not_found", "invalid_totp_code", "recovery_code_not_found"}
NEXT_PATHS = frozenset({"/account", "/sensitive", "/protected", "/mfa/enroll/sms"})
METHOD_NAMES = {"sms_otp": "text message (SMS)", "totp": "authenticator app"}


class Creds(NamedTuple):
    """Exactly one of them is set, as every authenticate call requires."""

    intermediate_session_token: str | None
    session_token: str | None


def creds(page: Page) -> Creds | None:
    """The credential this browser answers with: its IST while signing in, else its session."""
    s = page.session
    if s.intermediate_session_token:
        return Creds(s.intermediate_session_token, None)
    if s.session_token:
        return Creds(None, s.session_token)
    return None


def no_flow(page: Page) -> Response:
    return page.redirect("/", notice="Please sign in first.")


def track(page: Page, result: AuthResult) -> None:
    if result.flow is not None:
        page.session.flow_id, page.session.state = result.flow.flow_id, result.flow.state


def purpose_then(page: Page) -> tuple[Literal["login", "step_up"], str]:
    """What a code answered now is for, and where success leads."""
    if page.session.intermediate_session_token:
        return "login", "/account"
    nxt = page.session.next_path
    return "step_up", nxt if nxt in NEXT_PATHS else "/account"


def cooldown_left(page: Page) -> int:
    sent = page.session.sms_sent_at
    if sent is None:
        return 0
    return max(0, math.ceil(sent + page.settings.resend_cooldown_seconds - page.now()))


def offer_every_login(page: Page) -> bool:
    """Whether to ask "a code at every sign-in?": adding a first factor under OPTIONAL."""
    s = page.session
    if s.intermediate_session_token or not s.session_token:
        return False
    org = page.provider.organizations_get(s.organization_id)
    member = page.provider.members_get(s.organization_id, s.member_id)
    return org.mfa_policy.value == "OPTIONAL" and not member.mfa_enrolled


def enrollment_flag(page: Page) -> Literal["enroll", "unenroll"] | None:
    """Stytch's `set_mfa_enrollment` from the form: only when the question was asked."""
    if not page.form.get("every_login_offered"):
        return None
    return "enroll" if page.form.get("every_login") else "unenroll"


def mask_phone(phone: str) -> str:
    return phone[:3] + "•" * max(0, len(phone) - 5) + phone[-2:] if len(phone) > 5 else phone
