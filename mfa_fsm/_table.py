"""THE machine: every state, transition, guard and action of an MFA flow, in one place.

Rows are tried in order for the flow's state and the event's kind; the first row whose
guards all pass fires. When none does, the event is refused with the error of the guard
that failed after passing the most guards. Every flow event is first checked against
the flow's expiry (rows built by `_expiry_rows`) and its subject and time (`PRECONDITIONS`).
The engine runs these rows on `transitions`; the diagrams are drawn from them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple, cast

from . import _effects as fx
from ._effects import make
from ._errors import (
    FlowAborted,
    IntermediateSessionExpired,
    InvalidPhoneNumber,
    MemberLocked,
    MethodRestricted,
    MfaError,
    OtpCodeNotFound,
    StateError,
    SubjectMismatch,
    TotpRegistrationNotFound,
    UnauthorizedAction,
    UnenrollRefused,
)
from ._events import (
    Aborted,
    FactorRejected,
    FactorVerified,
    MethodChosen,
    PrimaryAuthenticated,
    RecoveryCodeVerified,
    SessionPresented,
    SmsSent,
    SubjectEvent,
    TimePassed,
    TotpRegistrationCreated,
)
from ._flow import RECOVERY_CODE, State, VerifiedFactor
from ._guards import Ctx, Guard, guard
from ._policy import RuleInput, decide, has_second_factor, org_allowed_methods
from ._types import (
    SECOND_FACTOR_TYPES,
    AuthenticationFactor,
    FailReason,
    Intent,
    Method,
    MfaPolicy,
    second_factor,
)

Action = Callable[[Ctx], None]

START, PRIMARY_DONE, ENROLLING_SMS, ENROLLING_TOTP, CHALLENGED, AUTHENTICATED, FAILED = (
    s.value for s in State
)
LIVE = (PRIMARY_DONE, ENROLLING_SMS, ENROLLING_TOTP, CHALLENGED)
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class Row(NamedTuple):
    """One transition: on `event` in `source`, if every guard passes, run `action`, go to `dest`."""

    event: str
    source: str
    dest: str
    guards: tuple[Guard, ...]
    action: Action


# ---------------------------------------------------------------- guards


@guard("same organization and member", SubjectMismatch)
def same_subject(ctx: Ctx) -> bool:
    ev = ctx.event
    if not isinstance(ev, SubjectEvent):
        return True
    return ev.organization_id == ctx.flow.organization_id and ev.member_id == ctx.flow.member_id


@guard("not before the flow started", StateError)
def in_order(ctx: Ctx) -> bool:
    """A replayed event stamped before the flow began proves nothing about this flow."""
    return ctx.event.at >= ctx.flow.started_at


@guard("expired", IntermediateSessionExpired, explains=False)
def expired(ctx: Ctx) -> bool:
    return ctx.event.at >= ctx.flow.expires_at


@guard("member locked", MemberLocked)
def member_locked(ctx: Ctx) -> bool:
    ev = cast(PrimaryAuthenticated, ctx.event)
    m = ev.member
    return m.failed_attempts >= ctx.limits.max_failures or (
        m.locked_until is not None and m.locked_until > ev.at
    )


@guard("MFA required", UnauthorizedAction)
def mfa_required(ctx: Ctx) -> bool:
    return ctx.flow.mfa_required


@guard("has an allowed factor", MethodRestricted)
def has_usable_factor(ctx: Ctx) -> bool:
    return bool(ctx.flow.enrolled & set(ctx.flow.allowed))


@guard("has a factor", UnauthorizedAction)
def has_factor(ctx: Ctx) -> bool:
    return bool(ctx.flow.enrolled)


@guard("intent is unenroll or step-up", UnauthorizedAction)
def intent_needs_challenge(ctx: Ctx) -> bool:
    return ctx.flow.intent in (Intent.UNENROLL, Intent.STEP_UP)


@guard("intent is enroll or add method", UnauthorizedAction)
def intent_adds_factor(ctx: Ctx) -> bool:
    return ctx.flow.intent in (Intent.ENROLL, Intent.ADD_METHOD)


@guard("session may add a factor", UnauthorizedAction)
def may_add_factor(ctx: Ctx) -> bool:
    """Invariant 3: with a verified factor, only a session with a second factor adds one."""
    return not ctx.flow.enrolled or ctx.flow.session_second_factor


@guard("unenroll leaves required MFA a factor", UnenrollRefused)
def unenroll_permitted(ctx: Ctx) -> bool:
    """Invariant 10: under REQUIRED_FOR_ALL the last factor stays."""
    f = ctx.flow
    if f.intent is not Intent.UNENROLL or f.mfa_policy is not MfaPolicy.REQUIRED_FOR_ALL:
        return True
    if f.unenroll_method is None:
        return False
    return bool(f.enrolled - {f.unenroll_method})


@guard("SMS chosen", StateError)
def chose_sms(ctx: Ctx) -> bool:
    return cast(MethodChosen, ctx.event).method is Method.SMS_OTP


@guard("TOTP chosen", StateError)
def chose_totp(ctx: Ctx) -> bool:
    return cast(MethodChosen, ctx.event).method is Method.TOTP


@guard("method allowed", MethodRestricted)
def method_allowed(ctx: Ctx) -> bool:
    return cast(MethodChosen, ctx.event).method in ctx.flow.allowed


@guard("phone is E.164", InvalidPhoneNumber)
def phone_valid(ctx: Ctx) -> bool:
    phone = cast(MethodChosen, ctx.event).phone_number
    return phone is not None and E164.fullmatch(phone) is not None


@guard("method enrolled", UnauthorizedAction)
def method_enrolled(ctx: Ctx) -> bool:
    """Invariant 3: an IST never starts a new factor for an enrolled member."""
    ev = cast(MethodChosen, ctx.event)
    if ev.method not in ctx.flow.enrolled:
        return False
    return ev.method is not Method.SMS_OTP or ev.phone_number in (None, ctx.flow.phone)


@guard("SMS to the pending number", StateError)
def sms_to_pending(ctx: Ctx) -> bool:
    f = ctx.flow
    return f.method == Method.SMS_OTP and cast(SmsSent, ctx.event).phone_number == f.pending


@guard("code lifetime within limit", StateError)
def code_lifetime_ok(ctx: Ctx) -> bool:
    ev = cast(SmsSent, ctx.event)
    return ev.at < ev.code_expires_at <= ev.at + ctx.limits.max_code_seconds


@guard("no registration yet", StateError)
def registration_missing(ctx: Ctx) -> bool:
    return ctx.flow.pending is None


@guard("registration lifetime ok", StateError)
def registration_lifetime_ok(ctx: Ctx) -> bool:
    ev = cast(TotpRegistrationCreated, ctx.event)
    return ev.at < ev.registration_expires_at <= ev.at + 1440 * 60


@guard("verified method is the chosen one", StateError)
def verified_chosen_method(ctx: Ctx) -> bool:
    return cast(FactorVerified, ctx.event).method == ctx.flow.method


@guard("verified method allowed", MethodRestricted)
def verified_method_allowed(ctx: Ctx) -> bool:
    return cast(FactorVerified, ctx.event).method in ctx.flow.allowed


@guard("code was sent", OtpCodeNotFound)
def code_pending(ctx: Ctx) -> bool:
    f = ctx.flow
    return f.pending_expires_at is not None and ctx.event.at < f.pending_expires_at


@guard("registration pending", TotpRegistrationNotFound)
def registration_pending(ctx: Ctx) -> bool:
    return code_pending(ctx)


@guard("verified the pending factor", UnauthorizedAction)
def verified_pending(ctx: Ctx) -> bool:
    """Invariant 2: proof of possession of the very factor being enrolled."""
    return cast(FactorVerified, ctx.event).factor_id == ctx.flow.pending


@guard("verified an enrolled factor", UnauthorizedAction)
def verified_enrolled(ctx: Ctx) -> bool:
    ev = cast(FactorVerified, ctx.event)
    enrolled = ctx.flow.phone if ev.method is Method.SMS_OTP else ctx.flow.totp_id
    return ev.factor_id == enrolled


@guard("SMS code sent in this flow", OtpCodeNotFound)
def sms_code_sent(ctx: Ctx) -> bool:
    """An SMS answer counts only for a code this flow sent to that phone and still live."""
    ev, f = cast(FactorVerified, ctx.event), ctx.flow
    if ev.method is not Method.SMS_OTP:
        return True
    return f.pending == f.phone and code_pending(ctx)


@guard("recovery codes allowed", MethodRestricted)
def recovery_allowed(ctx: Ctx) -> bool:
    f = ctx.flow
    return Method.TOTP in f.allowed and Method.TOTP.value in f.enrolled and f.recovery_codes > 0


@guard("lockout threshold reached", MemberLocked)
def reaches_lockout(ctx: Ctx) -> bool:
    return _failures_after(ctx) >= ctx.limits.max_failures


# ---------------------------------------------------------------- actions


def _failures_after(ctx: Ctx) -> int:
    """One more than the flow knew, or the adapter's count if higher: a stale or replayed
    report never lowers the bound (fail closed). Never past the limit."""
    reported = cast(FactorRejected, ctx.event).member_failures
    return min(max(ctx.flow.failures + 1, reported or 0), ctx.limits.max_failures)


def open_flow(ctx: Ctx) -> None:
    """Fill the flow from a start event: snapshot, built-in policy, rules, expiry."""
    ev = cast(PrimaryAuthenticated | SessionPresented, ctx.event)
    org, member, f = ev.organization, ev.member, ctx.flow
    intent = ev.intent if isinstance(ev, SessionPresented) else Intent.LOGIN
    decision = decide(RuleInput(org, member, intent, ev.at, ev.attributes), ctx.rules)
    f.organization_id, f.member_id, f.intent = org.organization_id, member.member_id, intent
    f.started_at, f.expires_at = ev.at, ev.at + ctx.limits.ist_seconds
    f.mfa_policy, f.mfa_methods = org.mfa_policy, org.mfa_methods
    f.org_methods = tuple(sorted(org_allowed_methods(org, member)))
    f.breakglass, f.mfa_enrolled = member.is_breakglass, member.mfa_enrolled
    f.mfa_required = decision.mfa_required or intent is not Intent.LOGIN
    f.allowed = tuple(sorted(decision.allowed))
    f.phone = member.mfa_phone_number if member.mfa_phone_number_verified else None
    f.totp_id = member.totp_registration_id
    f.default_method = member.default_mfa_method
    f.recovery_codes = member.recovery_codes_remaining
    f.failures = min(member.failed_attempts, ctx.limits.max_failures)
    if isinstance(ev, SessionPresented):
        f.session_id = ev.session_id
        f.primary = tuple(x for x in ev.session_factors if x.type not in SECOND_FACTOR_TYPES)
        f.session_second_factor = has_second_factor(ev.session_factors)
        f.unenroll_method = ev.unenroll_method
    else:
        f.ist_id = ev.ist_id
        f.primary = (ev.primary_factor,)


def fail(reason: FailReason, error: type[MfaError]) -> Action:
    """An action that ends the flow in `failed` and reports `error` to the caller."""

    def action(ctx: Ctx) -> None:
        ctx.flow.reason = reason
        ctx.flow.pending = ctx.flow.pending_expires_at = None
        ctx.error = error()

    action.__name__ = f"fail_{reason.value}"
    return action


def begin_challenge(ctx: Ctx) -> None:
    """Seed 001: at login, when the default method is SMS, the code goes out at once.

    Only at login (`secondary_auth_initiated`): a step-up from a session is asked for by
    the caller with the method it wants, so sending first would spend an SMS twice.
    """
    f = ctx.flow
    usable = f.enrolled & set(f.allowed)
    at_login = f.intent == Intent.LOGIN
    if at_login and f.default_method == Method.SMS_OTP and Method.SMS_OTP in usable and f.phone:
        _send_sms(ctx, f.phone)
    elif len(usable) == 1 and Method.TOTP.value in usable:
        f.method = Method.TOTP


def _send_sms(ctx: Ctx, phone: str) -> None:
    f = ctx.flow
    f.method, f.pending, f.pending_expires_at = Method.SMS_OTP, phone, None
    ctx.effects.append(make(fx.SendSmsOtp, phone_number=phone))


def send_new_phone(ctx: Ctx) -> None:
    _send_sms(ctx, cast(str, cast(MethodChosen, ctx.event).phone_number))


def send_enrolled_phone(ctx: Ctx) -> None:
    _send_sms(ctx, cast(str, ctx.flow.phone))


def create_totp(ctx: Ctx) -> None:
    f = ctx.flow
    f.method, f.pending, f.pending_expires_at = Method.TOTP, None, None
    ctx.effects.append(make(fx.CreateTotpRegistration))


def use_totp(ctx: Ctx) -> None:
    f = ctx.flow
    f.method, f.pending, f.pending_expires_at = Method.TOTP, f.totp_id, None


def mark_sent(ctx: Ctx) -> None:
    ctx.flow.pending_expires_at = cast(SmsSent, ctx.event).code_expires_at


def mark_registered(ctx: Ctx) -> None:
    ev = cast(TotpRegistrationCreated, ctx.event)
    ctx.flow.pending = ev.totp_registration_id
    ctx.flow.pending_expires_at = ev.registration_expires_at


def count_failure(ctx: Ctx) -> None:
    f = ctx.flow
    f.failures = _failures_after(ctx)
    method = cast(FactorRejected, ctx.event).method
    ctx.effects.append(make(fx.RecordFailedAttempt, method=str(method), member_failures=f.failures))


def lock_out(ctx: Ctx) -> None:
    count_failure(ctx)
    ctx.effects.append(make(fx.LockMember, until=ctx.event.at + ctx.limits.lock_seconds))
    fail(FailReason.LOCKED, MemberLocked)(ctx)


def enter_or_wait(ctx: Ctx) -> None:
    """Nothing to do: the flow is still live."""


def _finish(ctx: Ctx, verified: VerifiedFactor, changes: list[fx.Effect]) -> None:
    """Invariant 8: consume the IST or revoke the old session, then issue a new session."""
    f = ctx.flow
    f.verified = (*f.verified, verified)
    f.pending = f.pending_expires_at = None
    out = ctx.effects
    if f.ist_id is not None:
        out.append(make(fx.ConsumeIst, ist_id=f.ist_id))
    if f.session_id is not None:
        out.append(make(fx.RevokeSession, session_id=f.session_id))
    out.extend(changes)
    out.append(make(fx.ClearFailedAttempts))
    factor = (
        second_factor(Method(verified.method), verified.at)
        if verified.method != RECOVERY_CODE
        else _recovery_factor(verified.at)
    )
    out.append(make(fx.IssueSession, authentication_factors=(*f.primary, factor)))


def _recovery_factor(at: float) -> AuthenticationFactor:
    return AuthenticationFactor(
        type="recovery_codes", delivery_method="recovery_code", last_authenticated_at=at
    )


def _enrollment_flag(ctx: Ctx, default: bool | None) -> list[fx.Effect]:
    """Stytch's `set_mfa_enrollment`: honoured under OPTIONAL, `unenroll` ignored under REQUIRED."""
    asked = cast(FactorVerified | RecoveryCodeVerified, ctx.event).set_mfa_enrollment
    if asked == "unenroll" and ctx.flow.mfa_policy is MfaPolicy.REQUIRED_FOR_ALL:
        asked = None
    enrolled = default if asked is None else asked == "enroll"
    return [] if enrolled is None else [make(fx.SetMfaEnrollment, enrolled=enrolled)]


