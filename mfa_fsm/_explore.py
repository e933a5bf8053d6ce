"""The exhaustive checker: breadth-first over every built-in configuration and event path.

Each configuration is one start event (an org policy, a member's factors, and how the
flow starts). From there the checker applies a finite, adversarial event alphabet
derived from each flow, runs the engine, and checks every invariant on every step.
Breadth-first order makes the first counterexample found a shortest one.

Time is a discrete clock the checker owns. Ordinary events happen at the node's
instant; the clock moves only with the events that are about time: `time_passed`
exactly to the pending code's or registration's expiry, or to the IST's, and one late
copy of each kind of event arriving at the IST's expiry. The engine only compares
times with those deadlines, so landing exactly on each one explores both sides of
every comparison (`<` turning `>=`) without inflating the space with instants that
no guard can tell apart. Sans-I/O like the rest of the core: no clock of its own, no
randomness, no files.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from . import _table
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
from ._flow import TERMINAL, Flow, State
from ._invariants import violations
from ._policy import Rule
from ._types import (
    AuthenticationFactor,
    Intent,
    MemberFactors,
    Method,
    MfaMethods,
    MfaPolicy,
    OrgPolicy,
    second_factor,
)

__all__ = [
    "DEAD_END_HORIZON",
    "Config",
    "Counterexample",
    "Report",
    "Trace",
    "TraceStep",
    "builtin_configs",
    "configs_for",
    "edges_for_policy",
    "explore",
    "format_trace",
    "member_states",
    "org_policies",
]

# ---------------------------------------------------------------- the world

T0 = 1_700_000_000.0
"""The checker's clock at every flow's start (seconds since the epoch)."""
SMS_CODE_SECONDS = 120.0
"""SMS codes in the alphabet live 2 minutes, as Stytch's do."""
TOTP_REGISTRATION_SECONDS = 300.0
"""Stytch's shortest registration lifetime (5 min), so it can expire inside an IST."""
DEAD_END_HORIZON = 3
"""Longest shortest way to `authenticated` from a healthy live state: choose, send, verify.

A live node is judged a dead end only when at least this many events of depth were
left below it, so the depth bound alone never makes a node look stuck.
"""

FLOW_ID = "flow-chk"
ORG_ID = "org-acme"
OTHER_ORG_ID = "org-rival"
OTHER_MEMBER_ID = "mbr-mallory"
IST_ID = "ist-1"
SESSION_ID = "sess-1"
ENROLLED_PHONE = "+14155550101"
NEW_PHONE = "+14155550199"
OTHER_PHONE = "+14155550142"
INVALID_PHONE = "415-555-01"
ENROLLED_TOTP = "totp-enrolled"
NEW_TOTP = "totp-new"
FORGED_FACTOR = "totp-forged"

EMAIL = AuthenticationFactor(
    type="magic_link", delivery_method="email", last_authenticated_at=T0 - 3600
)
"""The primary factor of every flow (and of every presented session)."""


StartEvent = PrimaryAuthenticated | SessionPresented
"""The two events that open a flow."""


@dataclass(frozen=True)
class Config:
    """One starting point: a readable label and the event that opens the flow."""

    label: str
    start: StartEvent


def org_policies() -> tuple[OrgPolicy, ...]:
    """Every org policy: both `mfa_policy` values × all methods or each RESTRICTED list."""
    lists: tuple[tuple[Method, ...], ...] = (
        (Method.SMS_OTP,),
        (Method.TOTP,),
        (Method.SMS_OTP, Method.TOTP),
    )
    out: list[OrgPolicy] = []
    for policy in MfaPolicy:
        out.append(OrgPolicy(organization_id=ORG_ID, mfa_policy=policy))
        out.extend(
            OrgPolicy(
                organization_id=ORG_ID,
                mfa_policy=policy,
                mfa_methods=MfaMethods.RESTRICTED,
                allowed_mfa_methods=methods,
            )
            for methods in lists
        )
    return tuple(out)


