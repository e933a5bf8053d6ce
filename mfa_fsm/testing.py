"""Property-testing kit: Hypothesis strategies and a stateful machine for your own rules.

Needs `hypothesis` (install `mfa-fsm[testing]`, or `[dev]`); the core never imports this
module. Subclass `MfaFlowMachine`, set `mfa_rules = (...)`, add your own `@invariant()`s and
expose `YourMachine.TestCase` to pytest: every step of every generated run is checked
against DESIGN.md's ten invariants, whatever your rules say.

The generators are adversarial on purpose: wrong organization or member, replays, events
after expiry, confirmations out of order, wrong factor ids, restricted methods, recovery
codes and time jumps, mixed with enough valid steps that real paths are reached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, TypedDict

try:
    from hypothesis import note
    from hypothesis import strategies as st
    from hypothesis.stateful import (
        RuleBasedStateMachine,
        initialize,
        invariant,
        precondition,
        rule,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("mfa_fsm.testing needs hypothesis: pip install 'mfa-fsm[testing]'") from exc

from ._effects import (
    ClearFailedAttempts,
    IssueSession,
    LockMember,
    RecordEnrollment,
    RecordFailedAttempt,
    RemoveFactor,
    SendSmsOtp,
    SetDefaultMethod,
    SetMfaEnrollment,
)
from ._engine import Engine, Step
from ._events import (
    Aborted,
    Event,
    FactorRejected,
    FactorVerified,
    MethodChosen,
    PrimaryAuthenticated,
    RecoveryCodeVerified,
    SessionPresented,
    SmsSent,
    TimePassed,
    TotpRegistrationCreated,
)
from ._flow import RECOVERY_CODE, Flow, State
from ._guards import Limits
from ._invariants import InvariantViolation, check_flow, check_step
from ._policy import Requirement, Rule, RuleInput
from ._types import (
    AuthenticationFactor,
    FailReason,
    Intent,
    MemberFactors,
    Method,
    MfaMethods,
    MfaPolicy,
    OrgPolicy,
)

__all__ = [
    "MEMBER_ID",
    "ORGANIZATION_ID",
    "T0",
    "EnrollmentGracePeriod",
    "MfaFlowMachine",
    "MethodsForRole",
    "RememberedDevice",
    "RequireMfaForRole",
    "attributes",
    "custom_rules",
    "event_sequences",
    "flows",
    "member_factors",
    "org_policies",
    "primary_events",
    "run_checked",
    "session_events",
]

T0 = 1_700_000_000.0
"""The clock's starting point: any fixed time will do, the core has no clock."""
ORGANIZATION_ID = "organization-test-0"
MEMBER_ID = "member-test-0"
PHONES = ("+15555550100", "+15555550101", "+447700900123")
"""A small pool, so generated numbers collide with the ones the engine asked for."""
INVALID_PHONES = ("5555550100", "+0123", "+1 555 0100")
TOTP_IDS = ("totp-registration-0", "totp-registration-1")
ROLES = ("admin", "member", "billing")
REMEMBERED = "remembered_device"

_METHODS = (Method.SMS_OTP, Method.TOTP)
_PRIMARY = (("password", "knowledge"), ("magic_link", "email"), ("sso", "oauth"))


# ---------------------------------------------------------------- well-behaved custom rules


@dataclass(frozen=True)
class RequireMfaForRole:
    """Members with `role` need MFA even where the organization makes it optional."""

    role: str

    def __call__(self, subject: RuleInput) -> Requirement | None:
        if self.role in subject.member.roles:
            return Requirement(require_mfa=True, reason=f"{self.role} needs MFA")
        return None


@dataclass(frozen=True)
class MethodsForRole:
    """Members with `role` may only use `methods` (possibly none at all)."""

    role: str
    methods: frozenset[Method]

    def __call__(self, subject: RuleInput) -> Requirement | None:
        if self.role in subject.member.roles:
            return Requirement(methods=self.methods, reason=f"{self.role} methods")
        return None


@dataclass(frozen=True)
class EnrollmentGracePeriod:
    """Everyone needs MFA from `until` on; before it the organization's policy stands."""

    until: float

    def __call__(self, subject: RuleInput) -> Requirement | None:
        if subject.at >= self.until:
            return Requirement(require_mfa=True, reason="grace period over")
        return None


@dataclass(frozen=True)
class RememberedDevice:
    """An unknown device needs MFA; a remembered one never waives what others require."""

    attribute: str = REMEMBERED

    def __call__(self, subject: RuleInput) -> Requirement | None:
        if subject.attributes.get(self.attribute) != "true":
            return Requirement(require_mfa=True, reason="device not remembered")
        return None


