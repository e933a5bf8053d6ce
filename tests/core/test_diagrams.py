"""The diagram IR says exactly what the table runs; renderers and views keep it visible."""

from __future__ import annotations

import ast
import inspect

import pytest

from mfa_fsm import (
    Aborted,
    Audit,
    FactorVerified,
    MethodChosen,
    TimePassed,
    TotpRegistrationCreated,
    diagrams,
)
from mfa_fsm import _table as table
from mfa_fsm._engine import machine
from mfa_fsm._flow import TERMINAL
from mfa_fsm.diagrams import ANY_EVENT, Diagram, StateKind

from .helpers import T0, Walk, member, org

REQUIRED = {"mfa_policy": "REQUIRED_FOR_ALL"}


@pytest.fixture(scope="module")
def d() -> Diagram:
    return diagrams.extract()


def edge_for(d: Diagram, source: str, event: str, dest: str) -> diagrams.Edge:
    found = [e for e in d.edges if (source, event, dest) in e.keys]
    assert len(found) == 1, (source, event, dest, found)
    return found[0]


def totp_enrollment() -> tuple[Walk, list[Audit]]:
    """Required MFA, new member: TOTP enrollment, with one refused event on the way."""
    w = Walk()
    w.login(org(**REQUIRED), member())
    w.ev(MethodChosen, method="totp")
    w.ev(TotpRegistrationCreated, totp_registration_id="reg-1", registration_expires_at=T0 + 900)
    w.ev(FactorVerified, method="totp", factor_id="someone-elses-registration")
    w.ev(FactorVerified, method="totp", factor_id="reg-1")
    assert w.flow.state == "authenticated"
    return w, [a for s in w.steps for a in s.of(Audit)]


# ---------------------------------------------------------------- faithful to the table


def test_every_table_row_is_an_edge_and_no_edge_is_invented(d: Diagram) -> None:
    rows = {(r.source, r.event, r.dest) for r in table.TABLE}
    drawn = {k for e in d.edges for k in e.keys}
    assert drawn == rows


def test_every_guard_label_and_action_of_a_row_is_on_its_edge(d: Diagram) -> None:
    for row in table.TABLE:
        labels = tuple(g.label for g in row.guards)
        branches = [
            b for e in d.edges if (row.source, row.event, row.dest) in e.keys for b in e.branches
        ]
        assert (labels, row.action.__name__) in [(b.guards, b.action) for b in branches], row


def test_the_machine_that_runs_draws_the_same_as_the_table(d: Diagram) -> None:
    assert diagrams.extract(machine()) == d
    assert diagrams.extract(table.TABLE) == d


def test_expiry_rows_collapse_to_one_dashed_edge_per_live_state(d: Diagram) -> None:
    expiry = [e for e in d.edges if e.event == ANY_EVENT]
    assert sorted(e.source for e in expiry) == sorted(table.LIVE)
    for e in expiry:
        assert e.dest == "failed"
        assert set(e.covers) == set(table.FLOW_EVENT_KINDS)
        assert e.branches == (diagrams.Branch(("expired",), "fail_expired", 0),)
    others = [e for e in d.edges if e.event != ANY_EVENT]
    assert all("expired" not in e.guard_labels for e in others)
    assert len(d.edges) < len(table.TABLE) - len(table._expiry_rows()) + len(table.LIVE)


def test_parallel_rows_merge_into_one_edge_in_table_order(d: Diagram) -> None:
    e = edge_for(d, "start", "session_presented", "failed")
    assert [b.action for b in e.branches] == ["fail_locked", "fail_refused", "fail_refused"]
    assert [b.order for b in e.branches] == sorted(b.order for b in e.branches)
    assert e.branches[-1].is_else
    label = diagrams.edge_label(e)
    assert label[0] == "session_presented"
    assert "[else] / fail_refused" in label
    assert "[member locked] / fail_locked" in label


def test_guardless_fallback_after_other_rows_reads_else(d: Diagram) -> None:
    e = edge_for(d, "start", "primary_authenticated", "primary_done")
    assert e.branches[0].is_else
    assert diagrams.edge_label(e) == ["primary_authenticated [else] / enter_or_wait"]
    tick = edge_for(d, "primary_done", "time_passed", "primary_done")
    assert not tick.branches[0].is_else  # only the expiry row, drawn apart, comes first