def member_states() -> tuple[tuple[str, MemberFactors], ...]:
    """The member factor snapshots: one per situation the seeds and DESIGN.md name.

    Not enrolled; opted in without a factor; an unverified phone (must not count);
    SMS; TOTP with and without recovery codes; both, defaulting to either; breakglass
    (may use any method under RESTRICTED); an admin (for custom rules); one failure
    from lockout; locked.
    """
    sms = {
        "mfa_enrolled": True,
        "mfa_phone_number": ENROLLED_PHONE,
        "mfa_phone_number_verified": True,
    }
    totp = {"mfa_enrolled": True, "totp_registration_id": ENROLLED_TOTP}
    both = {**sms, "totp_registration_id": ENROLLED_TOTP}
    rows: tuple[tuple[str, str, dict[str, Any]], ...] = (
        ("mbr-new", "not enrolled", {}),
        ("mbr-optin", "mfa_enrolled flag, no factor yet", {"mfa_enrolled": True}),
        (
            "mbr-unverified",
            "unverified phone only",
            {"mfa_phone_number": ENROLLED_PHONE, "mfa_phone_number_verified": False},
        ),
        ("mbr-sms", "verified phone, default sms", {**sms, "default_mfa_method": Method.SMS_OTP}),
        (
            "mbr-totp",
            "TOTP, default totp, 10 recovery codes",
            {**totp, "default_mfa_method": Method.TOTP, "recovery_codes_remaining": 10},
        ),
        ("mbr-totp-nocodes", "TOTP, no recovery codes", {**totp}),
        (
            "mbr-both-sms",
            "phone + TOTP, default sms, recovery codes",
            {**both, "default_mfa_method": Method.SMS_OTP, "recovery_codes_remaining": 10},
        ),
        (
            "mbr-both-totp",
            "phone + TOTP, default totp",
            {**both, "default_mfa_method": Method.TOTP},
        ),
        (
            "mbr-breakglass",
            "breakglass, verified phone",
            {**sms, "default_mfa_method": Method.SMS_OTP, "is_breakglass": True},
        ),
        ("mbr-admin", "admin role, not enrolled", {"roles": ("admin",)}),
        (
            "mbr-nine",
            "phone + TOTP, 9 consecutive failures",
            {**both, "default_mfa_method": Method.TOTP, "failed_attempts": 9},
        ),
        (
            "mbr-locked",
            "TOTP, locked for 30 more minutes",
            {**totp, "failed_attempts": 10, "locked_until": T0 + 1800},
        ),
    )
    return tuple(
        (f"{mid} ({label})", MemberFactors(member_id=mid, **kw)) for mid, label, kw in rows
    )


def _session_factors(member: MemberFactors, second: bool) -> tuple[AuthenticationFactor, ...]:
    """A presented session: the primary factor, plus a second one when `second`.

    A member without a factor gets one too: an adversarial session the engine must
    not trust beyond what the member's factors allow.
    """
    if not second:
        return (EMAIL,)
    method = Method.TOTP if member.totp_registration_id else Method.SMS_OTP
    return (EMAIL, second_factor(method, T0 - 3600))


SessionIntent = Literal[Intent.ENROLL, Intent.UNENROLL, Intent.ADD_METHOD, Intent.STEP_UP]

_SESSION_STARTS: tuple[tuple[SessionIntent, Method | None], ...] = (
    (Intent.ENROLL, None),
    (Intent.UNENROLL, None),
    (Intent.UNENROLL, Method.SMS_OTP),
    (Intent.UNENROLL, Method.TOTP),
    (Intent.ADD_METHOD, None),
    (Intent.STEP_UP, None),
)


def _starts(org: OrgPolicy, member: MemberFactors) -> Iterable[tuple[str, StartEvent]]:
    yield (
        "login",
        PrimaryAuthenticated(
            at=T0,
            organization=org,
            member=member,
            primary_factor=EMAIL.model_copy(update={"last_authenticated_at": T0}),
            ist_id=IST_ID,
        ),
    )
    for second in (False, True):
        for intent, method in _SESSION_STARTS:
            name = intent.value + (f" {method.value}" if method else "")
            session = "session with 2FA" if second else "session without 2FA"
            yield (
                f"{name} from {session}",
                SessionPresented(
                    at=T0,
                    organization=org,
                    member=member,
                    session_id=SESSION_ID,
                    session_factors=_session_factors(member, second),
                    intent=intent,
                    unenroll_method=method,
                ),
            )


