"""Baseline: the simplest hand-written dict transition table doing the same work as ours."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from _core_flow import (
    AUTHENTICATED,
    CHALLENGED,
    ENROLLING_SMS,
    ENROLLING_TOTP,
    FAILED,
    ID_POOL,
    MC,
    OK,
    PA,
    POOL,
    PREBUILT,
    PRIMARY_DONE,
    SENT,
    START,
    FlowEvents,
    Ids,
    events_for,
)

from mfa_fsm import (
    Audit,
    AuthenticationFactor,
    ClearFailedAttempts,
    ConsumeIst,
    CreateTotpRegistration,
    Effect,
    FailReason,
    Flow,
    Intent,
    IntermediateSessionExpired,
    IssueSession,
    MemberLocked,
    Method,
    MethodRestricted,
    MfaError,
    MfaMethods,
    MfaPolicy,
    RecordEnrollment,
    SendSmsOtp,
    SetDefaultMethod,
    SetMfaEnrollment,
    StateError,
    Step,
    SubjectMismatch,
    VerifiedFactor,
)
from mfa_fsm import _table as table
from mfa_fsm._effects import make
from mfa_fsm._guards import Limits

# ------------------------------------------------------------------ baseline: a dict table
#
# The simplest hand-written table that does the same work for this flow: the same pydantic
# events in, a copy of the same Flow record, the same guards (re-implemented minimally,
# including the expiry row tried first and the subject check), the same actions and the
# same effects list (audit line included), returned as the same Step. What it does not
# have: event-kind validation, start/terminal checks, refusal bookkeeping, the Guard
# objects, the `transitions` Event lookup, `decide()` with custom rules.


class _BCtx:
    __slots__ = ("effects", "error", "event", "flow")

    def __init__(self, flow: Flow, event: Any) -> None:
        self.flow = flow
        self.event = event
        self.effects: list[Effect] = []
        self.error: MfaError | None = None


BGuard = Callable[[_BCtx], bool]
BAction = Callable[[_BCtx], None]
BRow = tuple[tuple[BGuard, ...], BAction, str]
_LIMITS = Limits()


def b_same_subject(c: _BCtx) -> bool:
    return bool(
        c.event.organization_id == c.flow.organization_id and c.event.member_id == c.flow.member_id
    )


def b_in_order(c: _BCtx) -> bool:
    return bool(c.event.at >= c.flow.started_at)


def b_expired(c: _BCtx) -> bool:
    return bool(c.event.at >= c.flow.expires_at)


def b_locked(c: _BCtx) -> bool:
    m = c.event.member
    return bool(
        m.failed_attempts >= _LIMITS.max_failures
        or (m.locked_until is not None and m.locked_until > c.event.at)
    )


def b_not_required(c: _BCtx) -> bool:
    return not c.flow.mfa_required


def b_has_usable(c: _BCtx) -> bool:
    f = c.flow
    return bool(
        (f.phone and Method.SMS_OTP in f.allowed) or (f.totp_id and Method.TOTP in f.allowed)
    )


def b_has_factor(c: _BCtx) -> bool:
    return bool(c.flow.phone or c.flow.totp_id)


def b_chose_sms(c: _BCtx) -> bool:
    return c.event.method is Method.SMS_OTP


def b_chose_totp(c: _BCtx) -> bool:
    return c.event.method is Method.TOTP


def b_method_allowed(c: _BCtx) -> bool:
    return c.event.method in c.flow.allowed


def b_phone_valid(c: _BCtx) -> bool:
    phone = c.event.phone_number
    return phone is not None and table.E164.fullmatch(phone) is not None


def b_sms_to_pending(c: _BCtx) -> bool:
    return c.flow.method == Method.SMS_OTP and c.event.phone_number == c.flow.pending


def b_code_lifetime_ok(c: _BCtx) -> bool:
    ev = c.event
    return bool(ev.at < ev.code_expires_at <= ev.at + _LIMITS.max_code_seconds)


def b_verified_chosen(c: _BCtx) -> bool:
    return bool(c.event.method == c.flow.method)


def b_code_pending(c: _BCtx) -> bool:
    f = c.flow
    return f.pending_expires_at is not None and c.event.at < f.pending_expires_at


def b_verified_pending(c: _BCtx) -> bool:
    return bool(c.event.factor_id == c.flow.pending)


def b_fail(reason: FailReason, error: type[MfaError]) -> BAction:
    def action(c: _BCtx) -> None:
        c.flow.reason = reason
        c.flow.pending = c.flow.pending_expires_at = None
        c.error = error()

    return action


def b_open_flow(c: _BCtx) -> None:
    ev, f = c.event, c.flow
    org, m = ev.organization, ev.member
    allowed = (
        (Method.SMS_OTP, Method.TOTP)
        if org.mfa_methods is MfaMethods.ALL_ALLOWED or m.is_breakglass
        else tuple(sorted(org.allowed_mfa_methods))
    )
    f.organization_id, f.member_id, f.intent = org.organization_id, m.member_id, Intent.LOGIN
    f.started_at, f.expires_at = ev.at, ev.at + _LIMITS.ist_seconds
    f.mfa_policy, f.mfa_methods = org.mfa_policy, org.mfa_methods
    f.org_methods = f.allowed = allowed
    f.breakglass, f.mfa_enrolled = m.is_breakglass, m.mfa_enrolled
    f.mfa_required = org.mfa_policy is MfaPolicy.REQUIRED_FOR_ALL or m.mfa_enrolled
    f.phone = m.mfa_phone_number if m.mfa_phone_number_verified else None
    f.totp_id = m.totp_registration_id
    f.default_method = m.default_mfa_method
    f.recovery_codes = m.recovery_codes_remaining
    f.failures = m.failed_attempts
    f.ist_id = ev.ist_id
    f.primary = (ev.primary_factor,)


def b_issue_primary(c: _BCtx) -> None:
    c.effects.append(make(ConsumeIst, ist_id=c.flow.ist_id))
    c.effects.append(make(IssueSession, authentication_factors=c.flow.primary))


def b_nothing(c: _BCtx) -> None:
    return None


def b_send_new_phone(c: _BCtx) -> None:
    f = c.flow
    f.method, f.pending, f.pending_expires_at = Method.SMS_OTP, c.event.phone_number, None
    c.effects.append(make(SendSmsOtp, phone_number=c.event.phone_number))


def b_create_totp(c: _BCtx) -> None:
    f = c.flow
    f.method, f.pending, f.pending_expires_at = Method.TOTP, None, None
    c.effects.append(make(CreateTotpRegistration))


def b_mark_sent(c: _BCtx) -> None:
    c.flow.pending_expires_at = c.event.code_expires_at


def b_complete_enrollment(c: _BCtx) -> None:
    ev, f, out = c.event, c.flow, c.effects
    f.verified = (
        *f.verified,
        VerifiedFactor(method=ev.method.value, factor_id=ev.factor_id, at=ev.at),
    )
    f.pending = f.pending_expires_at = None
    out.append(make(ConsumeIst, ist_id=f.ist_id))
    out.append(make(RecordEnrollment, method=ev.method, factor_id=ev.factor_id))
    asked = ev.set_mfa_enrollment  # honoured, but never `unenroll` under REQUIRED_FOR_ALL
    if asked == "unenroll" and f.mfa_policy is MfaPolicy.REQUIRED_FOR_ALL:
        asked = None
    out.append(make(SetMfaEnrollment, enrolled=asked is None or asked == "enroll"))
    if ev.set_default_mfa or f.default_method is None:
        out.append(make(SetDefaultMethod, method=ev.method))
    out.append(make(ClearFailedAttempts))
    factor = AuthenticationFactor(type="otp", delivery_method="sms", last_authenticated_at=ev.at)
    out.append(make(IssueSession, authentication_factors=(*f.primary, factor)))


_b_fail_expired = b_fail(FailReason.EXPIRED, IntermediateSessionExpired)
DICT_TABLE: dict[tuple[str, str], list[BRow]] = {
    (START, PA): [
        ((b_locked,), b_fail(FailReason.LOCKED, MemberLocked), FAILED),
        ((b_not_required,), b_issue_primary, AUTHENTICATED),
        ((b_has_usable,), b_nothing, CHALLENGED),  # begin_challenge: not on this path
        ((b_has_factor,), b_fail(FailReason.REFUSED, MethodRestricted), FAILED),
        ((), b_nothing, PRIMARY_DONE),
    ],
    (PRIMARY_DONE, MC): [
        ((b_expired,), _b_fail_expired, FAILED),
        ((b_chose_sms, b_method_allowed, b_phone_valid), b_send_new_phone, ENROLLING_SMS),
        ((b_chose_totp, b_method_allowed), b_create_totp, ENROLLING_TOTP),
    ],
    (ENROLLING_SMS, SENT): [
        ((b_expired,), _b_fail_expired, FAILED),
        ((b_sms_to_pending, b_code_lifetime_ok), b_mark_sent, ENROLLING_SMS),
    ],
    (ENROLLING_SMS, OK): [
        ((b_expired,), _b_fail_expired, FAILED),
        (
            (b_verified_chosen, b_code_pending, b_verified_pending),
            b_complete_enrollment,
            AUTHENTICATED,
        ),
    ],
}


def dict_handle(flow: Flow, event: Any) -> Step:
    kind = event.kind
    c = _BCtx(flow.copy(), event)
    if kind == PA:
        b_open_flow(c)
    elif not b_same_subject(c):
        return Step(flow, (), SubjectMismatch(), accepted=False)
    elif not b_in_order(c):
        return Step(flow, (), StateError(kind), accepted=False)
    for guards, action, dest in DICT_TABLE.get((flow.state, kind), ()):
        for g in guards:
            if not g(c):
                break
        else:
            action(c)
            c.flow.state = dest
            c.effects.append(
                make(
                    Audit,
                    flow_id=flow.flow_id,
                    source=flow.state,
                    dest=dest,
                    event=kind,
                    decision="accepted",
                    detail=c.error.error_type if c.error else "",
                    at=event.at,
                )
            )
            return Step(c.flow, tuple(c.effects), c.error)
    return Step(flow, (), StateError(kind), accepted=False)


def dict_flow(ids: Ids, ev: FlowEvents) -> Step:
    step = dict_handle(Flow(flow_id=ids.flow_id), ev.primary)
    step = dict_handle(step.flow, ev.chosen)
    step = dict_handle(step.flow, ev.sent)
    return dict_handle(step.flow, ev.verified)


def run_dict(n: int) -> None:
    pool = POOL
    for i in range(n):
        ids = pool[i % ID_POOL]
        dict_flow(ids, events_for(ids))


def run_dict_prebuilt(n: int) -> None:
    pool, pre = POOL, PREBUILT
    for i in range(n):
        dict_flow(pool[i % ID_POOL], pre[i % ID_POOL])
