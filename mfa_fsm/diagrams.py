"""Diagrams drawn from the machine that runs: extract → plain dataclasses → small renderers.

`extract()` reads the one `transitions` machine the engine triggers (or the table it is
built from), so a reviewer reads the truth, not a drawing. The many generated expiry
rows collapse into one "any event [expired]" edge per live state, and rows that share
(source, event, dest) merge into one edge whose branches keep every guard label.
`to_mermaid` and `to_dot` return strings; writing files and running Graphviz belong to
the `mfa-fsm diagram` command. `for_policy` and `policy_view` narrow a diagram to the
edges one org policy can take; `trace` marks one flow's path from its audit effects.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from transitions import Machine

from . import _table as table
from ._effects import Audit
from ._engine import machine
from ._explore import edges_for_policy
from ._policy import Rule, describe_policy
from ._types import Method, MfaMethods, MfaPolicy, OrgPolicy

__all__ = [
    "ANY_EVENT",
    "POLICIES",
    "Branch",
    "Diagram",
    "Edge",
    "Detail",
    "Note",
    "StateKind",
    "StateNode",
    "edge_label",
    "extract",
    "for_policy",
    "policy_view",
    "to_dot",
    "to_mermaid",
    "trace",
]

ANY_EVENT = "*"
"""The event of a collapsed edge that every event of its source takes (expiry)."""

EdgeKey = tuple[str, str, str]
"""(source, event kind, dest): how the explorer names an edge."""


class StateKind(StrEnum):
    """UML's three kinds, enough for this machine."""

    INITIAL = "initial"
    NORMAL = "normal"
    TERMINAL = "terminal"


@dataclass(frozen=True)
class StateNode:
    """A state and its kind, so renderers can mark where flows begin and end."""

    name: str
    kind: StateKind


@dataclass(frozen=True)
class Branch:
    """One table row behind an edge: its guards (all must pass) and its action.

    `order` is the row's rank among the rows of its (event, source), counted from 1,
    so a reviewer can see first-match precedence; 0 means "checked before every row".
    """

    guards: tuple[str, ...]
    action: str
    order: int

    @property
    def is_else(self) -> bool:
        """A guardless fallback: it fires only when no earlier row did."""
        return not self.guards and self.order > 1


@dataclass(frozen=True)
class Edge:
    """One arrow: all the rows that take `event` from `source` to `dest`.

    `covers` lists the event kinds the arrow stands for (one, or every event of the
    source for a collapsed `ANY_EVENT` edge); `steps` numbers a trace's passes over it.
    """

    source: str
    event: str
    dest: str
    branches: tuple[Branch, ...]
    covers: tuple[str, ...]
    steps: tuple[int, ...] = ()

    @property
    def key(self) -> EdgeKey:
        return (self.source, self.event, self.dest)

    @property
    def keys(self) -> frozenset[EdgeKey]:
        """Every (source, event kind, dest) this edge draws."""
        return frozenset((self.source, kind, self.dest) for kind in self.covers)

    @property
    def guard_labels(self) -> tuple[str, ...]:
        return tuple(g for b in self.branches for g in b.guards)

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(b.action for b in self.branches)


@dataclass(frozen=True)
class Note:
    """Free text, attached to a state or (state None) to the whole diagram."""

    text: str
    state: str | None = None


@dataclass(frozen=True)
class Diagram:
    """The intermediate form every renderer and view works on: plain, comparable data."""

    title: str
    states: tuple[StateNode, ...]
    edges: tuple[Edge, ...]
    notes: tuple[Note, ...] = ()

    def state(self, name: str) -> StateNode:
        for s in self.states:
            if s.name == name:
                return s
        raise ValueError(f"no state {name!r} in diagram {self.title!r}")

    @property
    def initial(self) -> str | None:
        return next((s.name for s in self.states if s.kind is StateKind.INITIAL), None)

    @property
    def terminal(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states if s.kind is StateKind.TERMINAL)