def policy_label(org: OrgPolicy) -> str:
    """`REQUIRED_FOR_ALL, RESTRICTED to sms_otp`: the whole policy, for traces."""
    if org.mfa_methods is MfaMethods.ALL_ALLOWED:
        return f"{org.mfa_policy.value}, ALL_ALLOWED"
    methods = "+".join(m.value for m in org.allowed_mfa_methods) or "nothing"
    return f"{org.mfa_policy.value}, RESTRICTED to {methods}"


def configs_for(org: OrgPolicy) -> tuple[Config, ...]:
    """Every member state × start kind under one org policy."""
    out: list[Config] = []
    for member_label, member in member_states():
        for start_label, start in _starts(org, member):
            out.append(Config(f"{policy_label(org)} | {member_label} | {start_label}", start))
    return tuple(out)


def builtin_configs() -> tuple[Config, ...]:
    """Every org policy × member state × start kind, without duplicates."""
    out: list[Config] = []
    seen: set[str] = set()
    for org in org_policies():
        for config in configs_for(org):
            key = config.start.model_dump_json()
            if key not in seen:
                seen.add(key)
                out.append(config)
    return tuple(out)


# ---------------------------------------------------------------- the alphabet

Letter = tuple[str, Event]


class _Letters:
    """Builds one node's letters: every event names the flow's subject at one instant."""

    def __init__(self, flow: Flow, now: float) -> None:
        self.org, self.member, self.now = flow.organization_id, flow.member_id, now
        self.out: list[Letter] = []

    def add(self, label: str, event: Event) -> None:
        self.out.append((label, event))

    def chosen(self, label: str, method: Method, phone: str | None = None) -> None:
        self.add(
            label,
            MethodChosen(
                at=self.now,
                organization_id=self.org,
                member_id=self.member,
                method=method,
                phone_number=phone,
            ),
        )

    def sent(self, label: str, phone: str, lifetime: float = SMS_CODE_SECONDS) -> None:
        self.add(
            label,
            SmsSent(
                at=self.now,
                organization_id=self.org,
                member_id=self.member,
                phone_number=phone,
                code_expires_at=self.now + lifetime,
            ),
        )

    def registered(self, label: str) -> None:
        self.add(
            label,
            TotpRegistrationCreated(
                at=self.now,
                organization_id=self.org,
                member_id=self.member,
                totp_registration_id=NEW_TOTP,
                registration_expires_at=self.now + TOTP_REGISTRATION_SECONDS,
            ),
        )

    def verified(
        self,
        label: str,
        method: Method,
        factor: str,
        *,
        options: bool = False,
        org: str | None = None,
        member: str | None = None,
    ) -> None:
        """`options`: also ask to make it the default and to unenroll (Stytch's flags)."""
        self.add(
            label,
            FactorVerified(
                at=self.now,
                organization_id=org or self.org,
                member_id=member or self.member,
                method=method,
                factor_id=factor,
                set_default_mfa=options,
                set_mfa_enrollment="unenroll" if options else None,
            ),
        )

    def rejected(self, label: str, method: Method) -> None:
        self.add(
            label,
            FactorRejected(
                at=self.now, organization_id=self.org, member_id=self.member, method=method
            ),
        )

    def recovered(self, label: str, remaining: int, unenroll: bool = False) -> None:
        self.add(
            label,
            RecoveryCodeVerified(
                at=self.now,
                organization_id=self.org,
                member_id=self.member,
                recovery_codes_remaining=remaining,
                set_mfa_enrollment="unenroll" if unenroll else None,
            ),
        )

    def time(self, label: str, at: float) -> None:
        self.add(label, TimePassed(at=at))

    def aborted(self, label: str) -> None:
        self.add(label, Aborted(at=self.now, organization_id=self.org, member_id=self.member))

    def replayed(self, label: str, start: Event) -> None:
        self.add(label, start.model_copy(update={"at": self.now}))