def custom_rules(*, now: float = T0, max_size: int = 3) -> st.SearchStrategy[tuple[Rule, ...]]:
    """Random combinations of the well-behaved rules above (including none at all)."""
    roles = st.sampled_from(ROLES)
    methods = st.frozensets(st.sampled_from(_METHODS), max_size=2)
    one: st.SearchStrategy[Rule] = st.one_of(
        st.builds(RequireMfaForRole, roles),
        st.builds(MethodsForRole, roles, methods),
        st.builds(EnrollmentGracePeriod, st.sampled_from([now - 1.0, now + 60.0, now + 86400.0])),
        st.just(RememberedDevice()),
    )
    return st.lists(one, max_size=max_size).map(tuple)


# ---------------------------------------------------------------- snapshots and start events


def org_policies(organization_id: str = ORGANIZATION_ID) -> st.SearchStrategy[OrgPolicy]:
    """Every policy shape, including RESTRICTED to an empty list and a list under ALL_ALLOWED."""
    return st.builds(
        OrgPolicy,
        organization_id=st.just(organization_id),
        mfa_policy=st.sampled_from(MfaPolicy),
        mfa_methods=st.sampled_from(MfaMethods),
        allowed_mfa_methods=st.sampled_from(
            [(Method.SMS_OTP,), (Method.TOTP,), (Method.SMS_OTP, Method.TOTP), ()]
        ),
    )


@st.composite
def _members(draw: st.DrawFn, member_id: str, limits: Limits, now: float) -> MemberFactors:
    factors = draw(st.sampled_from(["none", "sms", "totp", "both", "both", "unverified_phone"]))
    phone = draw(st.sampled_from(PHONES)) if factors != "none" and factors != "totp" else None
    totp = draw(st.sampled_from(TOTP_IDS)) if factors in ("totp", "both") else None
    most = limits.max_failures
    near = sorted({max(most - 2, 0), max(most - 1, 0), most, most + 1})
    failed = draw(st.sampled_from([0, 0, 0, 0, 0, 1, *near]))
    lock_offsets = [*[None] * 8, -1.0, 60.0, limits.lock_seconds]
    offset = limits.lock_seconds if failed >= most else draw(st.sampled_from(lock_offsets))
    return MemberFactors(
        member_id=member_id,
        mfa_enrolled=draw(st.booleans()),
        mfa_phone_number=phone,
        mfa_phone_number_verified=factors in ("sms", "both"),
        totp_registration_id=totp,
        default_mfa_method=draw(st.none() | st.sampled_from(_METHODS)),
        recovery_codes_remaining=draw(st.sampled_from([0, 1, 10])),
        is_breakglass=draw(st.sampled_from([False, False, False, True])),
        roles=tuple(draw(st.lists(st.sampled_from(ROLES), unique=True, max_size=2))),
        failed_attempts=failed,
        locked_until=None if offset is None else now + offset,
    )


def member_factors(
    member_id: str = MEMBER_ID, *, limits: Limits | None = None, now: float = T0
) -> st.SearchStrategy[MemberFactors]:
    """Factor states a store can hold: any mix of factors, roles, breakglass, failure
    counts around the lockout threshold (one past it, as two racing flows can leave it),
    and locks that are current or already over."""
    return _members(member_id, limits or Limits(), now)


def attributes() -> st.SearchStrategy[dict[str, str]]:
    """Adapter attributes for rules: none, or a remembered-device flag either way."""
    return st.sampled_from([{}, {REMEMBERED: "true"}, {REMEMBERED: "false"}])


def _primary_factor(at: float) -> st.SearchStrategy[AuthenticationFactor]:
    return st.sampled_from(_PRIMARY).map(
        lambda p: AuthenticationFactor(type=p[0], delivery_method=p[1], last_authenticated_at=at)
    )


def primary_events(
    organizations: st.SearchStrategy[OrgPolicy] | None = None,
    members: st.SearchStrategy[MemberFactors] | None = None,
    *,
    at: float = T0,
    ist_id: str = "ist-test-0",
) -> st.SearchStrategy[PrimaryAuthenticated]:
    """`PrimaryAuthenticated` for any policy and member snapshot."""
    return st.builds(
        PrimaryAuthenticated,
        at=st.just(at),
        organization=organizations if organizations is not None else org_policies(),
        member=members if members is not None else member_factors(now=at),
        primary_factor=_primary_factor(at),
        ist_id=st.just(ist_id),
        attributes=attributes(),
    )


def _session_factors(at: float) -> st.SearchStrategy[tuple[AuthenticationFactor, ...]]:
    """A primary factor, and maybe a second factor that is fresh, stale, or not the member's."""
    second = st.sampled_from(
        [
            None,
            ("otp", "sms", at - 60.0),
            ("totp", "authenticator_app", at - 60.0),
            ("totp", "authenticator_app", at - 86400.0),
            ("recovery_codes", "recovery_code", at - 60.0),
        ]
    )

    def build(
        primary: AuthenticationFactor, extra: tuple[str, str, float] | None
    ) -> tuple[AuthenticationFactor, ...]:
        if extra is None:
            return (primary,)
        kind, delivery, when = extra
        factor = AuthenticationFactor(
            type=kind, delivery_method=delivery, last_authenticated_at=when
        )
        return (primary, factor)

    return st.builds(build, _primary_factor(at - 120.0), second)