def complete_enrollment(ctx: Ctx) -> None:
    ev, f = cast(FactorVerified, ctx.event), ctx.flow
    changes: list[fx.Effect] = [make(fx.RecordEnrollment, method=ev.method, factor_id=ev.factor_id)]
    # Seed 002: from a session under OPTIONAL, leaving out `set_mfa_enrollment` adds the
    # factor for step-up only; a login's required enrollment (or REQUIRED_FOR_ALL) enrolls.
    required = f.intent is Intent.LOGIN or f.mfa_policy is MfaPolicy.REQUIRED_FOR_ALL
    enrolls = required and f.intent is not Intent.ADD_METHOD
    changes += _enrollment_flag(ctx, True if enrolls else None)
    if ev.set_default_mfa or f.default_method is None:
        changes.append(make(fx.SetDefaultMethod, method=ev.method))
    _finish(ctx, VerifiedFactor(method=ev.method.value, factor_id=ev.factor_id, at=ev.at), changes)


def complete_challenge(ctx: Ctx) -> None:
    ev, f = cast(FactorVerified, ctx.event), ctx.flow
    changes = _unenroll_effects(ctx) if f.intent is Intent.UNENROLL else _enrollment_flag(ctx, None)
    if ev.set_default_mfa:
        changes.append(make(fx.SetDefaultMethod, method=ev.method))
    _finish(ctx, VerifiedFactor(method=ev.method.value, factor_id=ev.factor_id, at=ev.at), changes)


