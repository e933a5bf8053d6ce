"""The project's own property tests: random policies, members, rules and adversarial events.

The stateful machines run under the profile chosen in tests/conftest.py ("dev" by default,
"ci" in CI). The mutation tests prove the machine can fail: each breaks one guard or action
of the table and expects Hypothesis to find the invariant that guards it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.stateful import run_state_machine_as_test

from mfa_fsm import (
    AuthenticationFactor,
    Engine,
    Event,
    FactorRejected,
    Limits,
    MemberFactors,
    Method,
    MfaPolicy,
    OrgPolicy,
    PrimaryAuthenticated,
    Rule,
    SubjectMismatch,
    _engine,
    _table,
)
from mfa_fsm import _effects as fx
from mfa_fsm._guards import Ctx, Guard
from mfa_fsm._invariants import InvariantViolation
from mfa_fsm._table import Row
from mfa_fsm.testing import (
    MEMBER_ID,
    ORGANIZATION_ID,
    T0,
    MfaFlowMachine,
    custom_rules,
    flows,
    run_checked,
)

TIGHT = Limits(ist_seconds=180.0, max_code_seconds=60.0, max_failures=3, lock_seconds=300.0)


class ProjectMachine(MfaFlowMachine):
    """Stytch's numbers, with a random set of well-behaved custom rules per run."""

    random_mfa_rules = custom_rules()


class TightLimitsMachine(MfaFlowMachine):
    """Short lifetimes and a lockout after 3, so expiry and cross-flow lockout come often."""

    limits = TIGHT
    random_mfa_rules = custom_rules()


TestProjectMachine = ProjectMachine.TestCase
TestTightLimitsMachine = TightLimitsMachine.TestCase


@given(flow=flows(), rules=custom_rules())
def test_blind_sequences_keep_invariants(
    flow: tuple[Event, list[Event]], rules: tuple[Rule, ...]
) -> None:
    start, events = flow
    run_checked(Engine(rules=rules), start, events)


# ---------------------------------------------------------------- the tests can fail


@contextmanager
def broken_table(edit: Callable[[Row], Row | None]) -> Iterator[None]:
    """Run with a table whose rows went through `edit` (None drops a row); then restore."""
    original = _table.TABLE
    _table.TABLE = tuple(new for row in original if (new := edit(row)) is not None)
    _engine.machine.cache_clear()
    try:
        yield
    finally:
        _table.TABLE = original
        _engine.machine.cache_clear()


def without_guard(event: str, source: str, guard: Guard) -> Callable[[Row], Row | None]:
    def edit(row: Row) -> Row:
        if (row.event, row.source) == (event, source) and guard in row.guards:
            return row._replace(guards=tuple(g for g in row.guards if g is not guard))
        return row

    return edit


def dropping_effect(action: _table.Action, kind: type[fx.Effect]) -> Callable[[Row], Row]:
    def broken(ctx: Ctx) -> None:
        action(ctx)
        ctx.effects[:] = [e for e in ctx.effects if not isinstance(e, kind)]

    def edit(row: Row) -> Row:
        return row._replace(action=broken) if row.action is action else row

    return edit


def without_rows(guard: Guard) -> Callable[[Row], Row | None]:
    return lambda row: None if guard in row.guards else row


MUTATIONS: dict[str, tuple[Callable[[Row], Row | None], set[int]]] = {
    "challenge accepts a restricted method": (
        without_guard(_table.OK, _table.CHALLENGED, _table.verified_method_allowed),
        {1, 4},
    ),
    "challenge does not consume the IST": (
        dropping_effect(_table.complete_challenge, fx.ConsumeIst),
        {8},
    ),
    "no lockout": (without_rows(_table.reaches_lockout), {6}),
    "expired flows go on": (without_rows(_table.expired), {1, 7}),
    "an IST adds a factor": (
        without_guard(_table.SP, _table.START, _table.may_add_factor),
        {3},
    ),
    "enrollment without proof": (
        without_guard(_table.OK, _table.ENROLLING_TOTP, _table.verified_pending),
        {2},
    ),
    "last factor unenrolled": (
        lambda row: None if row.action is _table.fail_refused_unenroll else row,
        {10},
    ),
}

FIND = settings(
    max_examples=2000,
    stateful_step_count=50,
    phases=[Phase.generate],
    derandomize=True,
    database=None,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_machine_finds_a_broken_engine(name: str) -> None:
    edit, expected = MUTATIONS[name]
    with broken_table(edit), pytest.raises(InvariantViolation) as found:
        run_state_machine_as_test(ProjectMachine, settings=FIND)
    assert found.value.number in expected, found.value


def test_machine_finds_events_for_someone_else_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    anyone = Guard("anyone", lambda ctx: True, SubjectMismatch)
    monkeypatch.setattr(_table, "PRECONDITIONS", (anyone, _table.in_order))
    with pytest.raises(InvariantViolation) as found:
        run_state_machine_as_test(ProjectMachine, settings=FIND)
    assert found.value.number == 9, found.value


def test_machine_finds_failures_forgotten_between_flows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the machine's cross-flow check sees this: every flow on its own looks fine."""

    def forgetful(ctx: Ctx) -> None:
        _table.open_flow(ctx)
        ctx.flow.failures = 0

    monkeypatch.setattr(_table, "START_ACTION", forgetful)
    with pytest.raises(InvariantViolation, match="across flows") as found:
        run_state_machine_as_test(TightLimitsMachine, settings=FIND)
    assert found.value.number == 6


# ---------------------------------------------------------------- found by this kit

WHO = {"organization_id": ORGANIZATION_ID, "member_id": MEMBER_ID}
PASSWORD = AuthenticationFactor(
    type="password", delivery_method="knowledge", last_authenticated_at=T0
)
REQUIRED = OrgPolicy(organization_id=ORGANIZATION_ID, mfa_policy=MfaPolicy.REQUIRED_FOR_ALL)


@pytest.mark.parametrize("where", ["member snapshot", "adapter report"])
def test_failure_counts_past_the_threshold_are_clamped(where: str) -> None:
    """Two flows of one member failing at once can leave the store at 11 of 10; the flow
    fails, and its count stays at the threshold rather than reading as 11 allowed."""
    over = Limits().max_failures + 1
    snapshot = over if where == "member snapshot" else 0
    member = MemberFactors(
        member_id=MEMBER_ID,
        totp_registration_id="totp-1",
        failed_attempts=snapshot,
        locked_until=T0 + 60 if snapshot else None,
    )
    start = PrimaryAuthenticated(
        at=T0, organization=REQUIRED, member=member, primary_factor=PASSWORD, ist_id="ist-1"
    )
    rejected = FactorRejected(at=T0 + 1, method=Method.TOTP, member_failures=over, **WHO)
    steps = run_checked(Engine(), start, [] if snapshot else [rejected])
    assert steps[-1].flow.state == "failed"
    assert steps[-1].flow.failures == Limits().max_failures