SessionIntent = Literal[Intent.ENROLL, Intent.UNENROLL, Intent.ADD_METHOD, Intent.STEP_UP]
_INTENTS: tuple[SessionIntent, ...] = (
    Intent.ENROLL,
    Intent.UNENROLL,
    Intent.ADD_METHOD,
    Intent.STEP_UP,
)


def session_events(
    organizations: st.SearchStrategy[OrgPolicy] | None = None,
    members: st.SearchStrategy[MemberFactors] | None = None,
    *,
    at: float = T0,
    session_id: str = "session-test-0",
) -> st.SearchStrategy[SessionPresented]:
    """`SessionPresented` for every intent, with sessions with and without a second factor."""
    return st.builds(
        SessionPresented,
        at=st.just(at),
        organization=organizations if organizations is not None else org_policies(),
        member=members if members is not None else member_factors(now=at),
        session_id=st.just(session_id),
        session_factors=_session_factors(at),
        intent=st.sampled_from(_INTENTS),
        unenroll_method=st.none() | st.sampled_from(_METHODS),
        attributes=attributes(),
    )


# ---------------------------------------------------------------- blind event sequences

EnrollmentFlag = Literal["enroll", "unenroll"] | None
_ENROLLMENT_FLAGS: st.SearchStrategy[EnrollmentFlag] = st.sampled_from(
    [None, None, "enroll", "unenroll"]
)
_SUBJECTS = ("own", "own", "own", "own", "other_member", "other_org")


class _Subject(TypedDict):
    organization_id: str
    member_id: str


def _subject(which: str, organization_id: str, member_id: str) -> _Subject:
    if which == "other_member":
        return {"organization_id": organization_id, "member_id": member_id + "-other"}
    if which == "other_org":
        return {"organization_id": organization_id + "-other", "member_id": member_id}
    return {"organization_id": organization_id, "member_id": member_id}


@st.composite
def _sequences(
    draw: st.DrawFn, start: PrimaryAuthenticated | SessionPresented, max_size: int, limits: Limits
) -> list[Event]:
    member = start.member
    phones = (member.mfa_phone_number or PHONES[0], PHONES[1], INVALID_PHONES[0])
    factors = (
        member.mfa_phone_number or PHONES[0],
        member.totp_registration_id or TOTP_IDS[0],
        TOTP_IDS[1],
        PHONES[1],
    )
    kinds = (
        *("method", "sms", "totp", "verify", "verify", "reject", "recovery"),
        *("time", "abort", "replay"),
    )
    at = start.at
    out: list[Event] = []
    for _ in range(draw(st.integers(0, max_size))):
        at += draw(st.sampled_from([1.0, 0.0, 30.0, 121.0, 601.0, 3601.0]))
        who = _subject(
            draw(st.sampled_from(_SUBJECTS)), start.organization.organization_id, member.member_id
        )
        kind = draw(st.sampled_from(kinds))
        method = draw(st.sampled_from(_METHODS))
        event: Event
        if kind == "method":
            phone = draw(st.none() | st.sampled_from(phones))
            event = MethodChosen(at=at, method=method, phone_number=phone, **who)
        elif kind == "sms":
            life = draw(st.sampled_from([120.0, 600.0, 601.0, 0.0]))
            event = SmsSent(
                at=at, phone_number=draw(st.sampled_from(phones)), code_expires_at=at + life, **who
            )
        elif kind == "totp":
            life = draw(st.sampled_from([3600.0, 86401.0, 0.0]))
            event = TotpRegistrationCreated(
                at=at,
                totp_registration_id=draw(st.sampled_from(factors)),
                registration_expires_at=at + life,
                **who,
            )
        elif kind == "verify":
            event = FactorVerified(
                at=at,
                method=method,
                factor_id=draw(st.sampled_from(factors)),
                set_default_mfa=draw(st.booleans()),
                set_mfa_enrollment=draw(_ENROLLMENT_FLAGS),
                **who,
            )
        elif kind == "reject":
            failures = draw(st.none() | st.integers(0, limits.max_failures + 2))
            event = FactorRejected(at=at, method=method, member_failures=failures, **who)
        elif kind == "recovery":
            event = RecoveryCodeVerified(
                at=at,
                recovery_codes_remaining=0,
                set_mfa_enrollment=draw(_ENROLLMENT_FLAGS),
                **who,
            )
        elif kind == "abort":
            event = Aborted(at=at, **who)
        elif kind == "replay" and out:
            event = draw(st.sampled_from(out))
        else:
            event = TimePassed(at=at)
        out.append(event)
    return out