def complete_recovery(ctx: Ctx) -> None:
    ev, f = cast(RecoveryCodeVerified, ctx.event), ctx.flow
    changes = _unenroll_effects(ctx) if f.intent is Intent.UNENROLL else _enrollment_flag(ctx, None)
    _finish(ctx, VerifiedFactor(method=RECOVERY_CODE, factor_id="recovery", at=ev.at), changes)


def _unenroll_effects(ctx: Ctx) -> list[fx.Effect]:
    f = ctx.flow
    if f.unenroll_method is None:
        return [make(fx.SetMfaEnrollment, enrolled=False)]
    out: list[fx.Effect] = [make(fx.RemoveFactor, method=f.unenroll_method)]
    if not f.enrolled - {f.unenroll_method}:
        out.append(make(fx.SetMfaEnrollment, enrolled=False))
    return out


def issue_primary_session(ctx: Ctx) -> None:
    """MFA not required: the primary factor alone earns a session."""
    f = ctx.flow
    if f.ist_id is not None:
        ctx.effects.append(make(fx.ConsumeIst, ist_id=f.ist_id))
    ctx.effects.append(make(fx.IssueSession, authentication_factors=f.primary))


# ---------------------------------------------------------------- the table

PRECONDITIONS: tuple[Guard, ...] = (same_subject, in_order)
"""Checked in order before any row, for every event but the two that start a flow."""

