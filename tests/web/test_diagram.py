"""The flow picture is the engine's own table, with exactly the current state marked."""

from __future__ import annotations

import re

import pytest

from mfa_fsm.diagrams import extract
from mfa_fsm_web._diagram import POSITIONS, picture

STATES = [s.name for s in extract().states]


@pytest.mark.parametrize("current", STATES)
def test_one_state_is_highlighted_and_every_edge_is_drawn(current: str) -> None:
    pic = picture(current)
    marked = re.findall(r'<g class="node[^"]*current[^"]*" data-state="([a-z_]+)"', pic.svg)
    assert marked == [current]
    assert [item.name for item in pic.states if item.current] == [current]
    pairs = {(e.source, e.dest) for e in extract().edges}
    drawn = set(re.findall(r'data-edge="([a-z_]+)->([a-z_]+)"', pic.svg))
    assert drawn == pairs
    assert "<script" not in pic.svg and 'role="img"' in pic.svg


def test_every_state_of_the_table_has_a_place_and_a_meaning() -> None:
    assert set(STATES) == set(POSITIONS)
    assert all(item.meaning for item in picture("start").states)


def test_an_unknown_state_highlights_nothing() -> None:
    assert "current" not in "".join(re.findall(r'<g class="([^"]*)"', picture("nowhere").svg))
