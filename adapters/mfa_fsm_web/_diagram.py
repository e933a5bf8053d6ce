"""The flow diagram every page shows, drawn server-side from the engine's own table.

`mfa_fsm.diagrams.extract()` gives the states and edges the running machine has; this
module lays them out on a fixed grid as inline SVG (no Graphviz, no JavaScript) with the
member's current state highlighted, plus the same facts as an ordered list for screen
readers and text browsers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from html import escape

from mfa_fsm.diagrams import ANY_EVENT, extract

WIDTH, HEIGHT = 770, 320
BOX_W, BOX_H = 136, 38

# A fixed layout with no edge through a box (found by search, then kept for stable pages).
POSITIONS: dict[str, tuple[float, float]] = {
    "start": (80, 160),
    "challenged": (260, 90),
    "primary_done": (260, 250),
    "enrolling_totp": (490, 60),
    "enrolling_sms": (450, 280),
    "authenticated": (690, 100),
    "failed": (690, 220),
}

MEANINGS: dict[str, str] = {
    "start": "Before the first factor: sign in with a password or an email link.",
    "primary_done": "First factor checked; choose a second-factor method to enroll.",
    "enrolling_sms": "A code was texted to the new phone number; waiting for it.",
    "enrolling_totp": "An authenticator app is being set up; waiting for its first code.",
    "challenged": "Enrolled member; waiting for a code from an enrolled method.",
    "authenticated": "A session was issued with its authentication factors.",
    "failed": "The flow ended: expired, locked out, aborted or refused.",
}


@dataclass(frozen=True)
class StateItem:
    """One line of the accessible list: the state, what it means, where it can lead."""

    name: str
    meaning: str
    leads_to: tuple[str, ...]
    current: bool


@dataclass(frozen=True)
class FlowPicture:
    svg: str
    states: tuple[StateItem, ...]
    current: str


def _clip(cx: float, cy: float, dx: float, dy: float) -> tuple[float, float]:
    """Where a ray from a box centre in direction (dx, dy) leaves the box."""
    if dx == 0 and dy == 0:
        return cx, cy
    sx = (BOX_W / 2) / abs(dx) if dx else math.inf
    sy = (BOX_H / 2) / abs(dy) if dy else math.inf
    s = min(sx, sy)
    return cx + dx * s, cy + dy * s


def _edge_svg(source: str, dest: str, events: list[str], both_ways: bool) -> str:
    label = f"{source} to {dest}: {', '.join(events)}"
    to_failed = dest == "failed"
    style = 'class="edge edge-failed"' if to_failed else 'class="edge"'
    title = f"<title>{escape(label)}</title>"
    data = f'data-edge="{escape(source)}->{escape(dest)}"'
    if source == dest:
        x, y = POSITIONS[source]
        top = y - BOX_H / 2
        path = f"M {x - 20:.0f} {top:.0f} C {x - 30:.0f} {top - 30:.0f}, {x + 30:.0f} {top - 30:.0f}, {x + 20:.0f} {top:.0f}"  # noqa: E501
        return f'<path {data} {style} d="{path}" marker-end="url(#arrow)">{title}</path>'
    (x1, y1), (x2, y2) = POSITIONS[source], POSITIONS[dest]
    dx, dy = x2 - x1, y2 - y1
    norm = math.hypot(dx, dy)
    ox, oy = (-dy / norm * 6, dx / norm * 6) if both_ways else (0.0, 0.0)
    ax, ay = _clip(x1, y1, dx, dy)
    bx, by = _clip(x2, y2, -dx, -dy)
    return (
        f'<line {data} {style} x1="{ax + ox:.1f}" y1="{ay + oy:.1f}" x2="{bx + ox:.1f}" '
        f'y2="{by + oy:.1f}" marker-end="url(#arrow)">{title}</line>'
    )


def _node_svg(name: str, current: bool, terminal: bool) -> str:
    x, y = POSITIONS[name]
    classes = "node" + (" current" if current else "") + (" terminal" if terminal else "")
    here = ' aria-current="step"' if current else ""
    label = name.replace("_", " ")
    parts = [
        f'<g class="{classes}" data-state="{name}"{here}>',
        f"<title>{escape(name)}{' (you are here)' if current else ''}</title>",
        f'<rect x="{x - BOX_W / 2:.0f}" y="{y - BOX_H / 2:.0f}" width="{BOX_W}" '
        f'height="{BOX_H}" rx="9"/>',
        f'<text x="{x:.0f}" y="{y + 5:.0f}" text-anchor="middle">{escape(label)}</text>',
    ]
    if current:
        parts.append(
            f'<text class="here" x="{x:.0f}" y="{y + BOX_H / 2 + 15:.0f}" '
            'text-anchor="middle">you are here</text>'
        )
    parts.append("</g>")
    return "".join(parts)


@lru_cache(maxsize=16)
def picture(current: str) -> FlowPicture:
    """The diagram with `current` highlighted (any unknown name highlights nothing)."""
    d = extract()
    events: dict[tuple[str, str], list[str]] = {}
    for e in d.edges:
        name = "any event when expired" if e.event == ANY_EVENT else e.event
        found = events.setdefault((e.source, e.dest), [])
        if name not in found:
            found.append(name)
    pairs = set(events)
    edges = [
        _edge_svg(s, t, evs, (t, s) in pairs and s != t)
        for (s, t), evs in sorted(events.items(), key=lambda kv: kv[0][1] == "failed")
        if s in POSITIONS and t in POSITIONS
    ]
    terminal = set(d.terminal)
    nodes = [_node_svg(s.name, s.name == current, s.name in terminal) for s in d.states]
    title = f"Sign-in flow; current state: {current}"
    svg = (
        f'<svg class="flow" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="flow-title" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="flow-title">{escape(title)}</title>'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/>'
        "</marker></defs>" + "".join(edges) + "".join(nodes) + "</svg>"
    )
    items = tuple(
        StateItem(
            name=s.name,
            meaning=MEANINGS.get(s.name, ""),
            leads_to=tuple(sorted({t for (src, t) in pairs if src == s.name and t != s.name})),
            current=s.name == current,
        )
        for s in d.states
    )
    return FlowPicture(svg=svg, states=items, current=current)


__all__ = ["MEANINGS", "FlowPicture", "StateItem", "picture"]