START_ACTION: Action = open_flow
"""Run before the rows of a start event, on a fresh flow."""

FLOW_EVENT_KINDS = (
    MethodChosen.kind,
    SmsSent.kind,
    TotpRegistrationCreated.kind,
    FactorVerified.kind,
    FactorRejected.kind,
    RecoveryCodeVerified.kind,
    TimePassed.kind,
    Aborted.kind,
)
fail_expired = fail(FailReason.EXPIRED, IntermediateSessionExpired)
fail_locked = fail(FailReason.LOCKED, MemberLocked)
fail_refused_restricted = fail(FailReason.REFUSED, MethodRestricted)
fail_refused_unenroll = fail(FailReason.REFUSED, UnenrollRefused)
fail_refused = fail(FailReason.REFUSED, UnauthorizedAction)
fail_aborted = fail(FailReason.ABORTED, FlowAborted)
PA, SP = PrimaryAuthenticated.kind, SessionPresented.kind
MC, SENT, TOTP_MADE = MethodChosen.kind, SmsSent.kind, TotpRegistrationCreated.kind
OK, NO, RECOVERED = FactorVerified.kind, FactorRejected.kind, RecoveryCodeVerified.kind
TICK, ABORT = TimePassed.kind, Aborted.kind


def _expiry_rows() -> tuple[Row, ...]:
    """Invariant 7: in every live state, any event at or after expiry fails the flow."""
    return tuple(
        Row(kind, s, FAILED, (expired,), fail_expired) for kind in FLOW_EVENT_KINDS for s in LIVE
    )