def alphabet(flow: Flow, clock: float, start: Event) -> list[Letter]:
    """The events to try next from `flow` at `clock`: plausible ones first, then adversarial.

    Per state: the moves a real member or adapter makes, then out-of-order
    confirmations, switched or forged factors, the other method's id, a code lifetime
    over the limit, Stytch's `set_default_mfa` / `set_mfa_enrollment=unenroll`; in
    every live state also a failure, a recovery code, time to each deadline, giving
    up, a code naming another organization or member, a replayed start, and a late
    copy of each kind of event at the IST's expiry.
    """
    if flow.state == State.START:
        return [(f"{start.kind} (start)", start)]
    x = _Letters(flow, clock)
    if flow.state in TERMINAL:
        return _after_the_end(x, flow, start)
    state, pending, method = flow.state, flow.pending, flow.method
    sms, totp = Method.SMS_OTP, Method.TOTP
    if state == State.PRIMARY_DONE:
        x.chosen("method_chosen sms (new phone)", sms, NEW_PHONE)
        x.chosen("method_chosen sms (invalid phone)", sms, INVALID_PHONE)
        x.chosen("method_chosen totp", totp)
        if flow.phone:
            x.chosen("method_chosen sms (enrolled phone)", sms, flow.phone)
        x.sent("sms_sent (never asked for)", NEW_PHONE)
        x.registered("totp_registration_created (never asked for)")
        x.verified("factor_verified sms (code never sent)", sms, NEW_PHONE)
    elif state == State.ENROLLING_SMS:
        target = pending or NEW_PHONE
        other = OTHER_PHONE if target != OTHER_PHONE else NEW_PHONE
        x.chosen("method_chosen sms (resend)", sms, target)
        x.chosen("method_chosen sms (switch number)", sms, OTHER_PHONE)
        x.chosen("method_chosen totp (switch method)", totp)
        x.sent("sms_sent (pending phone, 2 min code)", target)
        x.sent("sms_sent (code lives 1 h)", target, 3600.0)
        x.sent("sms_sent (another phone)", other)
        x.registered("totp_registration_created (never asked for)")
        x.verified("factor_verified (pending phone)", sms, target)
        x.verified(
            "factor_verified (pending phone, set default, unenroll)", sms, target, options=True
        )
        x.verified("factor_verified (another phone)", sms, other)
        x.verified("factor_verified totp (pending phone id)", totp, target)
    elif state == State.ENROLLING_TOTP:
        target = pending or NEW_TOTP
        x.chosen("method_chosen totp (new registration)", totp)
        x.chosen("method_chosen sms (switch method)", sms, NEW_PHONE)
        x.registered("totp_registration_created")
        x.sent("sms_sent (never asked for)", NEW_PHONE)
        x.verified("factor_verified (pending registration)", totp, target)
        x.verified(
            "factor_verified (pending registration, set default, unenroll)",
            totp,
            target,
            options=True,
        )
        x.verified("factor_verified sms (pending registration id)", sms, target)
    elif state == State.CHALLENGED:
        phone = flow.phone or ENROLLED_PHONE
        x.chosen("method_chosen sms (enrolled phone)", sms)
        x.chosen("method_chosen sms (new phone)", sms, NEW_PHONE)
        x.chosen("method_chosen totp", totp)
        x.sent("sms_sent (pending phone, 2 min code)", phone)
        x.sent("sms_sent (another phone)", NEW_PHONE)
        x.registered("totp_registration_created (never asked for)")
        if flow.totp_id:
            x.verified("factor_verified totp (enrolled)", totp, flow.totp_id)
            x.verified("factor_verified sms (TOTP id)", sms, flow.totp_id)
        else:
            x.verified("factor_verified totp (no registration)", totp, NEW_TOTP)
        x.verified("factor_verified sms (enrolled phone)", sms, phone)
        x.verified(
            "factor_verified sms (enrolled phone, set default, unenroll)", sms, phone, options=True
        )
    # In every live state: failures, forgeries, recovery, time, giving up, strangers.
    guess = method or totp
    remaining = max(flow.recovery_codes - 1, 0)
    x.verified("factor_verified (wrong factor id)", guess, FORGED_FACTOR)
    x.rejected("factor_rejected", guess)
    x.recovered("recovery_code_verified", remaining)
    x.recovered("recovery_code_verified (unenroll)", remaining, unenroll=True)
    x.time("time_passed (no deadline reached)", clock)
    if flow.pending_expires_at is not None and flow.pending_expires_at > clock:
        x.time("time_passed (to code expiry)", flow.pending_expires_at)
    x.time("time_passed (to IST expiry)", max(flow.expires_at, clock))
    x.aborted("aborted")
    factor = pending or flow.totp_id or flow.phone or NEW_TOTP
    x.verified("factor_verified naming another organization", guess, factor, org=OTHER_ORG_ID)
    x.verified("factor_verified naming another member", guess, factor, member=OTHER_MEMBER_ID)
    x.replayed(f"{start.kind} (replayed)", start)
    return x.out + _late(x.out, max(flow.expires_at, clock))


