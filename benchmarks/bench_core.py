"""Core engine benchmarks: complete MFA flows through the public API, against baselines.

Run:  python benchmarks/bench_core.py [--quick] [--json PATH]

Everything is measured in one process run; every comparison has its baseline measured in
the same run, in interleaved rounds (round r times every benchmark once, so drift on a
shared machine hits all of them alike). Figures are medians over the rounds, with the
min-max (wall clock, `time.perf_counter`; the thread's CPU time is shown beside it so
contention from other processes is visible). This is a script, not a test: nothing here
asserts a timing.

The flow: an org with `REQUIRED_FOR_ALL`, a member with no second factor, Stytch-length ids
(`organization-test-<uuid4>`, `member-test-<uuid4>`, a 44-character IST id, a uuid4 flow
id), then

    PrimaryAuthenticated -> MethodChosen(sms_otp, +14155551234) -> SmsSent
    -> FactorVerified -> authenticated

The id strings come from a pre-generated pool (making uuids is not using our API); the
four pydantic events are built inside every timed loop unless a row says "pre-built".
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import secrets
import statistics
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, cast

import pydantic
import statemachine
import transitions
from transitions import EventData, Machine

import mfa_fsm
from mfa_fsm import (
    Audit,
    AuthenticationFactor,
    ClearFailedAttempts,
    ConsumeIst,
    CreateTotpRegistration,
    Effect,
    Engine,
    FactorVerified,
    FailReason,
    Flow,
    Intent,
    IntermediateSessionExpired,
    IssueSession,
    MemberFactors,
    MemberLocked,
    Method,
    MethodChosen,
    MethodRestricted,
    MfaError,
    MfaMethods,
    MfaPolicy,
    OrgPolicy,
    PrimaryAuthenticated,
    RecordEnrollment,
    SendSmsOtp,
    SetDefaultMethod,
    SetMfaEnrollment,
    SmsSent,
    StateError,
    Step,
    SubjectMismatch,
    VerifiedFactor,
)
from mfa_fsm import _table as table
from mfa_fsm._effects import make
from mfa_fsm._engine import _Refusal, machine
from mfa_fsm._guards import Ctx, Limits

T0 = 1_700_000_000.0
PHONE = "+14155551234"
EVENTS_PER_FLOW = 4
ID_POOL = 1024  # distinct id sets, cycled through by every loop

START, PRIMARY_DONE, ENROLLING_SMS, ENROLLING_TOTP, CHALLENGED, AUTHENTICATED, FAILED = (
    table.START,
    table.PRIMARY_DONE,
    table.ENROLLING_SMS,
    table.ENROLLING_TOTP,
    table.CHALLENGED,
    table.AUTHENTICATED,
    table.FAILED,
)
PA, MC, SENT, OK = (
    PrimaryAuthenticated.kind,
    MethodChosen.kind,
    SmsSent.kind,
    FactorVerified.kind,
)


# ------------------------------------------------------------------ inputs


class Ids(NamedTuple):
    flow_id: str
    organization_id: str
    member_id: str
    ist_id: str


def new_ids() -> Ids:
    """One flow's ids, as long as Stytch's (the IST id is 44 characters)."""
    return Ids(
        flow_id=str(uuid.uuid4()),
        organization_id=f"organization-test-{uuid.uuid4()}",
        member_id=f"member-test-{uuid.uuid4()}",
        ist_id=secrets.token_urlsafe(33),
    )


POOL: list[Ids] = [new_ids() for _ in range(ID_POOL)]
assert len(POOL[0].ist_id) == 44


class FlowEvents(NamedTuple):
    primary: PrimaryAuthenticated
    chosen: MethodChosen
    sent: SmsSent
    verified: FactorVerified


def events_for(ids: Ids) -> FlowEvents:
    """The four events of the flow, built the way an adapter builds them."""
    org, member = ids.organization_id, ids.member_id
    return FlowEvents(
        PrimaryAuthenticated(
            at=T0,
            organization=OrgPolicy(organization_id=org, mfa_policy=MfaPolicy.REQUIRED_FOR_ALL),
            member=MemberFactors(member_id=member),
            primary_factor=AuthenticationFactor(
                type="magic_link", delivery_method="email", last_authenticated_at=T0
            ),
            ist_id=ids.ist_id,
        ),
        MethodChosen(
            at=T0 + 5,
            organization_id=org,
            member_id=member,
            method=Method.SMS_OTP,
            phone_number=PHONE,
        ),
        SmsSent(
            at=T0 + 6,
            organization_id=org,
            member_id=member,
            phone_number=PHONE,
            code_expires_at=T0 + 126,
        ),
        FactorVerified(
            at=T0 + 30,
            organization_id=org,
            member_id=member,
            method=Method.SMS_OTP,
            factor_id=PHONE,
        ),
    )


PREBUILT: list[FlowEvents] = [events_for(ids) for ids in POOL]

# ------------------------------------------------------------------ ours

ENGINE = Engine()


def ours_flow(engine: Engine, ids: Ids, ev: FlowEvents) -> Step:
    step = engine.start(ids.flow_id, ev.primary)
    step = engine.handle(step.flow, ev.chosen)
    step = engine.handle(step.flow, ev.sent)
    return engine.handle(step.flow, ev.verified)


def run_ours(n: int) -> None:
    engine, pool = ENGINE, POOL
    for i in range(n):
        ids = pool[i % ID_POOL]
        ours_flow(engine, ids, events_for(ids))


def run_ours_prebuilt(n: int) -> None:
    engine, pool, pre = ENGINE, POOL, PREBUILT
    for i in range(n):
        ours_flow(engine, pool[i % ID_POOL], pre[i % ID_POOL])


def run_events_only(n: int) -> None:
    pool = POOL
    for i in range(n):
        events_for(pool[i % ID_POOL])


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


# ------------------------------------------------------------------ stock `transitions`
#
# (a) The anti-pattern: a `transitions.Machine` built for every flow, on a small graph
#     (the flow's four transitions plus the TOTP, challenge and abort branches), with
#     trivial callbacks; the same four pydantic events are built and passed to it.
# (b) The stock trigger on one shared static machine built from `_table.TABLE`, the FAQ
#     pattern `machine.events[name].trigger(model)`, wired into an `Engine` so the rest of
#     `handle` is unchanged: this isolates what `_LeanEvent` buys.

SMALL_GRAPH: list[tuple[str, str, str]] = [
    (PA, START, PRIMARY_DONE),
    (PA, START, CHALLENGED),
    (MC, PRIMARY_DONE, ENROLLING_SMS),
    (MC, PRIMARY_DONE, ENROLLING_TOTP),
    (SENT, ENROLLING_SMS, ENROLLING_SMS),
    (OK, ENROLLING_SMS, AUTHENTICATED),
    (OK, ENROLLING_TOTP, AUTHENTICATED),
    (OK, CHALLENGED, AUTHENTICATED),
    ("aborted", PRIMARY_DONE, FAILED),
    ("aborted", ENROLLING_SMS, FAILED),
    ("aborted", ENROLLING_TOTP, FAILED),
    ("aborted", CHALLENGED, FAILED),
]


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def _always(*args: Any, **kwargs: Any) -> bool:
    return True


_SMALL_TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": t, "source": s, "dest": d, "conditions": [_always], "after": [_noop]}
    for t, s, d in SMALL_GRAPH
]
_STATES: list[str] = list(table.STATES)


class _Model:
    """A bare model for the per-flow machine."""

    state: str


def transitions_per_flow(ids: Ids, ev: FlowEvents) -> _Model:
    model = _Model()
    Machine(
        model=model,
        states=_STATES,
        transitions=_SMALL_TRANSITIONS,
        initial=START,
        auto_transitions=False,
    )
    trigger = model.trigger  # type: ignore[attr-defined]
    trigger(PA, payload=ev.primary)
    trigger(MC, payload=ev.chosen)
    trigger(SENT, payload=ev.sent)
    trigger(OK, payload=ev.verified)
    return model


def run_transitions_per_flow(n: int) -> None:
    pool = POOL
    for i in range(n):
        ids = pool[i % ID_POOL]
        transitions_per_flow(ids, events_for(ids))


class _StockModel:
    """Adapts a step context to `transitions`' model protocol (a `state` attribute)."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    @property
    def state(self) -> str:
        return self.ctx.flow.state

    @state.setter
    def state(self, value: str) -> None:
        self.ctx.flow.state = value


