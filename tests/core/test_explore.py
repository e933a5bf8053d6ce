"""The exhaustive checker: clean on the real table, loud and precise on broken ones."""

from __future__ import annotations

import ast
import inspect
import json
from collections import Counter
from pathlib import Path

import pytest

from mfa_fsm import Engine, Flow, Intent, Method, MfaMethods, MfaPolicy, OrgPolicy, _table
from mfa_fsm import _explore as X
from mfa_fsm._explore import (
    Report,
    builtin_configs,
    configs_for,
    edges_for_policy,
    explore,
    format_trace,
    org_policies,
)
from tests.cli import rules_fixtures as R

SMS_ONLY = (Method.SMS_OTP,)


@pytest.fixture(scope="module")
def depth4() -> Report:
    """The built-ins at a small depth, shared by the fast tests."""
    return explore(depth=4)


# ---------------------------------------------------------------- the world


def test_the_core_stays_sans_io() -> None:
    tree = ast.parse(Path(X.__file__).read_text())
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    forbidden = {"time", "os", "io", "random", "secrets", "socket", "pathlib", "datetime"}
    assert not imported & forbidden


def test_builtin_configurations_are_the_whole_product_without_duplicates() -> None:
    configs = builtin_configs()
    assert len(org_policies()) == 8
    assert len(configs) == 8 * len(X.member_states()) * 13
    assert len({c.label for c in configs}) == len(configs)
    assert len({c.start.model_dump_json() for c in configs}) == len(configs)
    policies = {
        (c.start.organization.mfa_policy, c.start.organization.allowed_mfa_methods) for c in configs
    }
    assert len(policies) == 8
    assert (MfaPolicy.OPTIONAL, (Method.SMS_OTP, Method.TOTP)) in policies
    members = [m for _, m in X.member_states()]
    assert any(m.is_breakglass for m in members)
    assert any("admin" in m.roles and not m.verified_methods for m in members)
    assert any(m.failed_attempts == 9 for m in members)
    assert any(m.locked_until for m in members)
    assert any(m.mfa_enrolled and not m.verified_methods for m in members)
    assert {m.default_mfa_method for m in members} >= {Method.SMS_OTP, Method.TOTP}
    kinds = Counter(
        (getattr(c.start, "intent", Intent.LOGIN), getattr(c.start, "unenroll_method", None))
        for c in configs_for(org_policies()[0])
    )
    per_member = len(X.member_states())
    assert kinds[(Intent.LOGIN, None)] == per_member
    for intent in (Intent.ENROLL, Intent.ADD_METHOD, Intent.STEP_UP, Intent.UNENROLL):
        assert kinds[(intent, None)] == 2 * per_member  # session with and without 2FA
    assert kinds[(Intent.UNENROLL, Method.TOTP)] == 2 * per_member


def test_the_alphabet_is_adversarial() -> None:
    config = next(c for c in builtin_configs() if "mbr-totp (" in c.label and "login" in c.label)
    flow = Engine().start("f", config.start).flow
    assert flow.state == "challenged"
    labels = [label for label, _ in X.alphabet(flow, X.T0, config.start)]
    for expected in (
        "factor_verified totp (enrolled)",
        "factor_verified (wrong factor id)",
        "factor_verified sms (TOTP id)",
        "factor_verified naming another organization",
        "factor_verified naming another member",
        "primary_authenticated (replayed)",
        "time_passed (to IST expiry)",
        "factor_verified totp (enrolled) at IST expiry",
        "sms_sent (pending phone, 2 min code) at IST expiry",
    ):
        assert expected in labels
    late = [label for label in labels if label.endswith("at IST expiry")]
    assert len(late) == len(X._LATE_KINDS)
    assert len(labels) == len(set(labels))


# ---------------------------------------------------------------- the real table is clean


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_shallow_depths_never_invent_dead_ends(depth: int) -> None:
    report = explore(depth=depth)
    assert report.ok, report.to_dict()["dead_ends"]


