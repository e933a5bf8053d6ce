"""Baselines from libraries: `transitions` (per flow and static) and python-statemachine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import statemachine
import transitions
from _core_flow import (
    AUTHENTICATED,
    CHALLENGED,
    ENGINE,
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
    ours_flow,
)
from transitions import EventData, Machine

from mfa_fsm import (
    Engine,
    SmsSent,
)
from mfa_fsm import _table as table
from mfa_fsm._engine import _Refusal, machine
from mfa_fsm._guards import Ctx, Limits

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