_LATE_KINDS = (
    MethodChosen.kind,
    SmsSent.kind,
    TotpRegistrationCreated.kind,
    FactorVerified.kind,
    FactorRejected.kind,
    RecoveryCodeVerified.kind,
    Aborted.kind,
)


def _late(letters: Sequence[Letter], late: float) -> list[Letter]:
    """The first (most plausible) event of each kind again, arriving at the IST's expiry."""
    out: list[Letter] = []
    for kind in _LATE_KINDS:
        for label, event in letters:
            if event.kind == kind:
                update: dict[str, float] = {"at": late}
                if isinstance(event, SmsSent):
                    update["code_expires_at"] = late + SMS_CODE_SECONDS
                elif isinstance(event, TotpRegistrationCreated):
                    update["registration_expires_at"] = late + TOTP_REGISTRATION_SECONDS
                out.append((f"{label} at IST expiry", event.model_copy(update=update)))
                break
    return out


def _after_the_end(x: _Letters, flow: Flow, start: Event) -> list[Letter]:
    """Replays after the flow ended: the winning code, a recovery code, a failure, time,
    giving up and the start event. A terminal flow must refuse them all, unchanged."""
    method = flow.method or Method.TOTP
    factor = flow.verified[-1].factor_id if flow.verified else flow.pending or NEW_TOTP
    x.verified("factor_verified (replayed)", method, factor)
    x.recovered("recovery_code_verified (after the end)", 0)
    x.rejected("factor_rejected (after the end)", method)
    x.time("time_passed (after the end)", x.now)
    x.aborted("aborted (after the end)")
    x.replayed(f"{start.kind} (replayed)", start)
    return x.out


# ---------------------------------------------------------------- the report


@dataclass(frozen=True)
class TraceStep:
    """One event of a trace and what the engine did with it."""

    label: str
    event: Event
    source: str
    dest: str
    accepted: bool
    error: str | None
    effects: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.event.kind,
            "at": self.event.at - T0,
            "event": self.event.model_dump(mode="json"),
            "source": self.source,
            "dest": self.dest,
            "accepted": self.accepted,
            "error": self.error,
            "effects": list(self.effects),
        }


@dataclass(frozen=True)
class Trace:
    """A path from a configuration's start: every event, its result and its effects."""

    config: str
    steps: tuple[TraceStep, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "steps": [s.to_dict() for s in self.steps]}


@dataclass(frozen=True)
class Counterexample:
    """A shortest trace whose last step broke invariants (number 0: the engine raised)."""

    trace: Trace
    broken: tuple[tuple[int, str], ...]

    @property
    def numbers(self) -> tuple[int, ...]:
        return tuple(n for n, _ in self.broken)

    def to_dict(self) -> dict[str, Any]:
        return {
            "invariants": [{"number": n, "message": m} for n, m in self.broken],
            "trace": self.trace.to_dict(),
        }


