"""`mfa_fsm.testing` as a user meets it: the README's example first, then the kit's promises."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, run_state_machine_as_test

from mfa_fsm import (
    Engine,
    Event,
    Intent,
    IssueSession,
    MemberFactors,
    Method,
    OrgPolicy,
    Requirement,
    Rule,
    RuleInput,
    decide,
)
from mfa_fsm.testing import (
    T0,
    MfaFlowMachine,
    custom_rules,
    flows,
    member_factors,
    org_policies,
    run_checked,
)

# ---------------------------------------------------------------- the README's example


def admins_must_use_totp(subject: RuleInput) -> Requirement | None:
    if "admin" in subject.member.roles:
        return Requirement(require_mfa=True, methods=frozenset({Method.TOTP}), reason="admins")
    return None


class AdminRules(MfaFlowMachine):
    mfa_rules = (admins_must_use_totp,)

    @invariant()
    def admins_sign_in_with_totp(self) -> None:
        if "admin" in self.flow_member.roles:
            for session in self.last_step.of(IssueSession):
                kinds = {factor.type for factor in session.authentication_factors}
                assert kinds & {"totp", "recovery_codes"}, kinds  # recovery codes back TOTP


TestAdminRules = AdminRules.TestCase


# ---------------------------------------------------------------- the kit's promises


class AdminRulesForgotten(MfaFlowMachine):
    """The same user invariant with the rule left out: the kit must catch it."""

    admins_sign_in_with_totp = AdminRules.admins_sign_in_with_totp


def test_a_user_invariant_can_fail() -> None:
    quick = settings(
        max_examples=300,
        stateful_step_count=30,
        phases=[Phase.generate],
        derandomize=True,
        database=None,
        deadline=None,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )
    with pytest.raises(AssertionError, match=r"'(password|magic_link|sso)'") as found:
        run_state_machine_as_test(AdminRulesForgotten, settings=quick)
    assert type(found.value) is AssertionError  # the user's invariant, not one of the ten


@given(
    org=org_policies(),
    member=member_factors(),
    intent=st.sampled_from(Intent),
    at=st.sampled_from([T0 - 60.0, T0, T0 + 86400.0]),
    attributes=st.sampled_from([{}, {"remembered_device": "true"}]),
    rules=custom_rules(),
)
def test_custom_rules_only_add_requirements(
    org: OrgPolicy,
    member: MemberFactors,
    intent: Intent,
    at: float,
    attributes: dict[str, str],
    rules: tuple[Rule, ...],
) -> None:
    subject = RuleInput(org, member, intent, at, attributes)
    alone, ruled = decide(subject), decide(subject, rules)
    assert ruled.mfa_required >= alone.mfa_required
    assert ruled.allowed <= alone.allowed


@given(flow=flows(max_size=8))
def test_run_checked_returns_one_checked_step_per_event(flow: tuple[Event, list[Event]]) -> None:
    start, events = flow
    assert len(run_checked(Engine(), start, events)) == len(events) + 1