def _wrap_guard(g: Callable[[Ctx], bool]) -> Callable[[EventData], bool]:
    def condition(event_data: EventData) -> bool:
        return g(cast(_StockModel, event_data.model).ctx)

    return condition


def _wrap_action(a: Callable[[Ctx], None]) -> Callable[[EventData], None]:
    def callback(event_data: EventData) -> None:
        a(cast(_StockModel, event_data.model).ctx)

    return callback


def stock_static_machine() -> Machine:
    """An un-subclassed `transitions.Machine` built from the same table, with the same rows."""
    m = Machine(model=None, states=_STATES, initial=None, auto_transitions=False, send_event=True)
    for row in table.TABLE:
        m.add_transition(
            row.event,
            row.source,
            row.dest,
            conditions=[_wrap_guard(g) for g in row.guards],
            after=[_wrap_action(row.action)],
        )
    return m


class _StockTrigger:
    """Stands in for `_LeanEvent` in `Engine._events`: the stock `Event.trigger`."""

    __slots__ = ("event",)

    def __init__(self, event: transitions.core.Event) -> None:
        self.event = event

    def trigger(self, ctx: Ctx, refusal: _Refusal) -> bool:
        # The stock trigger has no refusal bookkeeping; on this path nothing is refused.
        return bool(self.event.trigger(_StockModel(ctx)))