POLICIES: Mapping[str, OrgPolicy] = {
    "optional": OrgPolicy(organization_id="org-optional"),
    "optional-totp-only": OrgPolicy(
        organization_id="org-optional-totp-only",
        mfa_methods=MfaMethods.RESTRICTED,
        allowed_mfa_methods=(Method.TOTP,),
    ),
    "required-all": OrgPolicy(
        organization_id="org-required-all", mfa_policy=MfaPolicy.REQUIRED_FOR_ALL
    ),
    "required-sms-only": OrgPolicy(
        organization_id="org-required-sms-only",
        mfa_policy=MfaPolicy.REQUIRED_FOR_ALL,
        mfa_methods=MfaMethods.RESTRICTED,
        allowed_mfa_methods=(Method.SMS_OTP,),
    ),
    "required-totp-only": OrgPolicy(
        organization_id="org-required-totp-only",
        mfa_policy=MfaPolicy.REQUIRED_FOR_ALL,
        mfa_methods=MfaMethods.RESTRICTED,
        allowed_mfa_methods=(Method.TOTP,),
    ),
}
"""The built-in per-policy views, by the name their files carry."""


# ---------------------------------------------------------------- extract


class _Raw(NamedTuple):
    event: str
    source: str
    dest: str
    guards: tuple[str, ...]
    action: str
    order: int


def _name(func: Callable[..., Any]) -> str:
    return str(getattr(func, "__name__", func))


def _label(func: Callable[..., Any], target: bool = True) -> str:
    found = getattr(func, "label", None)
    label = found if isinstance(found, str) else _name(func)
    if target:
        return label
    return label[4:] if label.startswith("not ") else f"not {label}"


def _from_machine(m: Any) -> tuple[tuple[str, ...], list[_Raw]]:
    raws: list[_Raw] = []
    for event, ev in m.events.items():
        for source, transitions in ev.transitions.items():
            for order, t in enumerate(transitions, 1):
                guards = tuple(_label(c.func, c.target) for c in t.conditions)
                action = "+".join(_name(a) for a in t.after) or "-"
                raws.append(_Raw(event, source, str(t.dest), guards, action, order))
    return tuple(m.states), raws


def _from_rows(rows: Iterable[table.Row]) -> tuple[tuple[str, ...], list[_Raw]]:
    raws: list[_Raw] = []
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        order = seen[row.event, row.source] = seen.get((row.event, row.source), 0) + 1
        guards = tuple(g.label for g in row.guards)
        raws.append(_Raw(row.event, row.source, row.dest, guards, _name(row.action), order))
    return table.STATES, raws


def _collapse_expiry(raws: list[_Raw]) -> tuple[list[Edge], list[_Raw]]:
    """Fold `_table._expiry_rows` into one edge per live state, when they run first."""
    wanted: dict[tuple[str, str, tuple[str, ...], str], set[str]] = {}
    for row in table._expiry_rows():
        key = (row.source, row.dest, tuple(g.label for g in row.guards), _name(row.action))
        wanted.setdefault(key, set()).add(row.event)
    edges: list[Edge] = []
    taken: set[_Raw] = set()
    for (source, dest, guards, action), events in wanted.items():
        found = {
            r.event: r
            for r in raws
            if (r.source, r.dest, r.guards, r.action) == (source, dest, guards, action)
            and r.event in events
            and r.order == 1
        }
        if set(found) != events:
            continue  # not generated as expected: draw the rows one by one instead
        taken.update(found.values())
        branch = Branch(guards, action, 0)
        edges.append(Edge(source, ANY_EVENT, dest, (branch,), tuple(sorted(events))))
    rest = []
    for r in raws:
        if r in taken:
            continue
        shift = sum(1 for t in taken if (t.event, t.source) == (r.event, r.source))
        rest.append(r._replace(order=r.order - shift))
    return edges, rest


