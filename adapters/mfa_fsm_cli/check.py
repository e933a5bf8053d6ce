"""`mfa-fsm check`: run the exhaustive checker and report like a test runner.

The core explores (`mfa_fsm._explore`); this edge loads user rules, times the run,
shows progress on a terminal, and turns the report into text or JSON and an exit
code: 0 clean, 1 a broken invariant or a dead end, 2 bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mfa_fsm._explore import Report, explore, format_trace
from mfa_fsm._policy import Rule

DEFAULT_DEPTH = 8


class UsageError(Exception):
    """A bad option value: reported in one line, exit status 2."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `mfa-fsm check`."""
    p = sub.add_parser(
        "check",
        help="explore every org policy, member and event path; check every invariant",
        description="Breadth-first over every built-in org policy x member factor state x "
        "start, applying an adversarial event alphabet up to --depth events, checking "
        "DESIGN.md's invariants on every step. Exit 0 when clean, 1 with a shortest "
        "counterexample or a dead end, 2 on bad usage.",
    )
    p.add_argument(
        "--depth",
        type=int,
        default=DEFAULT_DEPTH,
        help=f"events per path, the start included (default {DEFAULT_DEPTH})",
    )
    p.add_argument(
        "--rules",
        action="append",
        default=[],
        metavar="MODULE:NAME",
        help="custom rules to run with the built-in policy: NAME is a rule function or a "
        "list/tuple of them (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load the rules, explore, print; the exit status says what was found."""
    try:
        if args.depth < 1:
            raise UsageError("--depth must be at least 1")
        rules = [rule for spec in args.rules for rule in load_rules(spec)]
    except UsageError as exc:
        print(f"mfa-fsm check: error: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    with _progress(enabled=sys.stderr.isatty()) as on_progress:
        report = explore(depth=args.depth, rules=rules, on_progress=on_progress)
    seconds = time.perf_counter() - started
    if args.json:
        data = report.to_dict()
        data["seconds"] = round(seconds, 3)
        print(json.dumps(data, indent=2))
    else:
        print(render(report, seconds))
    return 0 if report.ok else 1


def load_rules(spec: str) -> list[Rule]:
    """`module:NAME` → the rule functions it names; `UsageError` for anything else."""
    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise UsageError(f"--rules {spec!r}: expected MODULE:NAME, e.g. my_rules:RULES")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: the rules live with the user
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure of user code is a usage error
        why = " ".join(str(exc).split())  # one line, even for a SyntaxError
        raise UsageError(
            f"--rules {spec!r}: cannot import {module_name!r}: {type(exc).__name__}: {why}"
        ) from None
    try:
        found: Any = getattr(module, name)
    except AttributeError:
        raise UsageError(f"--rules {spec!r}: {module_name!r} has no {name!r}") from None
    rules: list[Any] = list(found) if isinstance(found, list | tuple) else [found]
    if not rules or not all(callable(r) for r in rules):
        raise UsageError(
            f"--rules {spec!r}: {name} is a {type(found).__name__}, not a rule function "
            "or a list of rule functions"
        )
    return rules


def render(report: Report, seconds: float) -> str:
    """The human summary: counts and time, then the counterexample or the dead end."""
    rules = f", rules: {', '.join(report.rules)}" if report.rules else ""
    lines = [
        f"mfa-fsm check: depth {report.depth}{rules}",
        f"  configurations   {report.configurations}",
        f"  distinct states  {report.states}",
        f"  transitions      {report.transitions}",
        f"  table edges      {len(report.edges)} of {len(report.table_edges)} exercised",
        f"  seconds          {seconds:.1f}",
    ]
    if report.violation is not None:
        v = report.violation
        numbers = ", ".join(str(n) for n in v.numbers if n)
        what = f"invariant {numbers} broken" if numbers else "the engine raised an exception"
        events = len(v.trace.steps)
        lines += [
            "",
            f"FAIL: {what}; shortest counterexample ({events} event{'s' * (events != 1)}, "
            "exploration stopped there):",
            format_trace(v.trace, v.broken),
        ]
    elif report.dead_ends:
        lines += [
            "",
            f"FAIL: {report.dead_ends} dead end(s) in {len(report.dead_end_configs)} "
            "configuration(s): live states from which no path reaches authenticated.",
            *(f"  - {label}" for label in report.dead_end_configs[:10]),
        ]
        if len(report.dead_end_configs) > 10:
            lines.append(f"  ... and {len(report.dead_end_configs) - 10} more")
        if report.dead_end is not None:
            lines += [
                "shortest trace to a dead end:",
                format_trace(report.dead_end),
                "  (from here no sequence of events reaches authenticated)",
            ]
    else:
        lines += ["", "OK: every invariant held on every step; no dead end."]
    return "\n".join(lines)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr for a terminal; nothing at all otherwise."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("configurations", total=None)

        def on_progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield on_progress