STOCK_MACHINE = stock_static_machine()
STOCK_ENGINE = Engine()
STOCK_ENGINE._events = {k: _StockTrigger(e) for k, e in STOCK_MACHINE.events.items()}  # type: ignore[misc]


def run_stock_engine(n: int) -> None:
    engine, pool = STOCK_ENGINE, POOL
    for i in range(n):
        ids = pool[i % ID_POOL]
        ours_flow(engine, ids, events_for(ids))


def _enrolling_sms_ctx() -> tuple[Ctx, SmsSent]:
    """A context as the engine builds it for SmsSent in `enrolling_sms`."""
    ids, ev = POOL[0], PREBUILT[0]
    step = ENGINE.start(ids.flow_id, ev.primary)
    step = ENGINE.handle(step.flow, ev.chosen)
    assert step.flow.state == ENROLLING_SMS
    return Ctx(step.flow.copy(), ev.sent, (), Limits()), ev.sent


def run_lean_trigger(n: int) -> None:
    # SmsSent in enrolling_sms: the expiry row fails, the next row's two guards pass,
    # `mark_sent` runs, the state stays: repeatable on one context.
    ctx, _ = _enrolling_sms_ctx()
    trigger = machine().events[SENT].trigger
    refusal = _Refusal()
    for _ in range(n):
        trigger(ctx, refusal=refusal)


def run_stock_trigger(n: int) -> None:
    ctx, _ = _enrolling_sms_ctx()
    trigger = STOCK_MACHINE.events[SENT].trigger
    model = _StockModel(ctx)
    for _ in range(n):
        trigger(model)


def run_full_machine_build(n: int) -> None:
    # Informational: what building the real table's machine costs, per flow, before any event.
    rows = [
        {
            "trigger": r.event,
            "source": r.source,
            "dest": r.dest,
            "conditions": list(r.guards),
            "after": [r.action],
        }
        for r in table.TABLE
    ]
    for _ in range(n):
        Machine(
            model=_Model(),
            states=_STATES,
            transitions=rows,
            initial=START,
            auto_transitions=False,
            send_event=True,
        )


# ------------------------------------------------------------------ python-statemachine


class PsmFlow(statemachine.StateMachine):
    """The same small graph as the per-flow `transitions` machine, trivial callbacks."""

    start = statemachine.State(initial=True)
    primary_done = statemachine.State()
    enrolling_sms = statemachine.State()
    enrolling_totp = statemachine.State()
    challenged = statemachine.State()
    authenticated = statemachine.State(final=True)
    failed = statemachine.State(final=True)

    primary_authenticated = start.to(primary_done, cond="always", after="noop") | start.to(
        challenged, cond="always", after="noop"
    )
    method_chosen = primary_done.to(enrolling_sms, cond="always", after="noop") | primary_done.to(
        enrolling_totp, cond="always", after="noop"
    )
    sms_sent = enrolling_sms.to.itself(cond="always", after="noop")  # type: ignore[no-untyped-call]
    factor_verified = (
        enrolling_sms.to(authenticated, cond="always", after="noop")
        | enrolling_totp.to(authenticated, cond="always", after="noop")
        | challenged.to(authenticated, cond="always", after="noop")
    )
    aborted = (
        primary_done.to(failed)
        | enrolling_sms.to(failed)
        | enrolling_totp.to(failed)
        | challenged.to(failed)
    )

    def always(self) -> bool:
        return True

    def noop(self) -> None:
        return None


