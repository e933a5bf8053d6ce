"""Stytch's replies judged against the engine: events built from replies, effects checked.

Stytch carries out the end of a flow itself, in the authenticate call (it consumes the
IST, records the factor, sets the flags, issues the session). So the engine's closing
effects are not calls but claims to check in that reply: a reply that does not show
what the engine decided is refused, whatever Stytch says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

from mfa_fsm import (
    AuthenticationFactor,
    Effect,
    Flow,
    IssueSession,
    Method,
    RecordEnrollment,
    SetDefaultMethod,
    SetMfaEnrollment,
)

from ._outcome import MemberSession
from ._wire import AuthenticatedReply, WireMember, WireSession

SECOND_FACTOR_TYPES = frozenset({"otp", "totp", "recovery_codes"})
"""Session factor types that count as a second factor (as the core counts them)."""

Answer = Literal["sms_otp", "totp", "recovery_code"]
NO_IST = "no-intermediate-session"
"""The `ist_id` of a flow that began with a session already issued (no IST exists)."""


def ist_digest(token: str) -> str:
    """A flow is bound to its IST by digest, so the flow's JSON never holds the token."""
    return "ist-" + hashlib.sha256(token.encode()).hexdigest()


def expected_factor(flow: Flow, answer: Answer) -> str:
    """The factor a right answer proves, as the flow expects it."""
    if answer == "sms_otp":
        return flow.pending or flow.phone or "-"
    if answer == "totp":
        return (flow.pending if flow.state == "enrolling_totp" else flow.totp_id) or "-"
    return "recovery"


def proven_factor(member: WireMember, answer: Answer) -> str:
    """The factor Stytch's reply says was proven."""
    if answer == "sms_otp":
        return member.mfa_phone_number or "-"
    if answer == "totp":
        return member.totp_registration_id or "-"
    return "recovery"


def session_of(session: WireSession) -> MemberSession:
    expires = session.expires_at.timestamp() if session.expires_at else None
    return MemberSession(
        member_session_id=session.member_session_id,
        member_id=session.member_id,
        organization_id=session.organization_id,
        authentication_factors=tuple(f.to_engine() for f in session.authentication_factors),
        expires_at=expires,
    )


def enrollment_request(effects: Iterable[Effect]) -> tuple[str | None, bool | None]:
    """`set_mfa_enrollment` and `set_default_mfa` as the engine decided them."""
    enrollment: str | None = None
    default: bool | None = None
    for effect in effects:
        if isinstance(effect, SetMfaEnrollment):
            enrollment = "enroll" if effect.enrolled else "unenroll"
        elif isinstance(effect, SetDefaultMethod):
            default = True
    return enrollment, default


def session_problems(
    flow: Flow, wanted: IssueSession, token: str, session: WireSession | None, skew: float
) -> list[str]:
    """Why a session does not carry what the engine requires (empty: it does)."""
    if session is None or not token:
        return ["no session was issued"]
    problems: list[str] = []
    if (session.organization_id, session.member_id) != (flow.organization_id, flow.member_id):
        problems.append("the session belongs to another member")
    have = [f.to_engine() for f in session.authentication_factors]
    if not have:
        problems.append("the session carries no authentication factor")
    for factor in wanted.authentication_factors:
        if factor.type in SECOND_FACTOR_TYPES and not _fresh_match(
            factor, have, flow.started_at - skew
        ):
            problems.append(
                f"the session lacks the {factor.type}/{factor.delivery_method} factor"
                " verified in this flow"
            )
    return problems


def _fresh_match(
    wanted: AuthenticationFactor, have: list[AuthenticationFactor], since: float
) -> bool:
    return any(
        f.type == wanted.type
        and f.delivery_method == wanted.delivery_method
        and f.last_authenticated_at >= since
        for f in have
    )


def effect_problems(
    flow: Flow, effects: Iterable[Effect], reply: AuthenticatedReply, skew: float
) -> list[str]:
    """Every closing effect the engine asked for, checked against Stytch's reply."""
    member = reply.member
    problems: list[str] = []
    effects = tuple(effects)
    asked = any(isinstance(e, SetMfaEnrollment) for e in effects)
    if flow.mfa_enrolled and not member.mfa_enrolled and not asked:
        problems.append("the member was unenrolled from MFA though nobody asked")
    for effect in effects:
        if isinstance(effect, IssueSession):
            problems += session_problems(
                flow, effect, reply.session_token or reply.session_jwt, reply.member_session, skew
            )
        elif isinstance(effect, RecordEnrollment):
            if effect.method is Method.SMS_OTP:
                ok = (
                    member.mfa_phone_number == effect.factor_id and member.mfa_phone_number_verified
                )
            else:
                ok = member.totp_registration_id == effect.factor_id
            if not ok:
                problems.append(
                    f"the member does not show the {effect.method.value} factor enrolled"
                )
        elif isinstance(effect, SetMfaEnrollment) and member.mfa_enrolled != effect.enrolled:
            problems.append(f"mfa_enrolled is {member.mfa_enrolled}, not {effect.enrolled}")
        elif (
            isinstance(effect, SetDefaultMethod)
            and member.default_mfa_method != effect.method.value
        ):
            problems.append(f"default_mfa_method is not {effect.method.value}")
    return problems
