"""Pages behind a member session: the account (optional enrollment, unenrollment, default
method), a sensitive action guarded by step-up, and a page that enforces MFA by the
session's `authentication_factors` (seed 004).
"""

from __future__ import annotations

import uuid

from starlette.responses import Response

from mfa_fsm import (
    Intent,
    MemberFactors,
    Method,
    MfaError,
    MfaMethods,
    OrgPolicy,
    SessionPresented,
    needs_step_up,
    satisfies,
)
from mfa_fsm_local._records import Member, Organization, Session

from ._kit import BadForm, Page
from ._mfa import answer_failed
from ._steps import METHOD_NAMES, NEXT_PATHS
from ._websession import Pending

SECOND_FACTOR_TYPES = frozenset({"otp", "totp", "recovery_codes"})


def _signed_in(page: Page) -> Session | None:
    return page.member_session()


def _sign_in_first(page: Page) -> Response:
    return page.redirect("/", notice="Please sign in to see that page.")


def _enrolled(member: Member) -> list[str]:
    found = ["sms_otp"] if member.mfa_phone_number and member.mfa_phone_number_verified else []
    return found + (["totp"] if member.totp_registration_id else [])


def _allowed(org: Organization, member: Member) -> list[str]:
    if org.mfa_methods is MfaMethods.RESTRICTED and not member.is_breakglass:
        return sorted(m.value for m in org.allowed_mfa_methods)
    return ["sms_otp", "totp"]


def _fresh(page: Page, session: Session) -> bool:
    """Whether the session's second factor is recent enough for a sensitive action."""
    return not needs_step_up(
        session.authentication_factors, page.now(), page.settings.step_up_seconds
    )


def account(page: Page) -> Response:
    session = _signed_in(page)
    if session is None:
        return _sign_in_first(page)
    s = page.session
    member = page.provider.members_get(s.organization_id, s.member_id)
    org = page.provider.organizations_get(s.organization_id)
    enrolled = _enrolled(member)
    recovery_left = (
        page.provider.recovery_codes_get(org.organization_id, member.member_id)
        if member.totp_registration_id
        else None
    )
    return page.render(
        "account.html",
        title="Your account",
        member=member,
        org=org,
        enrolled=enrolled,
        allowed=_allowed(org, member),
        names=METHOD_NAMES,
        titles={"sms_otp": "Text message (SMS)", "totp": "Authenticator app"},
        factors=session.authentication_factors,
        second=SECOND_FACTOR_TYPES,
        recovery_left=recovery_left,
        fresh=_fresh(page, session),
        optional=org.mfa_policy.value == "OPTIONAL",
    )


def step_up_start(page: Page) -> Response:
    """Ask for a fresh second factor, then come back to `next`."""
    if _signed_in(page) is None:
        return _sign_in_first(page)
    nxt = page.field("next", required=False)
    page.session.next_path = nxt if nxt in NEXT_PATHS else "/account"
    page.session.clear_mfa()
    return page.redirect("/mfa/challenge")


def _method(page: Page) -> str:
    method = page.field("method")
    if method not in METHOD_NAMES:
        raise BadForm("Choose SMS or authenticator app.")
    return method


def default_method(page: Page) -> Response:
    """Stytch sets the default by verifying that method with `set_default_mfa`."""
    session = _signed_in(page)
    if session is None:
        return _sign_in_first(page)
    method = _method(page)
    s = page.session
    member = page.provider.members_get(s.organization_id, s.member_id)
    if method not in _enrolled(member):
        raise BadForm(f"Set up the {METHOD_NAMES[method]} before making it the default.")
    s.clear_mfa()
    if method == "totp":
        s.pending = Pending(purpose="default", method="totp", set_default=True)
        return page.redirect("/mfa/code")
    s.pending = Pending(purpose="default", method="sms_otp", set_default=True)
    try:
        result = page.provider.otps_sms_send(
            s.organization_id,
            s.member_id,
            session_token=s.session_token,
            request_id=page.request_id,
        )
    except MfaError as exc:
        return answer_failed(page, exc)
    if result.flow is not None:
        s.flow_id, s.state = result.flow.flow_id, result.flow.state
    s.sms_sent_at = page.now()
    return page.redirect("/mfa/code", notice="We sent a code to your phone to confirm.")


