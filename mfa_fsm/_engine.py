"""The engine: one `transitions` machine per process, driving plain `Flow` records.

`Engine.handle(flow, event)` returns a `Step` (the new flow, the effects to carry
out, and the error to report if the event was refused). The caller's flow is never
changed. Nothing here reads a clock, the disk or the network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple, cast

from pydantic import ValidationError
from transitions import Event as _TEvent
from transitions import Machine

from . import _table as table
from ._effects import Audit, Effect, make
from ._errors import FlowFinished, InvalidEvent, MfaError, StateError
from ._events import ALL_EVENTS, START_EVENTS, Event
from ._flow import TERMINAL, Flow, State
from ._guards import Ctx, Guard, Limits
from ._policy import Rule


class Step(NamedTuple):
    """The result of one event: new flow, effects in order, and the refusal if any."""

    flow: Flow
    effects: tuple[Effect, ...]
    error: MfaError | None = None
    accepted: bool = True

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_for_error(self) -> Step:
        """Raise the step's error, httpx-style; return the step when there is none."""
        if self.error is not None:
            raise self.error
        return self

    def of(self, kind: type[Effect]) -> list[Any]:
        """The effects of one kind, in order."""
        return [e for e in self.effects if isinstance(e, kind)]


_Action = Callable[[Ctx], None]


@dataclass
class _Refusal:
    depth: int = -1
    guard: Guard | None = None


class _LeanEvent(_TEvent):
    """`transitions`' event with a short trigger path for the static, shared machine.

    The stock trigger builds an EventData, logs and runs enter/exit hooks on every
    call (about 7 µs); the table declares no hooks, so this runs the same rows, in the
    same order, with the same first-match semantics, without them.
    """

    def trigger(self, model: Any, *args: Any, **kwargs: Any) -> bool:
        ctx: Ctx = model
        refusal: _Refusal = kwargs["refusal"]
        for transition in self.transitions.get(ctx.flow.state, ()):
            for depth, condition in enumerate(transition.conditions):
                guard = cast(Guard, condition.func)
                if guard.test(ctx) != condition.target:
                    if depth > refusal.depth and guard.explains:
                        refusal.depth, refusal.guard = depth, guard
                    break
            else:
                for action in transition.after:
                    cast(_Action, action)(ctx)
                ctx.flow.state = cast(str, transition.dest)
                return True
        return False


class _FlowMachine(Machine):
    event_cls = _LeanEvent


@lru_cache(maxsize=1)
def machine() -> Machine:
    """The one machine of the process, built from `_table.TABLE`."""
    m = _FlowMachine(
        model=None,
        states=list(table.STATES),
        initial=None,
        auto_transitions=False,
        send_event=True,
    )
    for row in table.TABLE:
        m.add_transition(
            row.event, row.source, row.dest, conditions=list(row.guards), after=[row.action]
        )
    return m


@dataclass
class Engine:
    """Runs flows through the table with the given custom rules and limits."""

    rules: Sequence[Rule] = ()
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        self._events = machine().events
        self._start_kinds = frozenset(e.kind for e in START_EVENTS)
        self._kinds = frozenset(e.kind for e in ALL_EVENTS)

    def start(self, flow_id: str, event: Event) -> Step:
        """Open a flow from `PrimaryAuthenticated` or `SessionPresented`."""
        return self.handle(Flow(flow_id=flow_id), event)

    def handle(self, flow: Flow, event: Event) -> Step:
        """Apply one event to a copy of `flow`."""
        kind = getattr(event, "kind", None)
        if not isinstance(event, Event) or kind not in self._kinds:
            return self._refuse(flow, event, InvalidEvent(f"not an mfa_fsm event: {event!r:.80}"))
        if flow.state in TERMINAL:
            return self._refuse(flow, event, FlowFinished(f"flow is {flow.state}"))
        starting = kind in self._start_kinds
        if starting != (flow.state == State.START.value):
            return self._refuse(flow, event, StateError(f"{kind} cannot happen in {flow.state}"))
        ctx = Ctx(flow.copy(), event, self.rules, self.limits)
        if starting:
            try:
                table.START_ACTION(ctx)
            except ValidationError as exc:
                return self._refuse(flow, event, InvalidEvent(str(exc)))
        else:
            for pre in table.PRECONDITIONS:
                if not pre(ctx):
                    return self._refuse(
                        flow, event, pre.refusal(f"{pre.refusal.__doc__} ({pre.label})")
                    )
        refusal = _Refusal()
        if not self._events[kind].trigger(ctx, refusal=refusal):
            guard = refusal.guard
            if guard is None:
                error: MfaError = StateError(f"{kind} cannot happen in {flow.state}")
            else:
                doc = (guard.refusal.__doc__ or guard.refusal.error_type).strip()
                error = guard.refusal(f"{doc} (failed: {guard.label})")
            return self._refuse(flow, event, error)
        ctx.effects.append(
            make(
                Audit,
                flow_id=flow.flow_id,
                source=flow.state,
                dest=ctx.flow.state,
                event=kind,
                decision="accepted",
                detail=ctx.error.error_type if ctx.error else "",
                at=event.at,
            )
        )
        return Step(ctx.flow, tuple(ctx.effects), ctx.error)

    def _refuse(self, flow: Flow, event: object, error: MfaError) -> Step:
        at = getattr(event, "at", 0.0)
        audit = make(
            Audit,
            flow_id=flow.flow_id,
            source=flow.state,
            dest=flow.state,
            event=str(getattr(event, "kind", type(event).__name__)),
            decision="refused",
            detail=error.error_type,
            at=at if isinstance(at, float) else 0.0,
        )
        return Step(flow, (audit,), error, accepted=False)
