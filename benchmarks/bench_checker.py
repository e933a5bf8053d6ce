"""Checker benchmarks: time and states explored by `mfa-fsm check` as depth and rules grow.

Run:  python benchmarks/bench_checker.py [--quick] [--json PATH]

Calls the same `explore()` that `mfa-fsm check` runs, on every built-in configuration (org
policies × member factor states × starts), in this one process:

1. depth 4…10 with no custom rules: seconds, distinct states, transitions;
2. 0, 1 and 5 custom rules at one depth (4 in full mode, to keep the suite short).

The rules are well-behaved ones an operator might write (they only add requirements or
narrow methods where the organization allows them), so every run explores the whole space
and must come back clean; a run that finds a violation or a dead end is reported as such.
Each case runs several times; the figures are the median seconds with the min-max. This is
a script, not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import _common as common

import mfa_fsm
from mfa_fsm import Method, Requirement, RuleInput, org_allowed_methods
from mfa_fsm._explore import explore
from mfa_fsm._policy import Rule

TARGET_DEPTH = 8
TARGET_SECONDS = 30.0


def admins_use_totp_where_allowed(subject: RuleInput) -> Requirement | None:
    """Admins need MFA, by TOTP when the organization allows TOTP at all."""
    if "admin" not in subject.member.roles:
        return None
    allowed = org_allowed_methods(subject.organization, subject.member)
    methods = frozenset({Method.TOTP}) if Method.TOTP in allowed else None
    return Requirement(require_mfa=True, methods=methods, reason="admins use TOTP")


def breakglass_always_mfa(subject: RuleInput) -> Requirement | None:
    """Breakglass accounts always need a second factor."""
    if not subject.member.is_breakglass:
        return None
    return Requirement(require_mfa=True, reason="breakglass")


def risky_sign_in(subject: RuleInput) -> Requirement | None:
    """A risk score from the caller's attributes raises the bar."""
    if subject.attributes.get("risk") != "high":
        return None
    return Requirement(require_mfa=True, reason="high risk")


def off_hours(subject: RuleInput) -> Requirement | None:
    """Sign-ins between 22:00 and 06:00 UTC need MFA."""
    hour = int(subject.at // 3600) % 24
    if 6 <= hour < 22:
        return None
    return Requirement(require_mfa=True, reason="off hours")


def opted_in_keep_their_method(subject: RuleInput) -> Requirement | None:
    """Members who opted in keep to SMS when it is their only verified, allowed method."""
    m = subject.member
    allowed = org_allowed_methods(subject.organization, m)
    if not m.mfa_enrolled or m.totp_registration_id or Method.SMS_OTP not in allowed:
        return None
    if not (m.mfa_phone_number and m.mfa_phone_number_verified):
        return None
    return Requirement(methods=frozenset({Method.SMS_OTP}), reason="keep SMS")


FIVE_RULES: tuple[Rule, ...] = (
    admins_use_totp_where_allowed,
    breakglass_always_mfa,
    risky_sign_in,
    off_hours,
    opted_in_keep_their_method,
)
RULE_SETS: dict[int, tuple[Rule, ...]] = {0: (), 1: FIVE_RULES[:1], 5: FIVE_RULES}


@dataclass
class Case:
    """One checker configuration and its runs."""

    depth: int
    rules: int
    seconds: list[float] = field(default_factory=list)
    states: int = 0
    transitions: int = 0
    configurations: int = 0
    edges: int = 0
    table_edges: int = 0
    ok: bool = True

    def run(self) -> None:
        gc.collect()
        t0 = time.perf_counter()
        report = explore(depth=self.depth, rules=RULE_SETS[self.rules])
        self.seconds.append(time.perf_counter() - t0)
        self.states, self.transitions = report.states, report.transitions
        self.configurations = report.configurations
        self.edges, self.table_edges = len(report.edges), len(report.table_edges)
        self.ok = self.ok and report.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "depth": self.depth,
            "rules": self.rules,
            "seconds": common.summary(self.seconds),
            "states": self.states,
            "transitions": self.transitions,
            "configurations": self.configurations,
            "edges_exercised": self.edges,
            "table_edges": self.table_edges,
            "ok": self.ok,
        }