def _unenroll_check(page: Page, session: Session, member: Member, method: str) -> None:
    """Ask the engine whether removing `method` is allowed (invariant 10); raise if not."""
    org = page.provider.organizations_get(member.organization_id)
    event = SessionPresented(
        at=page.now(),
        organization=OrgPolicy(
            organization_id=org.organization_id,
            mfa_policy=org.mfa_policy,
            mfa_methods=org.mfa_methods,
            allowed_mfa_methods=tuple(org.allowed_mfa_methods),
        ),
        member=MemberFactors(
            member_id=member.member_id,
            mfa_enrolled=member.mfa_enrolled,
            mfa_phone_number=member.mfa_phone_number or None,
            mfa_phone_number_verified=member.mfa_phone_number_verified,
            totp_registration_id=member.totp_registration_id or None,
            default_mfa_method=Method(member.default_mfa_method)
            if member.default_mfa_method
            else None,
            is_breakglass=member.is_breakglass,
            roles=tuple(member.roles),
            failed_attempts=member.failed_attempts,
            locked_until=member.lock_expires_at,
        ),
        session_id=session.member_session_id,
        session_factors=tuple(session.authentication_factors),
        intent=Intent.UNENROLL,
        unenroll_method=Method(method),
    )
    step = page.provider.engine.start(f"unenroll-check-{uuid.uuid4()}", event)
    if step.error is not None:
        raise step.error


def remove_factor(page: Page) -> Response:
    session = _signed_in(page)
    if session is None:
        return _sign_in_first(page)
    method = _method(page)
    s = page.session
    member = page.provider.members_get(s.organization_id, s.member_id)
    if method not in _enrolled(member):
        raise BadForm(f"The {METHOD_NAMES[method]} is not set up.")
    if not _fresh(page, session):
        s.next_path = "/account"
        s.clear_mfa()
        return page.redirect(
            "/mfa/challenge", notice="Confirm with a second factor before removing one."
        )
    _unenroll_check(page, session, member, method)
    if method == "sms_otp":
        member = page.provider.members_delete_mfa_phone_number(s.organization_id, s.member_id)
    else:
        member = page.provider.members_delete_totp(s.organization_id, s.member_id)
    if not _enrolled(member) and member.mfa_enrolled:
        page.provider.members_update(s.organization_id, s.member_id, mfa_enrolled=False)
    return page.redirect("/account", notice=f"The {METHOD_NAMES[method]} was removed.")


def sensitive(page: Page) -> Response:
    session = _signed_in(page)
    if session is None:
        return _sign_in_first(page)
    s = page.session
    member = page.provider.members_get(s.organization_id, s.member_id)
    return page.render(
        "sensitive.html",
        title="Sensitive action",
        fresh=_fresh(page, session),
        has_factor=bool(_enrolled(member)),
        has_totp=bool(member.totp_registration_id),
        max_age=int(page.settings.step_up_seconds),
        codes=None,
    )


def sensitive_submit(page: Page) -> Response:
    """The sensitive action itself (new recovery codes) re-checks the step-up on the server."""
    session = _signed_in(page)
    if session is None:
        return _sign_in_first(page)
    if not _fresh(page, session):
        return page.error(
            "This action needs a second factor from the last "
            f"{int(page.settings.step_up_seconds)} seconds. Confirm with a code first.",
            403,
            title="Step-up needed",
        )
    s = page.session
    codes = page.provider.recovery_codes_rotate(s.organization_id, s.member_id)
    return page.render(
        "sensitive.html",
        title="New recovery codes",
        fresh=True,
        has_factor=True,
        has_totp=True,
        max_age=int(page.settings.step_up_seconds),
        codes=codes,
    )


def protected(page: Page) -> Response:
    session = _signed_in(page)
    if session is None:
        return _sign_in_first(page)
    factors = session.authentication_factors
    ok = any(satisfies(factors, need) for need in page.settings.protected_factors)
    return page.render(
        "protected.html",
        status=200 if ok else 403,
        title="Protected page" if ok else "Second factor needed",
        ok=ok,
        factors=factors,
        second=SECOND_FACTOR_TYPES,
        needs=[sorted(n) for n in page.settings.protected_factors],
    )