Edge = tuple[str, str, str]


@dataclass
class Report:
    """What one exploration found; `ok` when no invariant broke and no live state is stuck."""

    depth: int
    configurations: int = 0
    states: int = 0
    transitions: int = 0
    edges: set[Edge] = field(default_factory=set)
    violation: Counterexample | None = None
    dead_ends: int = 0
    dead_end_configs: list[str] = field(default_factory=list)
    dead_end: Trace | None = None
    rules: tuple[str, ...] = ()
    table_edges: frozenset[Edge] = field(default_factory=lambda: table_edges())

    @property
    def unexercised(self) -> list[Edge]:
        """Rows of the table no explored step took (coverage, not a failure)."""
        return sorted(self.table_edges - self.edges)

    @property
    def ok(self) -> bool:
        return self.violation is None and self.dead_ends == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "depth": self.depth,
            "rules": list(self.rules),
            "configurations": self.configurations,
            "states": self.states,
            "transitions": self.transitions,
            "edges": [list(e) for e in sorted(self.edges)],
            "unexercised_edges": [list(e) for e in self.unexercised],
            "violation": self.violation.to_dict() if self.violation else None,
            "dead_ends": {
                "count": self.dead_ends,
                "configurations": list(self.dead_end_configs),
                "shortest": self.dead_end.to_dict() if self.dead_end else None,
            },
        }


def table_edges() -> frozenset[Edge]:
    """Every (source, event kind, dest) the table declares."""
    return frozenset((row.source, row.event, row.dest) for row in _table.TABLE)


def format_trace(trace: Trace, broken: Sequence[tuple[int, str]] = ()) -> str:
    """A trace step by step, for people: event, time, state change, refusal, effects."""
    lines = [f"configuration: {trace.config}"]
    width = len(str(len(trace.steps)))
    for i, s in enumerate(trace.steps, 1):
        outcome = "accepted" if s.accepted else "refused"
        if s.error:
            outcome += f" ({s.error})"
        when = f"t+{s.event.at - T0:g}s"
        lines.append(f"  {i:>{width}}. {when}  {s.label}: {s.source} -> {s.dest}  [{outcome}]")
        detail = _event_detail(s.event)
        if detail:
            lines.append(f"  {'':>{width}}    event: {detail}")
        lines.append(f"  {'':>{width}}    effects: {', '.join(s.effects) or '-'}")
    lines.extend(
        f"  broken: invariant {n}: {m}" if n else f"  crashed: {m} (must be a refusal)"
        for n, m in broken
    )
    return "\n".join(lines)


def _event_detail(event: Event) -> str:
    skip = {"at", "organization", "member", "session_factors", "primary_factor", "attributes"}
    data = event.model_dump(mode="json", exclude=skip, exclude_defaults=True)
    if isinstance(event, PrimaryAuthenticated | SessionPresented):
        data["member"] = event.member.model_dump(mode="json", exclude_defaults=True)
    return ", ".join(f"{k}={v}" for k, v in data.items())


# ---------------------------------------------------------------- the search


class _Graph:
    """The explored nodes of one configuration: parallel lists indexed by node id."""

    __slots__ = ("clock", "depth", "event", "expanded", "flow", "label", "parent", "succ")

    def __init__(self) -> None:
        self.flow: list[Flow] = []
        self.clock: list[float] = []
        self.depth: list[int] = []
        self.parent: list[int] = []
        self.label: list[str] = []
        self.event: list[Event | None] = []
        self.succ: list[list[int]] = []
        self.expanded: list[bool] = []

    def add(self, flow: Flow, clock: float, depth: int, parent: int, letter: Letter | None) -> int:
        self.flow.append(flow)
        self.clock.append(clock)
        self.depth.append(depth)
        self.parent.append(parent)
        self.label.append(letter[0] if letter else "")
        self.event.append(letter[1] if letter else None)
        self.succ.append([])
        self.expanded.append(False)
        return len(self.flow) - 1

    def path(self, node: int) -> list[Letter]:
        letters: list[Letter] = []
        while self.parent[node] >= 0:
            event = self.event[node]
            assert event is not None
            letters.append((self.label[node], event))
            node = self.parent[node]
        letters.reverse()
        return letters