def psm_per_flow(ids: Ids, ev: FlowEvents) -> PsmFlow:
    sm = PsmFlow()
    sm.send(PA, payload=ev.primary)
    sm.send(MC, payload=ev.chosen)
    sm.send(SENT, payload=ev.sent)
    sm.send(OK, payload=ev.verified)
    return sm


def run_psm(n: int) -> None:
    pool = POOL
    for i in range(n):
        ids = pool[i % ID_POOL]
        psm_per_flow(ids, events_for(ids))


# ------------------------------------------------------------------ sanity: same work


def check_equivalence() -> None:
    """Every contender must really run the flow; the dict table must produce our output."""
    for ids, ev in zip(POOL[:8], PREBUILT[:8], strict=True):
        ours = ours_flow(ENGINE, ids, ev)
        assert ours.ok and ours.flow.state == AUTHENTICATED, ours.error
        for other in (dict_flow(ids, ev), ours_flow(STOCK_ENGINE, ids, ev)):
            assert other.ok, other.error
            assert other.flow.to_json() == ours.flow.to_json()
            assert [(e.kind, e.model_dump()) for e in other.effects] == [
                (e.kind, e.model_dump()) for e in ours.effects
            ]
        # And each intermediate step of the dict table matches ours.
        a = ENGINE.start(ids.flow_id, ev.primary)
        b = dict_handle(Flow(flow_id=ids.flow_id), ev.primary)
        for nxt in (ev.chosen, ev.sent, ev.verified):
            assert a.flow == b.flow and a.effects == b.effects
            a, b = ENGINE.handle(a.flow, nxt), dict_handle(b.flow, nxt)
        assert a.flow == b.flow and a.effects == b.effects
        assert transitions_per_flow(ids, ev).state == AUTHENTICATED
        assert psm_per_flow(ids, ev).authenticated.is_active


# ------------------------------------------------------------------ timing