def _sort(edges: Iterable[Edge], states: Sequence[str]) -> tuple[Edge, ...]:
    rank = {s: i for i, s in enumerate(states)}
    return tuple(
        sorted(
            edges,
            key=lambda e: (
                rank.get(e.source, len(rank)),
                rank.get(e.dest, len(rank)),
                e.event == ANY_EVENT,
                e.event,
            ),
        )
    )


def extract(source: Machine | Sequence[table.Row] | None = None, *, title: str = "") -> Diagram:
    """The diagram of `source`: by default the engine's own machine, as it runs."""
    if source is None:
        source = machine()
    states, raws = _from_machine(source) if isinstance(source, Machine) else _from_rows(source)
    collapsed, rest = _collapse_expiry(raws)
    merged: dict[EdgeKey, list[Branch]] = {}
    for r in rest:
        merged.setdefault((r.source, r.event, r.dest), []).append(
            Branch(r.guards, r.action, r.order)
        )
    edges = [
        Edge(s, ev, d, tuple(sorted(bs, key=lambda b: b.order)), (ev,))
        for (s, ev, d), bs in merged.items()
    ]
    outgoing = {r.source for r in raws}

    def kind(state: str) -> StateKind:
        """Terminal means what runs says: no row leaves the state."""
        if state == table.INITIAL:
            return StateKind.INITIAL
        return StateKind.NORMAL if state in outgoing else StateKind.TERMINAL

    nodes = tuple(StateNode(s, kind(s)) for s in states)
    notes = (
        Note(
            "every flow event is first checked: " + ", ".join(g.label for g in table.PRECONDITIONS)
        ),
        Note("any event [expired] is tried before every other row of a live state"),
        Note("rows are tried in order, the first whose guards all pass fires"),
        Note("an event that no row takes is refused and the flow stays where it is"),
    )
    return Diagram(title or "MFA flow", nodes, _sort([*collapsed, *edges], states), notes)


# ---------------------------------------------------------------- views


def for_policy(d: Diagram, edges: Iterable[EdgeKey], *, title: str = "") -> Diagram:
    """Only the edges in `edges` (source, event kind, dest), and the states they touch."""
    keep = set(edges)
    kept = tuple(e for e in d.edges if e.keys & keep)
    touched = {s for e in kept for s in (e.source, e.dest)}
    states = tuple(s for s in d.states if s.kind is StateKind.INITIAL or s.name in touched)
    return Diagram(title or d.title, states, kept, d.notes)


def policy_view(
    d: Diagram, org: OrgPolicy, *, depth: int = 6, rules: Sequence[Rule] = ()
) -> Diagram:
    """The edges an organization with this policy can take, found by the explorer."""
    edges = edges_for_policy(org, depth=depth, rules=rules)
    view = for_policy(d, edges, title=f"{d.title} — {describe_policy(org)}")
    scope = Note(
        f"edges some member (breakglass included) can take under this policy, "
        f"explored {depth} events deep"
    )
    return replace(view, notes=(*view.notes, scope))


def trace(
    d: Diagram,
    audits: Sequence[Audit],
    *,
    only_path: bool = False,
    expires_at: float | None = None,
) -> Diagram:
    """Number the edges one flow took, in order, from its audit effects.

    Refused events become notes on the state that refused them. An `aborted` event in
    a live state matches both the abort and the expiry edge; `expires_at`, when given,
    tells them apart, else the abort edge is taken.
    """
    flows = {a.flow_id for a in audits}
    if len(flows) > 1:
        raise ValueError(f"audits of several flows: {sorted(flows)}")
    steps: dict[EdgeKey, list[int]] = {}
    notes: list[Note] = []
    for n, a in enumerate(audits, 1):
        if a.decision != "accepted":
            detail = f" ({a.detail})" if a.detail else ""
            notes.append(Note(f"({n}) {a.event} refused{detail}", a.source))
            continue
        found = [e for e in d.edges if (a.source, a.event, a.dest) in e.keys]
        if not found:
            raise ValueError(f"step {n}: no edge {a.source} --{a.event}--> {a.dest}")
        expired = expires_at is not None and a.at >= expires_at
        found.sort(key=lambda e: (e.event == ANY_EVENT) != expired)
        steps.setdefault(found[0].key, []).append(n)
    edges = tuple(replace(e, steps=tuple(steps.get(e.key, ()))) for e in d.edges)
    title = f"{d.title} — trace of {next(iter(flows))}" if flows else d.title
    result = Diagram(title, d.states, edges, (*d.notes, *notes))
    if only_path:
        path = {e.key for e in edges if e.steps}
        visited = {a.source for a in audits} | {a.dest for a in audits}
        states = tuple(s for s in d.states if s.name in visited)
        result = Diagram(
            title, states, tuple(e for e in edges if e.key in path), (*d.notes, *notes)
        )
    return result