def test_state_kinds(d: Diagram) -> None:
    assert [s.name for s in d.states] == list(table.STATES)
    assert d.initial == table.INITIAL == "start"
    assert set(d.terminal) == set(TERMINAL)
    normal = {s.name for s in d.states if s.kind is StateKind.NORMAL}
    assert normal == set(table.STATES) - TERMINAL - {table.INITIAL}


def test_edges_are_sorted_so_output_is_stable(d: Diagram) -> None:
    rank = {s: i for i, s in enumerate(table.STATES)}
    keys = [(rank[e.source], rank[e.dest]) for e in d.edges]
    assert keys == sorted(keys)
    assert diagrams.to_mermaid(d) == diagrams.to_mermaid(diagrams.extract())


def test_diagrams_module_is_sans_io() -> None:
    tree = ast.parse(inspect.getsource(diagrams))
    names = {
        a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    names |= {
        (n.module or "").split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.level == 0
    }
    forbidden = {"os", "io", "pathlib", "subprocess", "shutil", "time", "datetime", "socket"}
    assert not names & forbidden


# ---------------------------------------------------------------- renderers


def test_mermaid_marks_initial_and_terminal_and_draws_every_edge(d: Diagram) -> None:
    text = diagrams.to_mermaid(d)
    lines = text.splitlines()
    assert "stateDiagram-v2" in lines
    assert "    [*] --> start" in lines
    assert "    authenticated --> [*]" in lines
    assert "    failed --> [*]" in lines
    assert "    class authenticated,failed terminal" in lines
    arrows = {ln.split(" : ")[0].strip() for ln in lines if " --> " in ln and " : " in ln}
    assert arrows == {f"{e.source} --> {e.dest}" for e in d.edges}
    for e in d.edges:
        for g in e.guard_labels:
            assert g in text
    assert "any event [expired] / fail_expired" in text


def test_mermaid_labels_avoid_characters_that_break_it(d: Diagram) -> None:
    for line in diagrams.to_mermaid(d).splitlines():
        if " --> " in line and " : " in line:
            label = line.split(" : ", 1)[1]
            assert not set(label) & set(';#{}:"'), line
            assert label.replace("<br>", "").count("<") == 0, line


def test_dot_marks_initial_and_terminal_and_draws_every_edge(d: Diagram) -> None:
    text = diagrams.to_dot(d)
    assert text.startswith("digraph mfa_flow {")
    assert '"__initial__" -> "start";' in text
    for name in TERMINAL:
        assert f'"{name}" [label="{name}", peripheries=2];' in text
    for e in d.edges:
        assert f'"{e.source}" -> "{e.dest}"' in text
    assert "style=dashed" in text  # the expiry edges


def test_summary_detail_is_one_arrow_per_pair_of_states(d: Diagram) -> None:
    text = diagrams.to_mermaid(d, detail="events")
    arrows = [ln for ln in text.splitlines() if " --> " in ln and " : " in ln]
    assert len(arrows) == len({(e.source, e.dest) for e in d.edges})
    assert "/ " not in text and "∧" not in text
    assert "any event [expired]" in text


def test_highlight_marks_one_state(d: Diagram) -> None:
    mmd = diagrams.to_mermaid(d, highlight="challenged")
    assert "    class challenged here" in mmd
    assert "classDef here" not in diagrams.to_mermaid(d)
    dot = diagrams.to_dot(d, highlight="challenged")
    line = next(ln for ln in dot.splitlines() if ln.startswith('    "challenged" ['))
    assert 'fillcolor="#fde68a"' in line
    assert dot.count('fillcolor="#fde68a"') == 1
    with pytest.raises(ValueError, match="no state"):
        diagrams.to_mermaid(d, highlight="nowhere")


# ---------------------------------------------------------------- views


def test_for_policy_keeps_only_the_given_edges(d: Diagram) -> None:
    edges = {
        ("start", "primary_authenticated", "challenged"),
        ("challenged", "factor_verified", "authenticated"),
        ("challenged", "time_passed", "failed"),  # taken by the expiry edge
    }
    v = diagrams.for_policy(d, edges, title="hand-made")
    assert v.title == "hand-made"
    assert {e.key for e in v.edges} == {
        ("start", "primary_authenticated", "challenged"),
        ("challenged", "factor_verified", "authenticated"),
        ("challenged", ANY_EVENT, "failed"),
    }
    assert [s.name for s in v.states] == ["start", "challenged", "authenticated", "failed"]
    text = diagrams.to_mermaid(v)
    assert "enrolling_sms" not in text and "primary_done" not in text
    assert "session_presented" not in text
    assert len(v.edges) < len(d.edges)


def test_for_policy_with_no_edges_keeps_only_the_initial_state(d: Diagram) -> None:
    v = diagrams.for_policy(d, set())
    assert v.edges == ()
    assert [s.name for s in v.states] == ["start"]


def test_policy_view_uses_the_explorer(d: Diagram) -> None:
    skip = ("start", "primary_authenticated", "authenticated")
    required = diagrams.policy_view(d, diagrams.POLICIES["required-all"], depth=2)
    optional = diagrams.policy_view(d, diagrams.POLICIES["optional"], depth=2)
    assert skip not in {k for e in required.edges for k in e.keys}
    assert skip in {k for e in optional.edges for k in e.keys}
    assert "REQUIRED_FOR_ALL" in required.title


# ---------------------------------------------------------------- trace


def test_trace_numbers_the_path_and_notes_refusals(d: Diagram) -> None:
    _, audits = totp_enrollment()
    t = diagrams.trace(d, audits)
    taken = {e.key: e.steps for e in t.edges if e.steps}
    assert taken == {
        ("start", "primary_authenticated", "primary_done"): (1,),
        ("primary_done", "method_chosen", "enrolling_totp"): (2,),
        ("enrolling_totp", "totp_registration_created", "enrolling_totp"): (3,),
        ("enrolling_totp", "factor_verified", "authenticated"): (5,),
    }
    assert diagrams.Note("(4) factor_verified refused (unauthorized_action)", "enrolling_totp") in (
        t.notes
    )
    assert len(t.edges) == len(d.edges)
    mmd = diagrams.to_mermaid(t, highlight="authenticated")
    assert "(2) method_chosen" in mmd
    assert "note right of enrolling_totp" in mmd
    assert "class start,primary_done,enrolling_totp visited" in mmd
    dot = diagrams.to_dot(t)
    path = [ln for ln in dot.splitlines() if "penwidth=2.5" in ln]
    assert len(path) == 4  # all four arrows taken, the loop of step 3 among them
    assert 'color="#9ca3af"' in dot  # the rest is greyed


def test_trace_only_path(d: Diagram) -> None:
    _, audits = totp_enrollment()
    t = diagrams.trace(d, audits, only_path=True)
    assert all(e.steps for e in t.edges)
    assert [s.name for s in t.states] == [
        "start",
        "primary_done",
        "enrolling_totp",
        "authenticated",
    ]


def test_trace_tells_abort_from_expiry_with_the_deadline(d: Diagram) -> None:
    w = Walk()
    w.login(org(), member(mfa_enrolled=True))
    w.send(Aborted(at=T0 + 601, organization_id=w.flow.organization_id, member_id=w.flow.member_id))
    audits = [a for s in w.steps for a in s.of(Audit)]
    plain = diagrams.trace(d, audits)
    assert [e.key for e in plain.edges if e.steps] == [
        ("start", "primary_authenticated", "primary_done"),
        ("primary_done", "aborted", "failed"),
    ]
    timed = diagrams.trace(d, audits, expires_at=T0 + 600)
    assert ("primary_done", ANY_EVENT, "failed") in [e.key for e in timed.edges if e.steps]


def test_trace_of_expiry_by_time(d: Diagram) -> None:
    w = Walk()
    w.login(org(), member(mfa_enrolled=True))
    w.send(TimePassed(at=T0 + 700))
    t = diagrams.trace(d, [a for s in w.steps for a in s.of(Audit)])
    assert ("primary_done", ANY_EVENT, "failed") in [e.key for e in t.edges if e.steps]


def test_trace_refuses_audits_the_table_cannot_explain(d: Diagram) -> None:
    _, audits = totp_enrollment()
    bogus = audits[0].model_copy(update={"dest": "authenticated", "event": "aborted"})
    with pytest.raises(ValueError, match="no edge"):
        diagrams.trace(d, [bogus])
    other = audits[1].model_copy(update={"flow_id": "another"})
    with pytest.raises(ValueError, match="several flows"):
        diagrams.trace(d, [audits[0], other])