@dataclass
class Bench:
    key: str
    label: str
    run: Callable[[int], None]
    n: int
    unit_ops: int = 1  # operations per call of the loop body (events per flow, …)
    seconds: list[float] = field(default_factory=list)  # wall clock per iteration, per round
    cpu_seconds: list[float] = field(default_factory=list)  # this thread's CPU time, likewise

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def run_rounds(benches: Sequence[Bench], rounds: int, log: Callable[[str], None]) -> None:
    for b in benches:  # warm-up: caches, pydantic schemas, branch predictors
        b.run(max(50, b.n // 20))
    for r in range(rounds):
        k = r % len(benches)  # rotate the order: no benchmark always runs first or last
        for b in [*benches[k:], *benches[:k]]:
            gc.collect()
            c0, t0 = time.thread_time(), time.perf_counter()
            b.run(b.n)
            t1, c1 = time.perf_counter(), time.thread_time()
            b.seconds.append((t1 - t0) / b.n)
            b.cpu_seconds.append((c1 - c0) / b.n)
        log(f"  round {r + 1}/{rounds} done")


def ratio_stats(num: Bench, den: Bench) -> tuple[float, float, float, float]:
    """Ratio of wall-clock medians, the range of the per-round ratios (same-round pairs),
    and the ratio of the CPU-time medians."""
    per_round = [a / b for a, b in zip(num.seconds, den.seconds, strict=True)]
    cpu = statistics.median(num.cpu_seconds) / statistics.median(den.cpu_seconds)
    return num.median / den.median, min(per_round), max(per_round), cpu


# ------------------------------------------------------------------ memory and size


def in_flight(ids: Ids) -> Flow:
    ev = events_for(ids)
    step = ENGINE.start(ids.flow_id, ev.primary)
    step = ENGINE.handle(step.flow, ev.chosen)
    return ENGINE.handle(step.flow, ev.sent).flow


def memory_per_flow(n: int) -> float:
    """Bytes per in-flight flow (waiting in enrolling_sms), ids included, by tracemalloc."""
    in_flight(new_ids())  # warm every cache first
    keep: list[Flow | None] = [None] * n
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        keep[i] = in_flight(new_ids())  # fresh id strings: a stored flow owns them
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert all(f is not None and f.state == ENROLLING_SMS for f in keep)
    return (after - before) / n


def json_sizes() -> tuple[int, int]:
    ids = new_ids()
    live = in_flight(ids)
    done = ENGINE.handle(live, events_for(ids).verified).flow
    assert live.state == ENROLLING_SMS and done.state == AUTHENTICATED
    return len(live.to_json().encode()), len(done.to_json().encode())


# ------------------------------------------------------------------ report


@dataclass
class Target:
    name: str
    measured: float
    limit: float
    higher_is_better: bool
    unit: str

    @property
    def passed(self) -> bool:
        if self.higher_is_better:
            return self.measured >= self.limit
        return self.measured <= self.limit

    def margin(self) -> str:
        good, bad = (
            (self.measured, self.limit) if self.higher_is_better else (self.limit, self.measured)
        )
        factor = good / bad
        if self.passed:
            return f"PASS ({factor:.2f}x the target)"
        return f"MISS (needs {1 / factor:.2f}x better)"


ENGINE_MODULES = (
    "__init__",
    "_effects",
    "_engine",
    "_errors",
    "_events",
    "_flow",
    "_guards",
    "_policy",
    "_table",
    "_types",
)


def source_digest() -> str:
    """A short digest of the core's sources, to tell which engine a result belongs to."""
    h = hashlib.sha256()
    root = Path(mfa_fsm.__file__).parent
    for name in ENGINE_MODULES:
        h.update(name.encode() + b"\0" + (root / f"{name}.py").read_bytes())
    return h.hexdigest()[:12]


SOURCE_DIGEST = source_digest()  # taken at import time: the code this run actually runs


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "platform": platform.platform(),
        "mfa_fsm": getattr(mfa_fsm, "__version__", "dev"),
        "mfa_fsm_source_sha256": SOURCE_DIGEST,
        "pydantic": pydantic.VERSION,
        "transitions": transitions.__version__,
        "python-statemachine": statemachine.__version__,
    }


def fmt_time(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:,.2f} µs" if us < 100 else f"{us:,.1f} µs"


def fmt_range(values: Sequence[float], scale: float = 1e6, digits: int = 2) -> str:
    return f"{min(values) * scale:,.{digits}f}-{max(values) * scale:,.{digits}f}"


class Printer:
    """rich when installed, plain aligned text otherwise."""

    def __init__(self) -> None:
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            self.console: Any = None
            self.table_cls: Any = None
        else:
            self.console = Console(width=None if sys.stdout.isatty() else 160)
            self.table_cls = Table

    def line(self, text: str = "") -> None:
        if self.console is not None:
            self.console.print(text, markup=False, highlight=False)
        else:
            print(text)

    def table(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        if self.table_cls is not None:
            t = self.table_cls(title=title, title_justify="left")
            for i, h in enumerate(headers):
                t.add_column(h, justify="left" if i == 0 else "right", overflow="fold")
            for row in rows:
                t.add_row(*row)
            self.console.print(t)
            return
        widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
        print(title)
        print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
        print("  ".join("-" * w for w in widths))
        for row in rows:
            print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))
        print()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer iterations and rounds")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)

    out = Printer()
    quick: bool = args.quick
    div = 10 if quick else 1
    rounds = 3 if quick else 9
    mem_n = 1_000 if quick else 10_000

    check_equivalence()
    info = machine_info()
    out.line(
        f"mfa-fsm core benchmarks — Python {info['python']} on {info['cpu']} "
        f"({info['cpus']} CPUs), pydantic {info['pydantic']}, transitions {info['transitions']}, "
        f"python-statemachine {info['python-statemachine']}; "
        f"{'quick' if quick else 'full'} mode, {rounds} interleaved rounds; "
        f"mfa_fsm sources sha256 {info['mfa_fsm_source_sha256']}"
    )

    flows = [
        Bench("ours", "ours: Engine, events built in loop", run_ours, 12_000 // div, 4),
        Bench(
            "ours_prebuilt", "ours: Engine, pre-built events", run_ours_prebuilt, 12_000 // div, 4
        ),
        Bench("events_only", "building the 4 events alone", run_events_only, 30_000 // div, 4),
        Bench("dict", "dict table, events built in loop", run_dict, 12_000 // div, 4),
        Bench("dict_prebuilt", "dict table, pre-built events", run_dict_prebuilt, 12_000 // div, 4),
        Bench(
            "transitions_per_flow",
            "transitions.Machine per flow (small graph)",
            run_transitions_per_flow,
            2_000 // div,
            4,
        ),
        Bench(
            "stock_static_engine",
            "Engine on stock transitions trigger (static)",
            run_stock_engine,
            6_000 // div,
            4,
        ),
        Bench("psm_per_flow", "python-statemachine per flow", run_psm, 1_500 // div, 4),
    ]
    micro = [
        Bench("lean_trigger", "_LeanEvent.trigger (SmsSent)", run_lean_trigger, 80_000 // div),
        Bench("stock_trigger", "stock Event.trigger (SmsSent)", run_stock_trigger, 30_000 // div),
        Bench(
            "full_machine_build",
            f"transitions.Machine(full TABLE, {len(table.TABLE)} rows) build",
            run_full_machine_build,
            200 // div,
        ),
    ]
    load_before = os.getloadavg()
    out.line("timing…")
    run_rounds(flows + micro, rounds, out.line)
    load_after = os.getloadavg()
    info["loadavg_1min_before"] = f"{load_before[0]:.2f}"
    info["loadavg_1min_after"] = f"{load_after[0]:.2f}"
    out.line(
        f"1-minute load average: {load_before[0]:.2f} before timing, {load_after[0]:.2f} after"
        f" ({info['cpus']} CPUs; other processes share them)"
    )
    by = {b.key: b for b in flows + micro}

    out.line("memory…")
    mem = memory_per_flow(mem_n)
    live_json, done_json = json_sizes()

    rows: list[list[str]] = []
    for b in flows:
        rows.append(
            [
                b.label,
                f"{1 / b.median:,.0f}",
                f"{1 / max(b.seconds):,.0f}-{1 / min(b.seconds):,.0f}",
                fmt_time(b.median),
                fmt_range(b.seconds),
                fmt_time(b.median / b.unit_ops),
                fmt_time(statistics.median(b.cpu_seconds)),
            ]
        )
    out.table(
        "Complete flows (4 events each), one core; wall clock (perf_counter) unless marked CPU"
        " (thread CPU time, median: shows contention from other processes)",
        [
            "benchmark",
            "flows/s (median)",
            "flows/s min-max",
            "µs/flow",
            "µs/flow min-max",
            "µs/event",
            "CPU µs/flow",
        ],
        rows,
    )
    out.table(
        "Single calls",
        ["benchmark", "calls/s (median)", "µs/call", "µs/call min-max"],
        [
            [b.label, f"{1 / b.median:,.0f}", fmt_time(b.median), fmt_range(b.seconds)]
            for b in micro
        ],
    )

    ratios: dict[str, tuple[float, float, float, float]] = {
        "ours_vs_dict_per_event_prebuilt": ratio_stats(by["ours_prebuilt"], by["dict_prebuilt"]),
        "ours_vs_dict_per_event_in_loop": ratio_stats(by["ours"], by["dict"]),
        "transitions_per_flow_vs_ours": ratio_stats(by["transitions_per_flow"], by["ours"]),
        "stock_static_engine_vs_ours": ratio_stats(by["stock_static_engine"], by["ours"]),
        "stock_trigger_vs_lean_trigger": ratio_stats(by["stock_trigger"], by["lean_trigger"]),
        "psm_per_flow_vs_ours": ratio_stats(by["psm_per_flow"], by["ours"]),
        "full_machine_build_vs_ours": ratio_stats(by["full_machine_build"], by["ours"]),
    }
    ratio_labels = {
        "ours_vs_dict_per_event_prebuilt": "ours ÷ dict table, per event (pre-built events)",
        "ours_vs_dict_per_event_in_loop": "ours ÷ dict table, per event (events built in loop)",
        "transitions_per_flow_vs_ours": "transitions.Machine per flow ÷ ours, per flow",
        "stock_static_engine_vs_ours": "Engine on stock trigger ÷ ours, per flow",
        "stock_trigger_vs_lean_trigger": "stock Event.trigger ÷ _LeanEvent.trigger, per call",
        "psm_per_flow_vs_ours": "python-statemachine per flow ÷ ours, per flow",
        "full_machine_build_vs_ours": "building a full-TABLE Machine alone ÷ ours, per flow",
    }
    out.table(
        "Ratios (wall-clock median ÷ median; range of the same-round ratios; CPU-time medians)",
        ["comparison", "ratio", "per-round min-max", "CPU-time ratio"],
        [
            [ratio_labels[k], f"{m:.2f}x", f"{lo:.2f}-{hi:.2f}x", f"{c:.2f}x"]
            for k, (m, lo, hi, c) in ratios.items()
        ],
    )
    out.table(
        "Memory and size",
        ["measurement", "value"],
        [
            [f"memory per in-flight flow (tracemalloc, N={mem_n:,})", f"{mem:,.0f} B"],
            ["JSON of an in-flight flow (enrolling_sms)", f"{live_json} B"],
            ["JSON of a finished flow (authenticated)", f"{done_json} B"],
        ],
    )

    targets = [
        Target(
            "flows/s on one core (events built in loop)",
            1 / by["ours"].median,
            40_000,
            True,
            "flows/s",
        ),
        Target(
            "ours ÷ dict table per event (pre-built events)",
            ratios["ours_vs_dict_per_event_prebuilt"][0],
            20.0,
            False,
            "x",
        ),
        Target(
            "transitions.Machine per flow ÷ ours",
            ratios["transitions_per_flow_vs_ours"][0],
            10.0,
            True,
            "x",
        ),
        Target("memory per in-flight flow", mem, 2048, False, "B"),
        Target("JSON of an in-flight flow", live_json, 600, False, "B"),
        Target("JSON of a finished flow", done_json, 600, False, "B"),
    ]

    def show(v: float, unit: str) -> str:
        if unit == "x":
            return f"{v:.2f}x"
        if unit == "B":
            return f"{v:,.0f} B"
        return f"{v:,.0f} {unit}"

    out.table(
        "Targets",
        ["target", "measured", "limit", "verdict"],
        [
            [
                t.name,
                show(t.measured, t.unit),
                ("≥ " if t.higher_is_better else "≤ ") + show(t.limit, t.unit),
                t.margin(),
            ]
            for t in targets
        ],
    )

    if args.json:
        doc = {
            "mode": "quick" if quick else "full",
            "rounds": rounds,
            "machine": info,
            "flows": {
                b.key: {
                    "label": b.label,
                    "n_per_round": b.n,
                    "events_per_flow": b.unit_ops,
                    "seconds_per_flow": b.seconds,
                    "cpu_seconds_per_flow": b.cpu_seconds,
                    "median_seconds_per_flow": b.median,
                    "median_flows_per_second": 1 / b.median,
                    "median_us_per_event": b.median / b.unit_ops * 1e6,
                }
                for b in flows
            },
            "calls": {
                b.key: {
                    "label": b.label,
                    "n_per_round": b.n,
                    "seconds_per_call": b.seconds,
                    "cpu_seconds_per_call": b.cpu_seconds,
                    "median_us_per_call": b.median * 1e6,
                }
                for b in micro
            },
            "ratios": {
                k: {"label": ratio_labels[k], "median": m, "min": lo, "max": hi, "cpu_median": c}
                for k, (m, lo, hi, c) in ratios.items()
            },
            "memory_bytes_per_in_flight_flow": mem,
            "memory_n": mem_n,
            "json_bytes_in_flight": live_json,
            "json_bytes_finished": done_json,
            "targets": [
                {
                    "name": t.name,
                    "measured": t.measured,
                    "limit": t.limit,
                    "higher_is_better": t.higher_is_better,
                    "passed": t.passed,
                    "verdict": t.margin(),
                }
                for t in targets
            ],
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
        out.line(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