@dataclass
class _Outcome:
    graph: _Graph
    states: int = 0
    transitions: int = 0
    violation: tuple[list[Letter], tuple[tuple[int, str], ...]] | None = None


_TERMINAL_EXCLUDE: Any = {
    "flow_id": True,
    "started_at": True,
    "expires_at": True,
    "verified": {"__all__": {"at"}},
}


def _key(flow: Flow, clock: float) -> tuple[str, float]:
    """A node's canonical content: the flow without its id, and the clock.

    Terminal flows refuse everything whatever the time, so their times are dropped:
    every way of ending alike is one leaf.
    """
    if flow.state in TERMINAL:
        return (flow.dump_json(exclude=_TERMINAL_EXCLUDE), -1.0)
    return (flow.dump_json(exclude=_LIVE_EXCLUDE), clock)


_LIVE_EXCLUDE: Any = {"flow_id": True}


def _alphabet_inputs(flow: Flow, clock: float) -> tuple[Any, ...]:
    """Everything `alphabet` reads from a node (the start event is fixed per search)."""
    last = flow.verified[-1].factor_id if flow.verified else None
    return (
        flow.state,
        flow.pending,
        flow.method,
        flow.phone,
        flow.totp_id,
        flow.recovery_codes,
        flow.pending_expires_at,
        flow.expires_at,
        last,
        clock,
    )


def _search(config: Config, engine: Engine, depth: int, edges: set[Edge]) -> _Outcome:
    graph = _Graph()
    out = _Outcome(graph)
    limits = engine.limits
    root = graph.add(Flow(flow_id=FLOW_ID), T0, 0, -1, None)
    seen: dict[tuple[str, float], int] = {_key(graph.flow[root], T0): root}
    queue = deque([root])
    alphabets: dict[tuple[Any, ...], list[Letter]] = {}
    while queue:
        node = queue.popleft()
        if graph.depth[node] >= depth:
            continue
        graph.expanded[node] = True
        flow, clock, succ = graph.flow[node], graph.clock[node], graph.succ[node]
        terminal = flow.state in TERMINAL
        inputs = _alphabet_inputs(flow, clock)
        letters = alphabets.get(inputs)
        if letters is None:
            letters = alphabets[inputs] = alphabet(flow, clock, config.start)
        for letter in letters:
            event = letter[1]
            out.transitions += 1
            try:
                step = engine.handle(flow, event)
                broken = [(n, m) for n, m in violations(flow, event, step, limits)]
            except Exception as exc:  # a crash is a finding: errors must be domain errors
                broken = [(0, f"the engine raised {type(exc).__name__}: {exc}")]
                step = None
            if broken:
                out.violation = ([*graph.path(node), letter], tuple(broken))
                out.states = len(graph.flow)
                return out
            assert step is not None
            after = step.flow
            if not step.accepted:
                if after is flow:
                    continue  # refused: the engine handed back this very flow (a self-loop)
            else:
                edges.add((flow.state, event.kind, after.state))
            if terminal:
                continue  # absorbing (invariant 5 just said so): nothing new below
            later = max(event.at, clock)
            key = _key(after, later)
            child = seen.get(key)
            if child is None:
                child = graph.add(after, later, graph.depth[node] + 1, node, letter)
                seen[key] = child
                queue.append(child)
            if child != node and child not in succ:
                succ.append(child)
    out.states = len(graph.flow)
    return out