def event_sequences(
    start: PrimaryAuthenticated | SessionPresented,
    *,
    max_size: int = 16,
    limits: Limits | None = None,
) -> st.SearchStrategy[list[Event]]:
    """Flow events after `start`, without looking at the engine: ids come from small pools
    built from the start's member, so wrong and right ids collide often; replays repeat an
    earlier event exactly; time jumps past code, registration, flow and lock lifetimes.
    Reported failure counts go up to two past `limits.max_failures` (racing flows)."""
    return _sequences(start, max_size, limits or Limits())


def flows(
    starts: st.SearchStrategy[PrimaryAuthenticated | SessionPresented] | None = None,
    *,
    max_size: int = 16,
    limits: Limits | None = None,
) -> st.SearchStrategy[tuple[PrimaryAuthenticated | SessionPresented, list[Event]]]:
    """A start event and an adversarial sequence to follow it, for `run_checked`."""
    members = member_factors(limits=limits)
    base = (
        starts
        if starts is not None
        else st.one_of(primary_events(members=members), session_events(members=members))
    )
    return base.flatmap(
        lambda s: event_sequences(s, max_size=max_size, limits=limits).map(lambda e: (s, e))
    )


def run_checked(
    engine: Engine, start: Event, events: Sequence[Event], *, flow_id: str = "flow-test-0"
) -> list[Step]:
    """Run one flow, checking every invariant after every step; returns the steps."""
    before = Flow(flow_id=flow_id)
    steps = [check_step(before, start, engine.start(flow_id, start), engine.limits)]
    for event in events:
        before = steps[-1].flow
        steps.append(check_step(before, event, engine.handle(before, event), engine.limits))
        check_flow(steps[-1].flow, engine.limits)
    return steps


# ---------------------------------------------------------------- the stateful machine


def _live(machine: MfaFlowMachine) -> bool:
    return not machine.flow.is_terminal


def _finished(machine: MfaFlowMachine) -> bool:
    return machine.flow.is_terminal


