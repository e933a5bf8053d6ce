"""Enrollment pages: the method choice (only org-allowed methods), the phone form with
E.164 help, and the start of a TOTP registration (its page is the TOTP code form).

From a member session (not an IST), a member who already has a factor adds or replaces one
only with a second factor younger than `step_up_seconds`; otherwise a step-up comes first.
Without that, a stolen or left-open session could add the attacker's factor and then pass
every later step-up with it."""

from __future__ import annotations

from starlette.responses import Response

from mfa_fsm import MfaError

from ._account import _enrolled, _fresh
from ._kit import Page
from ._messages import PHONE_HELP
from ._mfa import answer_failed
from ._steps import (
    METHOD_NAMES,
    creds,
    enrollment_flag,
    mask_phone,
    no_flow,
    offer_every_login,
    purpose_then,
    track,
)
from ._websession import Pending, TotpShown


def enroll_choice(page: Page) -> Response:
    s = page.session
    if not s.intermediate_session_token:
        return page.redirect("/account") if s.session_token else no_flow(page)
    return page.render(
        "enroll.html", title="Set up a second factor", offered=s.offered, names=METHOD_NAMES
    )


def phone_form(page: Page, error: str = "", status: int = 200, phone: str = "") -> Response:
    if creds(page) is None:
        return no_flow(page)
    return page.render(
        "phone.html",
        status=status,
        title="Add a phone number",
        error=error,
        phone=phone,
        help=PHONE_HELP,
        optional=offer_every_login(page),
    )


def phone_form_page(page: Page) -> Response:
    return phone_form(page)


def step_up_before_adding(page: Page, come_back: str) -> Response | None:
    """A redirect to the step-up challenge when this session may not add a factor yet."""
    s = page.session
    if s.intermediate_session_token or not s.session_token:
        return None  # signing in: the engine rules on the IST (invariant 3)
    session = page.member_session()
    if session is None:
        return no_flow(page)
    member = page.provider.members_get(s.organization_id, s.member_id)
    if not _enrolled(member) or _fresh(page, session):
        return None
    s.clear_mfa()
    s.next_path = come_back
    return page.redirect(
        "/mfa/challenge", notice="Confirm with a second factor before adding or replacing one."
    )


def phone_submit(page: Page) -> Response:
    answer_with = creds(page)
    if answer_with is None:
        return no_flow(page)
    first = step_up_before_adding(page, "/mfa/enroll/sms")
    if first is not None:
        return first
    s = page.session
    phone = page.field("phone", required=False)
    if not phone:
        return phone_form(page, "Enter your mobile number. " + PHONE_HELP, 400)
    try:
        result = page.provider.otps_sms_send(
            s.organization_id,
            s.member_id,
            mfa_phone_number=phone,
            request_id=page.request_id,
            intermediate_session_token=answer_with.intermediate_session_token,
            session_token=answer_with.session_token,
        )
    except MfaError as exc:
        if exc.error_type == "invalid_phone_number":
            detail = exc.message.rstrip(".")
            return phone_form(page, f"{detail[:1].upper()}{detail[1:]}.", 400, phone)
        return answer_failed(page, exc)
    track(page, result)
    purpose, then = purpose_then(page)
    s.pending = Pending(
        purpose="add" if purpose == "step_up" else "login",
        method="sms_otp",
        enrolling=True,
        phone=phone,
        enroll_flag=enrollment_flag(page),
        then=then,
    )
    s.totp = None
    s.sms_sent_at = page.now()
    return page.redirect("/mfa/code", notice=f"We sent a code to {mask_phone(phone)}.")


def totp_start(page: Page) -> Response:
    answer_with = creds(page)
    if answer_with is None:
        return no_flow(page)
    first = step_up_before_adding(page, "/account")
    if first is not None:
        return first
    s = page.session
    try:
        result = page.provider.totps_create(
            s.organization_id,
            s.member_id,
            request_id=page.request_id,
            intermediate_session_token=answer_with.intermediate_session_token,
            session_token=answer_with.session_token,
        )
    except MfaError as exc:
        return answer_failed(page, exc)
    track(page, result)
    shown = result.totp or {}
    s.totp = TotpShown(
        secret=shown["secret"],
        qr_code=shown["qr_code"],
        otpauth_uri=shown["otpauth_uri"],
        recovery_codes=list(shown["recovery_codes"]),
    )
    purpose, then = purpose_then(page)
    s.pending = Pending(
        purpose="add" if purpose == "step_up" else "login",
        method="totp",
        enrolling=True,
        then=then,
    )
    s.sms_sent_at = None
    return page.redirect("/mfa/enroll/totp")
