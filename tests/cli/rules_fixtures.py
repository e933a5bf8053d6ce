"""Custom rules and broken tables for the checker's tests.

Rules load with `--rules tests.cli.rules_fixtures:NAME` from the repository root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from mfa_fsm import ConsumeIst, Method, Requirement, RuleInput, _engine, _table, org_allowed_methods
from mfa_fsm._guards import Ctx, Guard
from mfa_fsm._table import Row

TOTP_ONLY = frozenset({Method.TOTP})


def admins_must_use_totp(subject: RuleInput) -> Requirement | None:
    """Naive: admins need MFA by TOTP, even where the organization forbids TOTP."""
    if "admin" not in subject.member.roles:
        return None
    return Requirement(require_mfa=True, methods=TOTP_ONLY, reason="admins use TOTP")


def admins_use_totp_where_allowed(subject: RuleInput) -> Requirement | None:
    """Well-behaved: admins need MFA, by TOTP when the organization allows TOTP at all."""
    if "admin" not in subject.member.roles:
        return None
    allowed = org_allowed_methods(subject.organization, subject.member)
    methods = TOTP_ONLY if Method.TOTP in allowed else None
    return Requirement(require_mfa=True, methods=methods, reason="admins use TOTP")


def no_opinion(subject: RuleInput) -> Requirement | None:
    """A rule that never asks for anything."""
    return None


RULES = [admins_use_totp_where_allowed, no_opinion]
"""A list of rules, to load several with one `--rules` option."""

NOT_A_RULE = 42
"""Neither a rule nor a list of rules: `--rules` must refuse it."""


def returns_garbage(subject: RuleInput) -> Requirement | None:
    """A broken rule: returns a string, which the engine must report, never accept."""
    return "yes please"  # type: ignore[return-value]


# ---------------------------------------------------------------- deliberately broken tables


@contextmanager
def broken_table(edit: Callable[[Row], Row | None]) -> Iterator[None]:
    """Run with `_table.TABLE` rewritten row by row (None drops a row); always restored.

    The engine builds its one machine from the table once (`machine()` is cached), so
    the cache is cleared on the way in and on the way out.
    """
    original = _table.TABLE
    _table.TABLE = tuple(new for row in original if (new := edit(row)) is not None)
    _engine.machine.cache_clear()
    try:
        yield
    finally:
        _table.TABLE = original
        _engine.machine.cache_clear()


def skip_consume_ist(row: Row) -> Row:
    """Bug: sessions are issued without consuming the IST (invariant 8)."""
    if row.dest != "authenticated":
        return row
    action = row.action

    def issue_without_consuming(ctx: Ctx) -> None:
        action(ctx)
        ctx.effects[:] = [e for e in ctx.effects if not isinstance(e, ConsumeIst)]

    return row._replace(action=issue_without_consuming)


def without_guard(guard: Guard) -> Callable[[Row], Row]:
    """Bug: every row forgets one guard."""

    def edit(row: Row) -> Row:
        return row._replace(guards=tuple(g for g in row.guards if g is not guard))

    return edit