def test_builtins_are_clean_at_a_small_depth_and_take_every_row(depth4: Report) -> None:
    assert depth4.ok
    assert depth4.violation is None and depth4.dead_ends == 0
    assert depth4.configurations == len(builtin_configs())
    assert depth4.states > depth4.configurations
    assert depth4.transitions > depth4.states
    assert depth4.edges == {(r.source, r.event, r.dest) for r in _table.TABLE}
    assert depth4.unexercised == []


@pytest.mark.slow
def test_builtins_are_clean_at_depth_8() -> None:
    report = explore(depth=8)
    assert report.ok, report.violation and format_trace(report.violation.trace)
    assert report.configurations == len(builtin_configs())
    assert report.states > 50_000


def test_exploration_is_deterministic() -> None:
    assert explore(depth=2).to_dict() == explore(depth=2).to_dict()


def test_progress_is_reported_per_configuration() -> None:
    calls: list[tuple[int, int]] = []
    configs = builtin_configs()[:5]
    explore(depth=2, configs=configs, on_progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 5) for i in range(1, 6)]


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError):
        explore(depth=0)


# ---------------------------------------------------------------- broken tables are caught


def test_skipping_consume_ist_breaks_invariant_8_in_one_event() -> None:
    with R.broken_table(R.skip_consume_ist):
        report = explore(depth=4)
    v = report.violation
    assert v is not None and not report.ok
    assert v.numbers == (8,)
    assert len(v.trace.steps) == 1  # a login that needs no MFA: the shortest there is
    step = v.trace.steps[0]
    assert (step.source, step.dest) == ("start", "authenticated")
    assert "issue_session" in step.effects and "consume_ist" not in step.effects
    assert "IST was consumed" in v.broken[0][1]


def test_accepting_a_restricted_method_breaks_invariant_4() -> None:
    with R.broken_table(R.without_guard(_table.method_allowed)):
        report = explore(depth=4)
    v = report.violation
    assert v is not None
    assert v.numbers == (4,)
    assert [s.event.kind for s in v.trace.steps] == ["primary_authenticated", "method_chosen"]
    assert v.trace.config.startswith("REQUIRED_FOR_ALL, RESTRICTED to sms_otp | ")
    text = format_trace(v.trace, v.broken)
    assert "1. t+0s  primary_authenticated (start): start -> primary_done" in text
    assert "broken: invariant 4: " in text


def test_enrolling_without_proof_breaks_invariant_2_with_a_shortest_trace() -> None:
    with R.broken_table(R.without_guard(_table.verified_pending)):
        report = explore(depth=5)
        shorter = explore(depth=3)
    v = report.violation
    assert v is not None
    assert v.numbers == (2,)
    steps = v.trace.steps
    assert len(steps) == 4
    assert steps[-1].event.kind == "factor_verified" and steps[-1].dest == "authenticated"
    assert "record_enrollment" in steps[-1].effects
    assert shorter.violation is None  # nothing shorter exists: BFS found the shortest


def test_adding_a_factor_from_a_single_factor_session_breaks_invariant_3() -> None:
    with R.broken_table(R.without_guard(_table.may_add_factor)):
        report = explore(depth=3)
    assert report.violation is not None
    assert report.violation.numbers == (3,)
    assert "session without 2FA" in report.violation.trace.config


def test_a_crashing_rule_is_reported_not_raised() -> None:
    report = explore(depth=3, rules=[R.returns_garbage])
    v = report.violation
    assert v is not None
    assert v.numbers == (0,)
    assert "RuleError" in v.broken[0][1]
    assert len(v.trace.steps) == 1
    assert "crashed:" in format_trace(v.trace, v.broken)


def test_a_violation_report_is_json() -> None:
    with R.broken_table(R.skip_consume_ist):
        report = explore(depth=3)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False
    assert data["violation"]["invariants"][0]["number"] == 8
    step = data["violation"]["trace"]["steps"][0]
    assert step["kind"] == "primary_authenticated" and step["dest"] == "authenticated"
    assert step["effects"][0] == "issue_session"


