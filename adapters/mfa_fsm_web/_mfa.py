"""Answering a second factor: the TOTP set-up form, the challenge, code entry, resend,
recovery codes; and what a success (new session, new browser session id) or a refusal
(wrong code, lockout, expiry) shows. Works from an IST (login) or a session (step-up,
adding a method, changing the default); the engine behind the provider decides.
"""

from __future__ import annotations

from starlette.responses import Response

from mfa_fsm import MfaError, MfaMethods
from mfa_fsm_local.provider import AuthResult

from ._kit import Page, when
from ._messages import message_for, status_for
from ._steps import (
    METHOD_NAMES,
    NEXT_PATHS,
    WRONG_CODE,
    cooldown_left,
    creds,
    enrollment_flag,
    mask_phone,
    no_flow,
    offer_every_login,
    purpose_then,
    track,
)
from ._websession import Pending

# ---------------------------------------------------------------- TOTP set-up form


def totp_page(page: Page, error: str = "", status: int = 200) -> Response:
    s = page.session
    if s.totp is None or s.pending is None or s.pending.method != "totp":
        return page.redirect("/")
    secret = s.totp.secret
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return page.render(
        "totp.html",
        status=status,
        title="Set up your authenticator app",
        totp=s.totp,
        grouped_secret=grouped,
        error=error,
        optional=offer_every_login(page),
    )


def totp_page_get(page: Page) -> Response:
    return totp_page(page)


# ---------------------------------------------------------------- challenge


def _challenge_methods(page: Page) -> list[str]:
    s = page.session
    if s.intermediate_session_token:
        return list(s.offered)
    member = page.provider.members_get(s.organization_id, s.member_id)
    org = page.provider.organizations_get(s.organization_id)
    allowed = {"sms_otp", "totp"}
    if org.mfa_methods is MfaMethods.RESTRICTED and not member.is_breakglass:
        allowed = {m.value for m in org.allowed_mfa_methods}
    enrolled = {"totp"} if member.totp_registration_id else set()
    if member.mfa_phone_number and member.mfa_phone_number_verified:
        enrolled.add("sms_otp")
    return sorted(allowed & enrolled)


def challenge(page: Page) -> Response:
    if creds(page) is None:
        return no_flow(page)
    methods = _challenge_methods(page)
    return page.render(
        "challenge.html",
        title="Confirm it's you",
        methods=methods,
        names=METHOD_NAMES,
        step_up=not page.session.intermediate_session_token,
    )


def challenge_sms(page: Page) -> Response:
    answer_with = creds(page)
    if answer_with is None:
        return no_flow(page)
    s = page.session
    try:
        result = page.provider.otps_sms_send(
            s.organization_id,
            s.member_id,
            request_id=page.request_id,
            intermediate_session_token=answer_with.intermediate_session_token,
            session_token=answer_with.session_token,
        )
    except MfaError as exc:
        return answer_failed(page, exc)
    track(page, result)
    purpose, then = purpose_then(page)
    s.pending = Pending(purpose=purpose, method="sms_otp", then=then)
    s.totp = None
    s.sms_sent_at = page.now()
    return page.redirect("/mfa/code", notice="We sent a code to your phone.")


def challenge_totp(page: Page) -> Response:
    if creds(page) is None:
        return no_flow(page)
    purpose, then = purpose_then(page)
    page.session.pending = Pending(purpose=purpose, method="totp", then=then)
    page.session.totp = None
    return page.redirect("/mfa/code")


# ---------------------------------------------------------------- code entry


def code_page(page: Page, error: str = "", status: int = 200) -> Response:
    s = page.session
    p = s.pending
    if p is None or creds(page) is None:
        return page.redirect("/")
    if p.method == "totp" and p.enrolling:
        return totp_page(page, error, status)
    return page.render(
        "code.html",
        status=status,
        title="Enter your code",
        pending=p,
        method_name=METHOD_NAMES[p.method],
        phone=mask_phone(p.phone) if p.phone else "",
        wait=cooldown_left(page),
        error=error,
        recovery=not p.enrolling and "totp" in s.offered and bool(s.intermediate_session_token),
        switch=p.purpose != "default",
    )


def code_page_get(page: Page) -> Response:
    return code_page(page)