@dataclass(frozen=True)
class Config:
    depths: tuple[int, ...]
    runs: dict[int, int]  # depth -> runs (depths not listed run once)
    rules_depth: int
    rules_runs: int


FULL = Config(
    depths=(4, 5, 6, 7, 8, 9, 10),
    runs={depth: 3 for depth in range(4, 11)},  # three runs each: a median with min-max
    rules_depth=4,
    rules_runs=3,
)
QUICK = Config(depths=(4, 5), runs={}, rules_depth=4, rules_runs=1)


def measure(cfg: Config, out: common.Printer) -> tuple[list[Case], list[Case]]:
    """Depth cases, then rule cases; rounds interleave the cases whose runs remain."""
    by_depth = [Case(d, 0) for d in cfg.depths]
    by_rules = [Case(cfg.rules_depth, n) for n in RULE_SETS if n]
    reuse = next((c for c in by_depth if c.depth == cfg.rules_depth), None)
    planned: list[tuple[Case, int]] = [(c, cfg.runs.get(c.depth, 1)) for c in by_depth]
    planned += [(c, cfg.rules_runs) for c in by_rules]
    if reuse is None:  # the 0-rule case at the rules' depth is not among the depths
        reuse = Case(cfg.rules_depth, 0)
        planned.append((reuse, cfg.rules_runs))
    rounds = max(n for _, n in planned)
    for r in range(rounds):
        todo = [c for c, n in planned if len(c.seconds) < n]
        for c in common.rotated(todo, r):
            c.run()
            out.line(
                f"  depth {c.depth}, {c.rules} rule(s): {c.seconds[-1]:.1f} s, "
                f"{c.states:,} states{'' if c.ok else ' (NOT CLEAN)'}"
            )
    return by_depth, [reuse, *by_rules]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="shallower depths, fewer runs")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    out = common.Printer()
    info = common.machine_info(mfa_fsm_sources=common.source_digest(mfa_fsm))
    out.line(
        f"mfa-fsm checker benchmarks — Python {info['python']} on {info['cpu']} "
        f"(nproc {info['nproc']}); {'quick' if args.quick else 'full'} mode"
    )
    before = common.readings()
    by_depth, by_rules = measure(cfg, out)
    after = common.readings()
    out.line(
        f"before: {common.describe_readings(before)}; after: {common.describe_readings(after)}"
    )

    def row(c: Case) -> list[str]:
        return [
            f"{common.median(c.seconds):,.2f}",
            common.span(c.seconds),
            str(len(c.seconds)),
            f"{c.states:,}",
            f"{c.transitions:,}",
            f"{c.edges}/{c.table_edges}",
            "yes" if c.ok else "NO",
        ]

    tail = ["seconds (median)", "min-max", "runs", "states", "transitions", "edges", "clean"]
    out.table(
        "Checker: no custom rules, every built-in configuration",
        ["depth", *tail],
        [[str(c.depth), *row(c)] for c in by_depth],
    )
    out.table(
        f"Checker: custom rules at depth {cfg.rules_depth}",
        ["rules", *tail],
        [[str(c.rules), *row(c)] for c in by_rules],
    )
    targets: list[common.Target] = []
    at_target = next((c for c in by_depth if c.depth == TARGET_DEPTH), None)
    if at_target is not None:
        targets.append(
            common.Target(
                f"mfa-fsm check, depth {TARGET_DEPTH}",
                common.median(at_target.seconds),
                TARGET_SECONDS,
                False,
                "s",
            )
        )
    for t in targets:
        out.line(f"target: {t.name}: {t.show(t.measured)} (≤ {t.show(t.limit)}): {t.verdict()}")
    if args.json:
        doc = {
            "script": "checker",
            "mode": "quick" if args.quick else "full",
            "machine": info,
            "before": before,
            "after": after,
            "rules": [getattr(r, "__name__", repr(r)) for r in FIVE_RULES],
            "rules_depth": cfg.rules_depth,
            "depths": [c.to_dict() for c in by_depth],
            "by_rules": [c.to_dict() for c in by_rules],
            "targets": [t.to_dict() for t in targets],
        }
        common.write_json(args.json, doc, out)
    return 0 if all(c.ok for c in [*by_depth, *by_rules]) else 1


if __name__ == "__main__":
    sys.exit(main())
