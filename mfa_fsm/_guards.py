"""The guard type and the per-step context that guards and actions see."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._effects import Effect
from ._errors import MfaError
from ._events import Event
from ._flow import Flow

if TYPE_CHECKING:
    from ._policy import Rule


@dataclass(frozen=True)
class Limits:
    """The numbers of DESIGN.md's semantics table; adapters may tighten them."""

    ist_seconds: float = 600.0
    max_code_seconds: float = 600.0
    max_failures: int = 10
    lock_seconds: float = 3600.0


class Ctx:
    """One step in progress: the flow copy being changed, the event, the effects so far."""

    __slots__ = ("effects", "error", "event", "flow", "limits", "rules")

    def __init__(self, flow: Flow, event: Event, rules: Sequence[Rule], limits: Limits) -> None:
        self.flow = flow
        self.event = event
        self.effects: list[Effect] = []
        self.rules = rules
        self.limits = limits
        self.error: MfaError | None = None


@dataclass(frozen=True, eq=False)
class Guard:
    """A named condition on a transition; `refusal` is the error when it is why an event fails."""

    label: str
    test: Callable[[Ctx], bool] = field(repr=False)
    refusal: type[MfaError]
    explains: bool = True  # False: its failing never explains why an event was refused

    def __call__(self, ctx: Ctx) -> bool:
        return self.test(ctx)

    def __invert__(self) -> Guard:
        test = self.test
        label = self.label[4:] if self.label.startswith("not ") else f"not {self.label}"
        return Guard(label, lambda ctx: not test(ctx), self.refusal, self.explains)


def guard(
    label: str, refusal: type[MfaError], explains: bool = True
) -> Callable[[Callable[[Ctx], bool]], Guard]:
    """Decorator: turn a predicate over the step context into a labelled `Guard`."""

    def wrap(test: Callable[[Ctx], bool]) -> Guard:
        return Guard(label, test, refusal, explains)

    return wrap