# ---------------------------------------------------------------- renderers

Detail = Literal["full", "guards", "events"]
"""How much a renderer writes on an arrow: guards and actions, guards only, or only the
events (one arrow per pair of states; small enough to embed in a README)."""


def edge_label(e: Edge, detail: Detail = "full") -> list[str]:
    """The label lines of an edge: the event, then one line per branch when several."""
    event = "any event" if e.event == ANY_EVENT else e.event
    if e.steps:
        event = " ".join(f"({n})" for n in e.steps) + " " + event
    if detail == "events":
        return [f"{event} [expired]" if e.event == ANY_EVENT else event]

    def branch(b: Branch) -> str:
        cond = "[else]" if b.is_else else f"[{' ∧ '.join(b.guards)}]" if b.guards else ""
        act = f"/ {b.action}" if detail == "full" else ""
        return " ".join(p for p in (cond, act) if p)

    parts = [p for p in (branch(b) for b in e.branches) if p]
    if len(parts) <= 1:
        return [" ".join([event, *parts])]
    return [event, *parts]


class _Arrow(NamedTuple):
    source: str
    dest: str
    edges: tuple[Edge, ...]


def _arrows(d: Diagram, detail: Detail) -> list[_Arrow]:
    """Edges grouped into drawn arrows: per state pair at "events", else one per edge.

    Mermaid and DOT pile the labels of a state's self-loops on one another, so every
    self-loop of a state is drawn as one arrow.
    """
    groups: dict[tuple[str, str, str], list[Edge]] = {}
    for e in d.edges:
        merge = detail == "events" or e.source == e.dest
        groups.setdefault((e.source, e.dest, "" if merge else e.event), []).append(e)
    return [_Arrow(source, dest, tuple(es)) for (source, dest, _), es in groups.items()]


def _check_highlight(d: Diagram, highlight: str | None) -> None:
    if highlight is not None:
        d.state(highlight)


def _visited(d: Diagram) -> set[str]:
    return {s for e in d.edges if e.steps for s in (e.source, e.dest)}


_MERMAID_UNSAFE = re.compile(r"[;:#{}<>\"]")
_MERMAID_SWAP = {":": " -", "<": "(", ">": ")"}


def _mermaid_text(text: str) -> str:
    """Mermaid ends a label at `;` and reads `#…;`, `:` and `<…>`: keep them out."""
    return _MERMAID_UNSAFE.sub(lambda m: _MERMAID_SWAP.get(m[0], ","), text)