def code_submit(page: Page) -> Response:
    answer_with = creds(page)
    p = page.session.pending
    if answer_with is None or p is None:
        return no_flow(page)
    code = page.field("code", required=False).replace(" ", "")
    if not code:
        return code_page(page, "Enter the 6-digit code.", 400)
    s = page.session
    flag = enrollment_flag(page) or p.enroll_flag
    default = p.set_default or bool(page.form.get("make_default"))
    answer = (
        page.provider.otps_sms_authenticate
        if p.method == "sms_otp"
        else page.provider.totps_authenticate
    )
    try:
        result = answer(
            s.organization_id,
            s.member_id,
            code,
            set_mfa_enrollment=flag,
            set_default_mfa=default,
            request_id=page.request_id,
            intermediate_session_token=answer_with.intermediate_session_token,
            session_token=answer_with.session_token,
        )
    except MfaError as exc:
        return answer_failed(page, exc)
    return finish(page, result, _done_notice(p))


def _done_notice(p: Pending) -> str:
    if p.purpose == "login":
        return "Signed in with your second factor."
    if p.purpose == "default":
        return f"Your default method is now the {METHOD_NAMES[p.method]}."
    if p.enrolling:
        return f"The {METHOD_NAMES[p.method]} was added to your account."
    return "Second factor confirmed."


def resend(page: Page) -> Response:
    answer_with = creds(page)
    p = page.session.pending
    if answer_with is None or p is None or p.method != "sms_otp":
        return page.redirect("/")
    wait = cooldown_left(page)
    if wait:
        return code_page(page, f"Please wait {wait} seconds before asking for a new code.", 429)
    s = page.session
    try:
        result = page.provider.otps_sms_send(
            s.organization_id,
            s.member_id,
            mfa_phone_number=p.phone or None,
            request_id=page.request_id,
            intermediate_session_token=answer_with.intermediate_session_token,
            session_token=answer_with.session_token,
        )
    except MfaError as exc:
        return answer_failed(page, exc)
    track(page, result)
    s.sms_sent_at = page.now()
    return page.redirect(
        "/mfa/code", notice="A new code is on its way; the old one no longer works."
    )


def recovery_page(page: Page, error: str = "", status: int = 200) -> Response:
    if not page.session.intermediate_session_token:
        return page.redirect("/")
    return page.render("recovery.html", status=status, title="Use a recovery code", error=error)


def recovery_page_get(page: Page) -> Response:
    return recovery_page(page)


def recovery_submit(page: Page) -> Response:
    s = page.session
    if not s.intermediate_session_token:
        return no_flow(page)
    code = page.field("recovery_code", required=False)
    if not code:
        return recovery_page(page, "Enter one of your recovery codes.", 400)
    try:
        result, left = page.provider.recovery_codes_recover(
            s.organization_id,
            s.member_id,
            code,
            intermediate_session_token=s.intermediate_session_token,
            request_id=page.request_id,
        )
    except MfaError as exc:
        if exc.error_type in WRONG_CODE:
            return recovery_page(page, message_for(exc), 400)
        return answer_failed(page, exc)
    return finish(page, result, f"Signed in with a recovery code; {left} left.")


# ---------------------------------------------------------------- outcomes


def finish(page: Page, result: AuthResult, notice: str) -> Response:
    """A new member session: a new browser session id too (rotation at MFA)."""
    s = page.session
    then = s.pending.then if s.pending is not None else "/account"
    page.rotate()
    s.clear_mfa()
    s.next_path = ""
    track(page, result)
    s.session_token = result.session_token
    return page.redirect(then if then in NEXT_PATHS else "/account", notice=notice)


def answer_failed(page: Page, exc: MfaError) -> Response:
    """Wrong code: the same form again with the reason. Locked or expired: say so plainly."""
    s = page.session
    if exc.error_type in WRONG_CODE:
        return code_page(page, message_for(exc), 400)
    if exc.error_type == "user_lock_limit_reached":
        member = page.provider.members_get(s.organization_id, s.member_id)
        s.clear_mfa()
        return page.render(
            "error.html",
            status=429,
            title="Account locked",
            message=(
                "Too many wrong codes in a row. For your safety this account is locked "
                f"until {when(member.lock_expires_at)}. Try again after that time."
            ),
        )
    if exc.error_type == "intermediate_session_not_found":
        s.clear_mfa()
        return page.error(message_for(exc), 401, title="Sign-in expired")
    if exc.error_type == "session_not_found":
        s.clear_mfa()
        s.session_token = ""
        return page.error(message_for(exc), 401, title="Session ended")
    return page.error(message_for(exc), status_for(exc))
