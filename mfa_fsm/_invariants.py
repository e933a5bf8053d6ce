"""DESIGN.md's ten invariants as executable checks over one step.

Each check looks at the flow before, the event, and the step the engine returned, and
returns a message when the invariant is broken. They use the organization's own policy,
never the custom rules, so no rule can make an unsafe path look safe.
Use `check_step` after every step (tests, checker, or at runtime when cheap is enough).
"""

from __future__ import annotations

from collections.abc import Callable

from ._effects import (
    ConsumeIst,
    CreateTotpRegistration,
    Effect,
    IssueSession,
    LockMember,
    RecordEnrollment,
    RecordFailedAttempt,
    RemoveFactor,
    RevokeSession,
    SendSmsOtp,
    SetMfaEnrollment,
)
from ._engine import Step
from ._events import Event, FactorRejected, FactorVerified, SubjectEvent
from ._flow import RECOVERY_CODE, TERMINAL, Flow, State
from ._guards import Limits
from ._types import Intent, Method, MfaPolicy

Check = Callable[[Flow, Event, Step, Limits], "str | None"]


class InvariantViolation(AssertionError):
    """A step broke one of the invariants; `number` says which."""

    def __init__(self, number: int, message: str) -> None:
        self.number = number
        super().__init__(f"invariant {number}: {message}")


def _kinds(effects: tuple[Effect, ...]) -> list[str]:
    return [e.kind for e in effects]


def _allowed_by_org(flow: Flow, method: str) -> bool:
    """The org's own policy: RESTRICTED lists, breakglass excepted. Recovery codes ride on TOTP."""
    if method == RECOVERY_CODE:
        method = Method.TOTP.value
    return method in flow.org_methods


def _org_requires(flow: Flow) -> bool:
    return flow.mfa_policy == MfaPolicy.REQUIRED_FOR_ALL or flow.mfa_enrolled


def second_factor_before_session(
    before: Flow, event: Event, step: Step, limits: Limits
) -> str | None:
    """1. A session needs an allowed second factor from this flow, unless none was required."""
    after = step.flow
    if after.state != State.AUTHENTICATED or before.state == State.AUTHENTICATED:
        return None
    good = [
        v
        for v in after.verified
        if _allowed_by_org(after, v.method)
        and v.method in (*after.allowed, RECOVERY_CODE)
        and after.started_at <= v.at < after.expires_at
    ]
    if good:
        return None
    if after.intent == Intent.LOGIN and not after.mfa_required and not _org_requires(after):
        return None
    return "authenticated without an allowed second factor while MFA was required"


def enrollment_needs_proof(before: Flow, event: Event, step: Step, limits: Limits) -> str | None:
    """2. A factor is recorded only after a code for that very factor was verified."""
    for e in step.of(RecordEnrollment):
        if not (
            isinstance(event, FactorVerified)
            and event.method == e.method
            and event.factor_id == e.factor_id == before.pending
            and before.method == e.method
        ):
            return f"enrollment of {e.method} recorded without proof of possession"
    return None


def no_new_factor_from_ist(before: Flow, event: Event, step: Step, limits: Limits) -> str | None:
    """3. A member with a verified factor adds or replaces one only from a 2FA session."""
    flow = step.flow if before.state == State.START else before
    if not flow.enrolled or flow.session_second_factor:
        return None
    for e in step.effects:
        if isinstance(e, SendSmsOtp) and e.phone_number != flow.phone:
            return "SMS sent to a new number on the strength of an IST alone"
        if isinstance(e, CreateTotpRegistration | RecordEnrollment):
            return f"{e.kind} for an enrolled member on the strength of an IST alone"
    return None


def restricted_methods_respected(
    before: Flow, event: Event, step: Step, limits: Limits
) -> str | None:
    """4. A method outside the allowed list is never initiated, offered or accepted."""
    flow = step.flow
    for e in step.effects:
        if isinstance(e, SendSmsOtp) and not _allowed_by_org(flow, Method.SMS_OTP.value):
            return "SMS initiated under a policy that forbids it"
        if isinstance(e, CreateTotpRegistration) and not _allowed_by_org(flow, Method.TOTP.value):
            return "TOTP initiated under a policy that forbids it"
    if any(m not in flow.org_methods for m in flow.allowed):
        return "a method outside the organization's list is offered"
    for v in flow.verified:
        if not _allowed_by_org(flow, v.method):
            return f"{v.method} accepted under a policy that forbids it"
    return None


def terminal_states_absorb(before: Flow, event: Event, step: Step, limits: Limits) -> str | None:
    """5. `authenticated` and `failed` never change and do nothing."""
    if before.state not in TERMINAL:
        return None
    if step.flow.state != before.state or step.accepted or _kinds(step.effects) != ["audit"]:
        return f"terminal state {before.state} moved or acted"
    return None