def to_mermaid(
    d: Diagram, highlight: str | None = None, *, detail: Detail = "full", direction: str = "LR"
) -> str:
    """Mermaid `stateDiagram-v2`; `highlight` marks one state ("you are here")."""
    _check_highlight(d, highlight)
    out = ["---", f"title: {_mermaid_text(d.title)}", "---", "stateDiagram-v2"]
    out.append(f"    direction {direction}")
    out.extend(f"    %% {_mermaid_text(n.text)}" for n in d.notes if n.state is None)
    if d.initial is not None:
        out.append(f"    [*] --> {d.initial}")
    for arrow in _arrows(d, detail):
        lines = [line for e in arrow.edges for line in edge_label(e, detail)]
        label = "<br>".join(_mermaid_text(line) for line in lines)
        out.append(f"    {arrow.source} --> {arrow.dest} : {label}")
    out.extend(f"    {name} --> [*]" for name in d.terminal)
    out.extend(f"    note right of {n.state} : {_mermaid_text(n.text)}" for n in d.notes if n.state)
    order = [s.name for s in d.states]
    classes = {
        "terminal": [s.name for s in d.states if s.kind is StateKind.TERMINAL],
        "visited": sorted(_visited(d) - {highlight}, key=order.index),
        "here": [highlight] if highlight else [],
    }
    styles = {
        "terminal": "stroke-width:3px",
        "visited": "fill:#dbeafe,stroke:#1d4ed8",
        "here": "fill:#fde68a,stroke:#b45309,stroke-width:4px",
    }
    for name, members in classes.items():
        if members:
            out.append(f"    classDef {name} {styles[name]}")
            out.append(f"    class {','.join(members)} {name}")
    return "\n".join(out) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dot_label(edges: Sequence[Edge], detail: Detail) -> str:
    """Wrapped label lines, so long guard lists do not stretch the graph sideways."""
    blocks = [[w for line in edge_label(e, detail) for w in textwrap.wrap(line, 32)] for e in edges]
    gap = [""] if detail != "events" else []
    lines = [line for i, b in enumerate(blocks) for line in (gap if i else []) + b]
    return "\\n".join(_dot_text(line) for line in lines)


def to_dot(d: Diagram, highlight: str | None = None, *, detail: Detail = "full") -> str:
    """Graphviz DOT; `highlight` marks one state, a trace's path is drawn bold."""
    _check_highlight(d, highlight)
    tracing = any(e.steps for e in d.edges)
    visited = _visited(d)
    general = [n.text for n in d.notes if n.state is None]
    out = [
        "digraph mfa_flow {",
        '    graph [rankdir=LR, fontname="Helvetica", fontsize=12, labelloc=t, '
        f'label="{_dot_text(d.title)}", nodesep=0.4, ranksep=0.6];',
        '    node [shape=box, style="rounded", fontname="Helvetica", fontsize=12];',
        '    edge [fontname="Helvetica", fontsize=9];',
    ]
    if d.initial is not None:
        out.append('    "__initial__" [shape=point, width=0.15, label=""];')
        out.append(f'    "__initial__" -> "{d.initial}";')
    for s in d.states:
        attrs = [f'label="{_dot_text(s.name)}"']
        fill = ""
        if s.kind is StateKind.TERMINAL:
            attrs.append("peripheries=2")
        if s.name in visited:
            fill = "#dbeafe"
        if s.name == highlight:
            fill = "#fde68a"
            attrs.append('color="#b45309", penwidth=3')
        if fill:
            attrs.append(f'style="rounded,filled", fillcolor="{fill}"')
        out.append(f'    "{s.name}" [{", ".join(attrs)}];')
    for arrow in _arrows(d, detail):
        attrs = [f'label="{_dot_label(arrow.edges, detail)}"']
        if all(e.event == ANY_EVENT for e in arrow.edges):
            attrs.append("style=dashed")
        if any(e.steps for e in arrow.edges):
            attrs.append('color="#b45309", fontcolor="#b45309", penwidth=2.5')
        elif tracing:
            attrs.append('color="#9ca3af", fontcolor="#9ca3af"')
        out.append(f'    "{arrow.source}" -> "{arrow.dest}" [{", ".join(attrs)}];')
    for i, n in enumerate(x for x in d.notes if x.state is not None):
        out.append(f'    "__note{i}__" [shape=note, fontsize=9, label="{_dot_text(n.text)}"];')
        out.append(f'    "__note{i}__" -> "{n.state}" [style=dotted, arrowhead=none];')
    if general:
        legend = "\\l".join(_dot_text(t) for t in general) + "\\l"
        out.append(f'    "__legend__" [shape=plaintext, fontsize=9, label="{legend}"];')
    out.append("}")
    return "\n".join(out) + "\n"
