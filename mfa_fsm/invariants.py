"""DESIGN.md's ten invariants, public: one function each, plus the runners.

Each function takes `(before, event, step, limits)` and returns a message when the step
breaks its invariant, or None. `check_step` runs all ten and raises `InvariantViolation`.
"""

from ._invariants import (
    INVARIANTS,
    InvariantViolation,
    check_flow,
    check_step,
    enrollment_needs_proof,
    expired_never_authenticates,
    failures_bounded,
    last_factor_stays,
    no_new_factor_from_ist,
    restricted_methods_respected,
    second_factor_before_session,
    sessions_follow_rotation,
    subject_must_match,
    terminal_states_absorb,
    violations,
)

__all__ = [
    "INVARIANTS",
    "InvariantViolation",
    "check_flow",
    "check_step",
    "enrollment_needs_proof",
    "expired_never_authenticates",
    "failures_bounded",
    "last_factor_stays",
    "no_new_factor_from_ist",
    "restricted_methods_respected",
    "second_factor_before_session",
    "sessions_follow_rotation",
    "subject_must_match",
    "terminal_states_absorb",
    "violations",
]