def failures_bounded(before: Flow, event: Event, step: Step, limits: Limits) -> str | None:
    """6. Consecutive failures never exceed the limit and never go down within a flow."""
    after = step.flow
    if before.state != State.START and after.failures < before.failures:
        return "failure count went down"
    if after.failures > limits.max_failures:
        return f"{after.failures} consecutive failures allowed"
    if after.failures >= limits.max_failures and after.state != State.FAILED:
        return "flow still live at the lockout threshold"
    rejected = isinstance(event, FactorRejected) and step.accepted
    if rejected and after.state != State.FAILED and not step.of(RecordFailedAttempt):
        return "a wrong code was not counted"
    if step.of(LockMember) and after.state != State.FAILED:
        return "member locked but flow live"
    return None


def expired_never_authenticates(
    before: Flow, event: Event, step: Step, limits: Limits
) -> str | None:
    """7. Nothing at or after the flow's expiry reaches `authenticated`."""
    after = step.flow
    if after.state != State.AUTHENTICATED or before.state == State.AUTHENTICATED:
        return None
    if before.state != State.START and event.at >= before.expires_at:
        return "authenticated by an event after expiry"
    if any(v.at >= after.expires_at for v in after.verified):
        return "a factor verified after expiry counted"
    return None


def sessions_follow_rotation(before: Flow, event: Event, step: Step, limits: Limits) -> str | None:
    """8. A session is issued only after the IST is consumed and the old session revoked."""
    kinds = _kinds(step.effects)
    if "issue_session" not in kinds:
        return None
    flow = step.flow
    at = kinds.index("issue_session")
    if kinds.count("issue_session") > 1 or before.state in TERMINAL:
        return "more than one session issued"
    if flow.ist_id is not None and not any(
        isinstance(e, ConsumeIst) and e.ist_id == flow.ist_id for e in step.effects[:at]
    ):
        return "session issued before the IST was consumed"
    if flow.session_id is not None and not any(
        isinstance(e, RevokeSession) and e.session_id == flow.session_id for e in step.effects[:at]
    ):
        return "session issued before the old session was revoked"
    if flow.state != State.AUTHENTICATED:
        return "session issued by a flow that is not authenticated"
    issued = step.of(IssueSession)[0]
    if not issued.authentication_factors:
        return "session issued without factors"
    return None


def subject_must_match(before: Flow, event: Event, step: Step, limits: Limits) -> str | None:
    """9. Events about another organization or member are refused and change nothing."""
    if not isinstance(event, SubjectEvent) or before.state == State.START:
        return None
    if (event.organization_id, event.member_id) == (before.organization_id, before.member_id):
        return None
    if step.accepted or step.flow != before:
        return "an event naming another organization or member was accepted"
    return None


def last_factor_stays(before: Flow, event: Event, step: Step, limits: Limits) -> str | None:
    """10. Under REQUIRED_FOR_ALL the last factor is never unenrolled."""
    flow = step.flow
    if flow.mfa_policy != MfaPolicy.REQUIRED_FOR_ALL:
        return None
    removed = {e.method for e in step.of(RemoveFactor)}
    if removed and not (flow.enrolled - removed):
        return "last factor removed under REQUIRED_FOR_ALL"
    if any(not e.enrolled for e in step.of(SetMfaEnrollment)):
        return "MFA unenrolled under REQUIRED_FOR_ALL"
    return None


INVARIANTS: tuple[tuple[int, Check], ...] = (
    (1, second_factor_before_session),
    (2, enrollment_needs_proof),
    (3, no_new_factor_from_ist),
    (4, restricted_methods_respected),
    (5, terminal_states_absorb),
    (6, failures_bounded),
    (7, expired_never_authenticates),
    (8, sessions_follow_rotation),
    (9, subject_must_match),
    (10, last_factor_stays),
)


def violations(
    before: Flow, event: Event, step: Step, limits: Limits | None = None
) -> list[tuple[int, str]]:
    """Every invariant the step breaks, as (number, message)."""
    lim = limits or Limits()
    found = []
    for number, check in INVARIANTS:
        message = check(before, event, step, lim)
        if message is not None:
            found.append((number, message))
    return found


def check_step(before: Flow, event: Event, step: Step, limits: Limits | None = None) -> Step:
    """Raise `InvariantViolation` for the first broken invariant; return the step otherwise."""
    for number, message in violations(before, event, step, limits):
        raise InvariantViolation(number, message)
    return step


def check_flow(flow: Flow, limits: Limits | None = None) -> Flow:
    """The invariants that hold of a flow at rest (bounds, expiry, restriction)."""
    lim = limits or Limits()
    if flow.failures > lim.max_failures:
        raise InvariantViolation(6, f"{flow.failures} consecutive failures allowed")
    if flow.state == State.AUTHENTICATED and any(v.at >= flow.expires_at for v in flow.verified):
        raise InvariantViolation(7, "a factor verified after expiry counted")
    if any(not _allowed_by_org(flow, v.method) for v in flow.verified):
        raise InvariantViolation(4, "a forbidden method was accepted")
    return flow