def _rejection_rows(state: str) -> tuple[Row, ...]:
    """Invariant 6: every wrong code counts; the threshold locks the member."""
    return (
        Row(NO, state, FAILED, (reaches_lockout,), lock_out),
        Row(NO, state, state, (), count_failure),
    )


# fmt: off
TABLE: tuple[Row, ...] = (
    *_expiry_rows(),
    # A primary factor succeeded (IST issued).
    Row(PA, START, FAILED, (member_locked,), fail_locked),
    Row(PA, START, AUTHENTICATED, (~mfa_required,), issue_primary_session),
    Row(PA, START, CHALLENGED, (has_usable_factor,), begin_challenge),
    Row(PA, START, FAILED, (has_factor,), fail_refused_restricted),
    Row(PA, START, PRIMARY_DONE, (), enter_or_wait),
    # An existing session asks to change factors or to step up.
    Row(SP, START, FAILED, (member_locked,), fail_locked),
    Row(SP, START, FAILED, (~unenroll_permitted,), fail_refused_unenroll),
    Row(SP, START, CHALLENGED, (intent_needs_challenge, has_usable_factor), begin_challenge),
    Row(SP, START, PRIMARY_DONE, (intent_adds_factor, may_add_factor), enter_or_wait),
    Row(SP, START, FAILED, (), fail_refused),
    # Enrollment: pick a method (again, to resend or to switch), confirm, verify.
    *(
        row
        for s in (PRIMARY_DONE, ENROLLING_SMS, ENROLLING_TOTP)
        for row in (
            Row(MC, s, ENROLLING_SMS, (chose_sms, method_allowed, phone_valid), send_new_phone),
            Row(MC, s, ENROLLING_TOTP, (chose_totp, method_allowed), create_totp),
        )
    ),
    Row(SENT, ENROLLING_SMS, ENROLLING_SMS, (sms_to_pending, code_lifetime_ok), mark_sent),
    Row(TOTP_MADE, ENROLLING_TOTP, ENROLLING_TOTP, (registration_missing, registration_lifetime_ok), mark_registered),
    Row(OK, ENROLLING_SMS, AUTHENTICATED, (verified_chosen_method, code_pending, verified_pending), complete_enrollment),
    Row(OK, ENROLLING_TOTP, AUTHENTICATED, (verified_chosen_method, registration_pending, verified_pending), complete_enrollment),
    *_rejection_rows(ENROLLING_SMS),
    *_rejection_rows(ENROLLING_TOTP),
    # Challenge of an enrolled member.
    Row(MC, CHALLENGED, CHALLENGED, (chose_sms, method_allowed, method_enrolled), send_enrolled_phone),
    Row(MC, CHALLENGED, CHALLENGED, (chose_totp, method_allowed, method_enrolled), use_totp),
    Row(SENT, CHALLENGED, CHALLENGED, (sms_to_pending, code_lifetime_ok), mark_sent),
    Row(OK, CHALLENGED, AUTHENTICATED, (verified_method_allowed, verified_enrolled, sms_code_sent), complete_challenge),
    Row(RECOVERED, CHALLENGED, AUTHENTICATED, (recovery_allowed,), complete_recovery),
    *_rejection_rows(CHALLENGED),
    # Time and giving up, in every live state.
    *(Row(TICK, s, s, (), enter_or_wait) for s in LIVE),
    *(Row(ABORT, s, FAILED, (), fail_aborted) for s in LIVE),
)
# fmt: on

STATES: tuple[str, ...] = tuple(s.value for s in State)
INITIAL: str = START
