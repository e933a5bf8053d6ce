"""Policy: pure functions over `OrgPolicy` and `MemberFactors`, plus custom rules.

A custom rule is a plain function `rule(subject: RuleInput) -> Requirement | None`.
It may require MFA or narrow the methods; there is no way for it to waive MFA or to
widen the methods, because `decide` only ever ORs requirements and intersects methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ._errors import RuleError
from ._types import (
    ALL_METHODS,
    SECOND_FACTOR_TYPES,
    AuthenticationFactor,
    Intent,
    MemberFactors,
    Method,
    MfaMethods,
    MfaPolicy,
    OrgPolicy,
)


@dataclass(frozen=True)
class RuleInput:
    """What a custom rule sees about a flow that is starting."""

    organization: OrgPolicy
    member: MemberFactors
    intent: Intent
    at: float
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Requirement:
    """A rule's verdict: require MFA, and/or allow only these methods."""

    require_mfa: bool = False
    methods: frozenset[Method] | None = None
    reason: str = ""


Rule = Callable[[RuleInput], "Requirement | None"]


@dataclass(frozen=True)
class Decision:
    """What the built-in policy and the rules together decided at the start of a flow."""

    mfa_required: bool
    allowed: frozenset[Method]
    reasons: tuple[str, ...] = ()


def org_allowed_methods(org: OrgPolicy, member: MemberFactors) -> frozenset[Method]:
    """Methods the organization lets this member use; breakglass members may use all."""
    if org.mfa_methods is MfaMethods.ALL_ALLOWED or member.is_breakglass:
        return ALL_METHODS
    return frozenset(org.allowed_mfa_methods)


def org_requires_mfa(org: OrgPolicy, member: MemberFactors) -> bool:
    """Stytch's rule: REQUIRED_FOR_ALL, or the member opted in (`mfa_enrolled`)."""
    return org.mfa_policy is MfaPolicy.REQUIRED_FOR_ALL or member.mfa_enrolled


def usable_methods(member: MemberFactors, allowed: Iterable[Method]) -> frozenset[Method]:
    """The member's verified methods that may be used here."""
    return member.verified_methods & frozenset(allowed)


def decide(subject: RuleInput, rules: Sequence[Rule] = ()) -> Decision:
    """Combine the built-in policy with custom rules; rules can only add requirements."""
    required = org_requires_mfa(subject.organization, subject.member)
    allowed = org_allowed_methods(subject.organization, subject.member)
    reasons: list[str] = []
    for rule in rules:
        verdict = rule(subject)
        if verdict is None:
            continue
        if not isinstance(verdict, Requirement):
            name = getattr(rule, "__name__", repr(rule))
            raise RuleError(f"rule {name} returned {type(verdict).__name__}, not Requirement")
        if verdict.require_mfa:
            required = True
        if verdict.methods is not None:
            allowed = allowed & frozenset(verdict.methods)
        if verdict.require_mfa or verdict.methods is not None:
            reasons.append(verdict.reason or getattr(rule, "__name__", "rule"))
    return Decision(mfa_required=required, allowed=allowed, reasons=tuple(reasons))


def has_second_factor(factors: Iterable[AuthenticationFactor]) -> bool:
    """Whether a session's `authentication_factors` include a second factor."""
    return any(f.type in SECOND_FACTOR_TYPES for f in factors)


def needs_step_up(factors: Iterable[AuthenticationFactor], now: float, max_age: float) -> bool:
    """Seed 004: step up when no second factor was authenticated within `max_age` seconds."""
    freshest = max(
        (f.last_authenticated_at for f in factors if f.type in SECOND_FACTOR_TYPES),
        default=None,
    )
    return freshest is None or now - freshest > max_age


def satisfies(factors: Iterable[AuthenticationFactor], required_types: Iterable[str]) -> bool:
    """Seed 004's enforcement: every required factor type is present in the session."""
    present = {f.type for f in factors}
    return all(t in present for t in required_types)


def describe_policy(org: OrgPolicy) -> str:
    """A short human label for an org policy, used by the checker and diagrams."""
    methods = (
        "all methods"
        if org.mfa_methods is MfaMethods.ALL_ALLOWED
        else "+".join(m.value for m in org.allowed_mfa_methods) or "no method"
    )
    return f"{org.mfa_policy.value}, {methods}"