def _dead_ends(graph: _Graph, depth: int) -> list[int]:
    """Live nodes, fully explored to the horizon, from which `authenticated` is unreachable."""
    n = len(graph.flow)
    preds: list[list[int]] = [[] for _ in range(n)]
    for a in range(n):
        for b in graph.succ[a]:
            preds[b].append(a)
    good = [graph.flow[i].state == State.AUTHENTICATED for i in range(n)]
    stack = [i for i in range(n) if good[i]]
    while stack:
        b = stack.pop()
        for a in preds[b]:
            if not good[a]:
                good[a] = True
                stack.append(a)
    stuck = []
    for i in range(n):
        f = graph.flow[i]
        if good[i] or f.state in TERMINAL or f.state == State.START or not graph.expanded[i]:
            continue
        if graph.depth[i] + DEAD_END_HORIZON > depth:
            continue  # the depth bound, not the machine, may be what stops it
        if graph.clock[i] >= f.expires_at:
            continue  # the IST expired: that is expiry, not a dead end
        stuck.append(i)
    return stuck


def _trace(config: Config, letters: Sequence[Letter], engine: Engine) -> Trace:
    """Replay a path to record what each step did (cheap: done once per report)."""
    flow = Flow(flow_id=FLOW_ID)
    steps: list[TraceStep] = []
    for label, event in letters:
        try:
            step: Step = engine.handle(flow, event)
        except Exception as exc:
            steps.append(
                TraceStep(label, event, flow.state, flow.state, False, type(exc).__name__, ())
            )
            break
        steps.append(
            TraceStep(
                label,
                event,
                flow.state,
                step.flow.state,
                step.accepted,
                step.error.error_type if step.error else None,
                tuple(e.kind for e in step.effects),
            )
        )
        flow = step.flow
    return Trace(config.label, tuple(steps))


def _rule_names(rules: Sequence[Rule]) -> tuple[str, ...]:
    return tuple(getattr(r, "__qualname__", getattr(r, "__name__", repr(r))) for r in rules)


def explore(
    depth: int = 8,
    rules: Sequence[Rule] = (),
    configs: Sequence[Config] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Explore every configuration breadth-first up to `depth` events (the start included).

    Stops at the first broken invariant, after making sure no other configuration has
    a shorter counterexample. Dead ends are judged only when no invariant broke.
    """
    if depth < 1:
        raise ValueError("depth must be at least 1")
    chosen = builtin_configs() if configs is None else tuple(configs)
    engine = Engine(rules=tuple(rules))
    report = Report(depth=depth, rules=_rule_names(rules))
    bound = depth
    best: tuple[Config, list[Letter], tuple[tuple[int, str], ...]] | None = None
    dead_best: tuple[int, Config, list[Letter]] | None = None
    for done, config in enumerate(chosen, 1):
        if bound >= 1:
            outcome = _search(config, engine, bound, report.edges)
            report.configurations += 1
            report.states += outcome.states
            report.transitions += outcome.transitions
            if outcome.violation is not None:
                letters, broken = outcome.violation
                best = (config, letters, broken)
                bound = len(letters) - 1
            elif best is None:
                stuck = _dead_ends(outcome.graph, depth)
                if stuck:
                    report.dead_ends += len(stuck)
                    report.dead_end_configs.append(config.label)
                    first = min(stuck, key=lambda i: outcome.graph.depth[i])
                    d = outcome.graph.depth[first]
                    if dead_best is None or d < dead_best[0]:
                        dead_best = (d, config, outcome.graph.path(first))
        if on_progress is not None:
            on_progress(done, len(chosen))
    if best is not None:
        config, letters, broken = best
        report.violation = Counterexample(_trace(config, letters, engine), broken)
        report.dead_ends, report.dead_end_configs = 0, []
    elif dead_best is not None:
        report.dead_end = _trace(dead_best[1], dead_best[2], engine)
    return report


def edges_for_policy(
    org: OrgPolicy, depth: int = 6, rules: Sequence[Rule] = ()
) -> set[tuple[str, str, str]]:
    """The (source, event kind, dest) edges every member and start can take under `org`."""
    return set(explore(depth=depth, rules=rules, configs=configs_for(org)).edges)