# ---------------------------------------------------------------- custom rules and dead ends


def _sms_only_admin_configs() -> set[str]:
    """Where "admins must use TOTP" leaves nothing: an admin who must enroll, SMS-only org."""
    out = set()
    for c in builtin_configs():
        org, member = c.start.organization, c.start.member
        intent = getattr(c.start, "intent", Intent.LOGIN)
        if (
            "admin" in member.roles
            and org.mfa_methods is MfaMethods.RESTRICTED
            and org.allowed_mfa_methods == SMS_ONLY
            and intent in (Intent.LOGIN, Intent.ENROLL, Intent.ADD_METHOD)
        ):
            out.add(c.label)
    return out


def test_a_rule_demanding_a_forbidden_method_is_a_dead_end() -> None:
    org = OrgPolicy(
        organization_id=X.ORG_ID,
        mfa_policy=MfaPolicy.REQUIRED_FOR_ALL,
        mfa_methods=MfaMethods.RESTRICTED,
        allowed_mfa_methods=SMS_ONLY,
    )
    configs = [c for c in configs_for(org) if "mbr-admin" in c.label and c.label.endswith("login")]
    report = explore(depth=5, rules=[R.admins_must_use_totp], configs=configs)
    assert not report.ok and report.violation is None
    assert report.dead_end_configs == [configs[0].label]
    trace = report.dead_end
    assert trace is not None
    assert [(s.source, s.dest) for s in trace.steps] == [("start", "primary_done")]
    assert report.to_dict()["dead_ends"]["count"] == report.dead_ends >= 1
    # The same admin without the rule enrolls by SMS: no dead end.
    assert explore(depth=5, configs=configs).ok


def test_the_naive_admin_rule_on_builtins_dead_ends_exactly_in_sms_only_orgs() -> None:
    report = explore(depth=4, rules=[R.admins_must_use_totp])
    assert report.violation is None
    assert set(report.dead_end_configs) == _sms_only_admin_configs()
    assert len(report.dead_end_configs) == 10  # 2 policies x (login, enroll x2, add x2)


def test_a_well_behaved_rule_is_clean_on_builtins() -> None:
    report = explore(depth=4, rules=R.RULES)
    assert report.ok
    assert report.rules == ("admins_use_totp_where_allowed", "no_opinion")


# ---------------------------------------------------------------- per-policy edges


def test_edges_for_policy_keeps_its_signature() -> None:
    params = inspect.signature(edges_for_policy).parameters
    assert list(params) == ["org", "depth", "rules"]
    assert params["depth"].default == 6 and tuple(params["rules"].default) == ()


def test_edges_for_policy_shows_what_each_policy_allows() -> None:
    table = {(r.source, r.event, r.dest) for r in _table.TABLE}
    optional = edges_for_policy(OrgPolicy(organization_id=X.ORG_ID), depth=4)
    required = edges_for_policy(
        OrgPolicy(organization_id=X.ORG_ID, mfa_policy=MfaPolicy.REQUIRED_FOR_ALL), depth=4
    )
    skip_mfa = ("start", "primary_authenticated", "authenticated")
    assert optional <= table and required <= table
    assert skip_mfa in optional
    assert skip_mfa not in required
    assert ("enrolling_sms", "factor_verified", "authenticated") in required


def test_terminal_flows_are_keyed_without_time() -> None:
    flow = Flow(flow_id="a", state="failed", expires_at=X.T0 + 600, started_at=X.T0)
    later = flow.replace(flow_id="b", expires_at=X.T0 + 900)
    assert X._key(flow, X.T0) == X._key(later, X.T0 + 300)
    live = flow.replace(state="challenged")
    assert X._key(live, X.T0) != X._key(live, X.T0 + 120)