class MfaFlowMachine(RuleBasedStateMachine):
    """Drives an `Engine` with your `mfa_rules` through flow after flow, checking every step.

    It plays the adapter: it keeps a clock that only moves forward (with jumps past code,
    flow and lock lifetimes), carries the member's snapshot from one flow to the next by
    applying the effects (enrollments, defaults, failure counts, locks), and answers the
    engine's requests (the number it asked to text, the registration it asked for) often
    enough that real paths are taken, between wrong, replayed and foreign events.

    Class attributes to set in a subclass: `mfa_rules` (your rules; Hypothesis owns the
    name `rules`), `limits`, `random_mfa_rules` (a strategy of extra rules drawn per run,
    e.g. `custom_rules()`), `policies` and
    `members` (strategies for the snapshots). For your `@invariant()`s: `flow`,
    `flow_member` (the snapshot the flow started from), `member` (the snapshot now),
    `last_event` and `last_step`.
    """

    mfa_rules: ClassVar[Sequence[Rule]] = ()
    limits: ClassVar[Limits] = Limits()
    random_mfa_rules: ClassVar[st.SearchStrategy[Sequence[Rule]] | None] = None
    policies: ClassVar[st.SearchStrategy[OrgPolicy] | None] = None
    members: ClassVar[st.SearchStrategy[MemberFactors] | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.engine = Engine(rules=tuple(self.mfa_rules), limits=self.limits)
        self.now = T0
        self.organization = OrgPolicy(organization_id=ORGANIZATION_ID)
        self.member = MemberFactors(member_id=MEMBER_ID)
        self.flow_member = self.member
        self.flow = Flow(flow_id="flow-unstarted")
        self.last_event: Event = TimePassed(at=T0)
        self.last_step = Step(self.flow, ())
        self.streak = 0
        self.started = 0
        self.asked_phone: str | None = None
        self.registration: str | None = None
        self.session: tuple[str, tuple[AuthenticationFactor, ...]] | None = None
        self.history: list[Event] = []
        self.finished: list[Flow] = []

    # -- plumbing --------------------------------------------------------------------

    def _who(self, which: str) -> _Subject:
        return _subject(which, self.flow.organization_id, self.flow.member_id)

    def _send(self, event: Event, flow: Flow | None = None) -> Step:
        """Hand one event to the engine as an adapter would, and check the step."""
        before = self.flow if flow is None else flow
        step = self.engine.handle(before, event)
        self._checked(before, event, step)
        if flow is None:
            self.flow = step.flow
            self.history = [*self.history[-19:], event]
        self.now += 1.0
        return step

    def _checked(self, before: Flow, event: Event, step: Step) -> None:
        error = f" ({step.error.error_type})" if step.error else ""
        note(f"{before.flow_id}: {before.state} --{event!r}--> {step.flow.state}{error}")
        check_step(before, event, step, self.limits)
        self.last_event, self.last_step = event, step
        self._apply(event, step)

    def _apply(self, event: Event, step: Step) -> None:
        """Carry out the effects on the member's snapshot, as a store would."""
        m = self.member
        for e in step.effects:
            if isinstance(e, SendSmsOtp):
                self.asked_phone = e.phone_number
            elif isinstance(e, RecordFailedAttempt):
                self.streak += 1
                m = m.model_copy(update={"failed_attempts": e.member_failures})
            elif isinstance(e, ClearFailedAttempts):
                self.streak = 0
                m = m.model_copy(update={"failed_attempts": 0})
            elif isinstance(e, LockMember):
                m = m.model_copy(update={"locked_until": e.until})
            elif isinstance(e, RecordEnrollment):
                m = m.model_copy(update=_enrolled(e))
            elif isinstance(e, SetMfaEnrollment):
                m = m.model_copy(update={"mfa_enrolled": e.enrolled})
            elif isinstance(e, SetDefaultMethod):
                m = m.model_copy(update={"default_mfa_method": Method(e.method)})
            elif isinstance(e, RemoveFactor):
                m = m.model_copy(update=_removed(m, Method(e.method)))
            elif isinstance(e, IssueSession):
                self.session = (f"session-{self.started}", e.authentication_factors)
        if step.accepted and isinstance(event, RecoveryCodeVerified):
            left = event.recovery_codes_remaining
            m = m.model_copy(update={"recovery_codes_remaining": left})
        self.member = m

    def _open(self, event: PrimaryAuthenticated | SessionPresented) -> None:
        """Start the next flow; a finished one is kept to be poked later."""
        if self.flow.is_terminal:
            self.finished = [*self.finished[-4:], self.flow]
        self.started += 1
        before = Flow(flow_id=f"flow-{self.started}")
        self.flow_member = event.member
        self.asked_phone = self.registration = None
        step = self.engine.start(before.flow_id, event)
        self.flow = step.flow
        self._checked(before, event, step)
        self.now += 1.0
        locked = self.member.locked_until
        if step.flow.reason == FailReason.LOCKED and locked is not None:
            self.now = max(self.now, locked)  # refused once; the member returns after the lock

    def _draw_member(self, data: st.DataObject, fresh: bool) -> MemberFactors:
        if fresh:
            strategy = (
                self.members
                if self.members is not None
                else member_factors(limits=self.limits, now=self.now)
            )
            self.member = data.draw(strategy, label="member")
            # A count left past the threshold by racing flows is where the store starts.
            self.streak = min(self.member.failed_attempts, self.limits.max_failures)
            self.session = None
        m = self.member
        if m.locked_until is not None and m.locked_until <= self.now:
            # The lock ran out: the store clears it and the failure count, as Stytch does.
            self.member = m.model_copy(update={"locked_until": None, "failed_attempts": 0})
            self.streak = 0
        return self.member

    def _draw_policy(self, data: st.DataObject, how: str) -> OrgPolicy:
        """Keep the policy, draw another, or (built-in policies only) restrict the current
        one to a single method, as an organization tightening up after members enrolled."""
        if how == "changed" or (how == "restricted" and self.policies is not None):
            strategy = self.policies if self.policies is not None else org_policies()
            self.organization = data.draw(strategy, label="organization")
        elif how == "restricted":
            only = data.draw(st.sampled_from(_METHODS), label="restricted to")
            self.organization = self.organization.model_copy(
                update={"mfa_methods": MfaMethods.RESTRICTED, "allowed_mfa_methods": (only,)}
            )
        return self.organization

    def _primary(self, data: st.DataObject, member: MemberFactors) -> PrimaryAuthenticated:
        return PrimaryAuthenticated(
            at=self.now,
            organization=self.organization,
            member=member,
            primary_factor=data.draw(_primary_factor(self.now), label="primary factor"),
            ist_id=f"ist-{self.started + 1}",
            attributes=data.draw(attributes(), label="attributes"),
        )

    # -- starting flows ----------------------------------------------------------------

    @initialize(data=st.data())
    def setup(self, data: st.DataObject) -> None:
        drawn = self.random_mfa_rules
        extra = data.draw(drawn, label="random rules") if drawn is not None else ()
        self.engine = Engine(rules=(*self.mfa_rules, *extra), limits=self.limits)
        self._draw_policy(data, "changed")
        self._open(self._primary(data, self._draw_member(data, fresh=True)))

    @precondition(_finished)
    @rule(
        data=st.data(),
        member=st.sampled_from(["same", "same", "same", "fresh"]),
        policy=st.sampled_from(["same", "same", "same", "changed", "restricted"]),
    )
    def start_login(self, data: st.DataObject, member: str, policy: str) -> None:
        """A new primary login: same member carried over (failures, enrollments) or anew."""
        self._draw_policy(data, policy)
        self._open(self._primary(data, self._draw_member(data, member == "fresh")))

    @precondition(_finished)
    @rule(
        data=st.data(),
        session=st.sampled_from(["issued", "issued", "drawn"]),
        intent=st.sampled_from(_INTENTS),
        unenroll=st.sampled_from([None, Method.SMS_OTP, Method.TOTP]),
    )
    def start_from_session(
        self,
        data: st.DataObject,
        session: str,
        intent: SessionIntent,
        unenroll: Method | None,
    ) -> None:
        """Step-up, enrollment or unenrollment from the last issued session, or another."""
        member = self._draw_member(data, fresh=False)
        if session == "issued" and self.session is not None:
            session_id, factors = self.session
        else:
            session_id = f"session-drawn-{self.started}"
            factors = data.draw(_session_factors(self.now), label="session factors")
        self._open(
            SessionPresented(
                at=self.now,
                organization=self.organization,
                member=member,
                session_id=session_id,
                session_factors=factors,
                intent=intent,
                unenroll_method=unenroll,
                attributes=data.draw(attributes(), label="attributes"),
            )
        )

    # -- the expected next step, so valid paths are common ------------------------------

    @precondition(_live)
    @rule(pick=st.integers(0, 1))
    def proceed(self, pick: int) -> None:
        """Send what an honest adapter and member would send next."""
        self._send(self._honest_next(pick))

    def _honest_next(self, pick: int) -> Event:
        """Choose a method, confirm what the engine asked for, enter the right code; resend
        when a code or registration ran out, and give up when no method is left."""
        f, at, who = self.flow, self.now, self._who("own")
        lapsed = f.pending_expires_at is not None and at >= f.pending_expires_at
        if f.state == State.PRIMARY_DONE or (f.state == State.CHALLENGED and f.method is None):
            enrolled = f.state == State.CHALLENGED
            options = [Method(m) for m in f.allowed if not enrolled or m in f.enrolled]
            if not options:
                return Aborted(at=at, reason="no method left", **who)
            method = options[pick % len(options)]
            phone = None if enrolled or method is Method.TOTP else self._new_phone(pick)
            return MethodChosen(at=at, method=method, phone_number=phone, **who)
        if lapsed:
            phone = f.pending if f.state == State.ENROLLING_SMS else None
            return MethodChosen(
                at=at, method=Method(f.method or Method.TOTP), phone_number=phone, **who
            )
        if f.method == Method.SMS_OTP and f.pending_expires_at is None:
            phone = f.pending or self.asked_phone or PHONES[0]
            expires = at + self._code_lifetime("usual")
            return SmsSent(at=at, phone_number=phone, code_expires_at=expires, **who)
        if f.state == State.ENROLLING_TOTP and f.pending is None:
            return TotpRegistrationCreated(
                at=at,
                totp_registration_id=self._fresh_registration(),
                registration_expires_at=at + 3600,
                **who,
            )
        method, factor_id = self._factor("expected")
        return FactorVerified(
            at=at, method=method, factor_id=factor_id, set_default_mfa=pick == 1, **who
        )

    @precondition(_live)
    @rule(
        how=st.sampled_from(["factor", "factor", "method", "phone", "subject", "late", "twice"]),
        pick=st.integers(0, 5),
    )
    def tamper(self, how: str, pick: int) -> None:
        """The honest next event with one thing wrong, sent right where it matters: another
        factor (or a code before its SMS was confirmed), the other method, another number,
        someone else, at the expiry instant, or twice."""
        event, f = self._honest_next(pick % 2), self.flow
        other = [Method.SMS_OTP, Method.TOTP]
        if how == "method" and isinstance(event, MethodChosen | FactorVerified):
            other.remove(Method(event.method))
            event = event.model_copy(update={"method": other[0]})
        elif how == "phone" and isinstance(event, MethodChosen | SmsSent):
            phones = [p for p in (*PHONES, *INVALID_PHONES) if p != event.phone_number]
            event = event.model_copy(update={"phone_number": phones[pick % len(phones)]})
        elif how == "subject":
            event = event.model_copy(update=self._who(["other_member", "other_org"][pick % 2]))
        elif how == "late":
            self.now = max(self.now, f.expires_at if pick % 2 else f.pending_expires_at or 0.0)
            event = event.model_copy(update={"at": self.now})
        elif how == "twice":
            self._send(event)
        elif how in ("factor", "method", "phone"):
            method, factor_id = self._wrong_factor(event, pick)
            event = FactorVerified(
                at=self.now, method=method, factor_id=factor_id, **self._who("own")
            )
        self._send(event)

    def _wrong_factor(self, honest: Event, pick: int) -> tuple[Method, str]:
        """A factor other than the one the honest next event proves (that one too, when the
        honest next event is not yet a verification: a code before its SMS is confirmed)."""
        seen = {self._factor("expected")} if isinstance(honest, FactorVerified) else set()
        options: list[tuple[Method, str]] = []
        for which in (
            *("expected", "disallowed", "enrolled_sms", "enrolled_totp", "registration"),
            *("asked_phone", "mismatched", "wrong"),
        ):
            pair = self._factor(which)
            if pair not in seen:
                seen.add(pair)
                options.append(pair)
        return options[pick % len(options)]

    def _code_lifetime(self, which: str) -> float:
        """Stytch's 2 minutes, the longest the limits allow, just over it, or none at all."""
        longest = self.limits.max_code_seconds
        return {"usual": min(120.0, longest), "longest": longest, "too_long": longest + 1}.get(
            which, 0.0
        )

    def _new_phone(self, pick: int) -> str:
        fresh = [p for p in PHONES if p != self.member.mfa_phone_number]
        return fresh[pick % len(fresh)]

    def _fresh_registration(self) -> str:
        self.registration = f"totp-registration-{self.started}-{len(self.history)}"
        return self.registration

    def _factor(self, which: str) -> tuple[Method, str]:
        """A method and factor id: the expected pair, another real factor, or a mismatch."""
        f = self.flow
        expected = Method(f.method or self.member.default_mfa_method or Method.TOTP)
        other = Method.SMS_OTP if expected is Method.TOTP else Method.TOTP
        expected_id = f.pending or (f.phone if expected is Method.SMS_OTP else f.totp_id)
        outside = [Method(m) for m in sorted(f.enrolled) if m not in f.allowed] or [other]
        method, factor_id = {
            "expected": (expected, expected_id),
            "disallowed": (outside[0], f.phone if outside[0] is Method.SMS_OTP else f.totp_id),
            "enrolled_sms": (Method.SMS_OTP, f.phone),
            "enrolled_totp": (Method.TOTP, f.totp_id),
            "asked_phone": (Method.SMS_OTP, self.asked_phone),
            "registration": (Method.TOTP, self.registration),
            "mismatched": (other, expected_id),
        }.get(which, (expected, None))
        return method, factor_id or "factor-wrong"

    # -- every event kind, right and wrong -------------------------------------------------

    @precondition(_live)
    @rule(
        method=st.sampled_from(_METHODS),
        phone=st.sampled_from(["new", "new", "enrolled", "asked", "invalid", "none"]),
        subject=st.sampled_from(_SUBJECTS),
        pick=st.integers(0, 2),
    )
    def choose_method(self, method: Method, phone: str, subject: str, pick: int) -> None:
        """Pick (or switch, or resend) a method, allowed or not, with any kind of number."""
        number = {
            "new": self._new_phone(pick),
            "enrolled": self.flow.phone or PHONES[0],
            "asked": self.asked_phone or PHONES[pick],
            "invalid": INVALID_PHONES[pick],
            "none": None,
        }[phone]
        self._send(
            MethodChosen(at=self.now, method=method, phone_number=number, **self._who(subject))
        )

    @precondition(_live)
    @rule(
        phone=st.sampled_from(["asked", "asked", "asked", "enrolled", "other"]),
        lifetime=st.sampled_from(["usual", "usual", "longest", "too_long", "none"]),
        subject=st.sampled_from(_SUBJECTS),
    )
    def sms_sent(self, phone: str, lifetime: str, subject: str) -> None:
        """Confirm an SMS: the one asked for, another number's, or one that was never asked."""
        number = {
            "asked": self.asked_phone or PHONES[0],
            "enrolled": self.flow.phone or PHONES[1],
            "other": next(p for p in PHONES if p != self.asked_phone),
        }[phone]
        self._send(
            SmsSent(
                at=self.now,
                phone_number=number,
                code_expires_at=self.now + self._code_lifetime(lifetime),
                **self._who(subject),
            )
        )

    @precondition(_live)
    @rule(
        registration=st.sampled_from(["fresh", "fresh", "previous", "enrolled"]),
        lifetime=st.sampled_from([3600.0, 3600.0, 300.0, 86401.0, 0.0]),
        subject=st.sampled_from(_SUBJECTS),
    )
    def totp_registration_created(self, registration: str, lifetime: float, subject: str) -> None:
        """Confirm a TOTP registration, twice, unasked, or naming the enrolled one."""
        if registration == "fresh" or self.registration is None:
            reg = self._fresh_registration()
        elif registration == "enrolled":
            reg = self.flow.totp_id or TOTP_IDS[0]
        else:
            reg = self.registration
        self._send(
            TotpRegistrationCreated(
                at=self.now,
                totp_registration_id=reg,
                registration_expires_at=self.now + lifetime,
                **self._who(subject),
            )
        )

    @precondition(_live)
    @rule(
        factor=st.sampled_from(
            [
                *("expected", "expected", "expected", "enrolled_sms", "enrolled_totp"),
                *("disallowed", "asked_phone", "registration", "mismatched", "wrong"),
            ]
        ),
        set_default=st.booleans(),
        enrollment=_ENROLLMENT_FLAGS,
        subject=st.sampled_from(_SUBJECTS),
    )
    def factor_verified(
        self, factor: str, set_default: bool, enrollment: EnrollmentFlag, subject: str
    ) -> None:
        """A code checked out for some factor: the right one, or one that proves nothing here."""
        method, factor_id = self._factor(factor)
        self._send(
            FactorVerified(
                at=self.now,
                method=method,
                factor_id=factor_id,
                set_default_mfa=set_default,
                set_mfa_enrollment=enrollment,
                **self._who(subject),
            )
        )

    @precondition(_live)
    @rule(
        method=st.sampled_from(["expected", "sms_otp", "totp", "recovery_code"]),
        report=st.sampled_from(["store", "store", "none", "stale", "ahead"]),
        subject=st.sampled_from(_SUBJECTS),
    )
    def factor_rejected(self, method: str, report: str, subject: str) -> None:
        """A wrong code; the store reports its count, none, a stale one, or one raised by
        other flows of the member racing this one (past the threshold, possibly)."""
        counted = self.member.failed_attempts + 1
        failures = {
            "store": counted,
            "none": None,
            "stale": 0,
            "ahead": counted + 3,
        }[report]
        name = method if method != "expected" else self.flow.method or RECOVERY_CODE
        kind: Method | Literal["recovery_code"] = (
            "recovery_code" if name == RECOVERY_CODE else Method(name)
        )
        self._send(
            FactorRejected(
                at=self.now,
                method=kind,
                member_failures=failures,
                **self._who(subject),
            )
        )

    @precondition(_live)
    @rule(enrollment=_ENROLLMENT_FLAGS, subject=st.sampled_from(_SUBJECTS))
    def recovery_code_verified(self, enrollment: EnrollmentFlag, subject: str) -> None:
        """A recovery code was right, whatever the method in progress or the policy."""
        left = max(self.member.recovery_codes_remaining - 1, 0)
        self._send(
            RecoveryCodeVerified(
                at=self.now,
                recovery_codes_remaining=left,
                set_mfa_enrollment=enrollment,
                **self._who(subject),
            )
        )

    @precondition(_live)
    @rule(subject=st.sampled_from(_SUBJECTS))
    def abort(self, subject: str) -> None:
        """Give up, or try to end someone else's flow."""
        self._send(Aborted(at=self.now, **self._who(subject)))

    @precondition(_live)
    @rule(
        to=st.sampled_from(
            ["soon", "code_edge", "code_end", "flow_edge", "flow_end", "lock_end", "far"]
        ),
        announce=st.booleans(),
    )
    def time_passes(self, to: str, announce: bool) -> None:
        """Move the clock to just before or exactly at an expiry (never backwards)."""
        f = self.flow
        code = f.pending_expires_at or self.now + self._code_lifetime("usual")
        target = {
            "soon": self.now + 30,
            "code_edge": code - 0.5,
            "code_end": code,
            "flow_edge": f.expires_at - 0.5,
            "flow_end": f.expires_at,
            "lock_end": self.member.locked_until or self.now + self.limits.lock_seconds,
            "far": self.now + 3 * self.limits.ist_seconds,
        }[to]
        self.now = max(self.now, target)
        if announce:
            self._send(TimePassed(at=self.now))

    @precondition(lambda self: bool(self.history) and _live(self))
    @rule(index=st.integers(0, 19), retimed=st.booleans())
    def replay(self, index: int, retimed: bool) -> None:
        """Send an earlier event again, as it was or stamped now, possibly into a newer flow."""
        event = self.history[-1 - index % len(self.history)]
        self._send(event.model_copy(update={"at": self.now}) if retimed else event)

    @precondition(lambda self: bool(self.finished))
    @rule(index=st.integers(0, 4), tick=st.booleans())
    def poke_finished_flow(self, index: int, tick: bool) -> None:
        """An event for a flow that is over must change nothing."""
        old = self.finished[-1 - index % len(self.finished)]
        last = self.history[-1] if self.history else None
        event = TimePassed(at=self.now) if tick or last is None else last
        self._send(event, flow=old)

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def flow_at_rest_is_sound(self) -> None:
        check_flow(self.flow, self.limits)

    @invariant()
    def failures_bounded_across_flows(self) -> None:
        """Invariant 6 across flows: wrong codes in a row, over every IST, never pass the limit."""
        if self.streak > self.limits.max_failures:
            raise InvariantViolation(
                6, f"{self.streak} consecutive failures across flows without a lock"
            )


def _enrolled(e: RecordEnrollment) -> dict[str, object]:
    if e.method == Method.SMS_OTP:
        return {"mfa_phone_number": e.factor_id, "mfa_phone_number_verified": True}
    return {"totp_registration_id": e.factor_id, "recovery_codes_remaining": 10}


def _removed(m: MemberFactors, method: Method) -> dict[str, object]:
    update: dict[str, object] = (
        {"mfa_phone_number": None, "mfa_phone_number_verified": False}
        if method is Method.SMS_OTP
        else {"totp_registration_id": None, "recovery_codes_remaining": 0}
    )
    if m.default_mfa_method is method:
        update["default_mfa_method"] = None
    return update
