"""Core engine benchmarks: complete MFA flows through the public API, against baselines.

Run:  python benchmarks/bench_core.py [--quick] [--json PATH]

Everything is measured in one process run; every comparison has its baseline measured in
the same run, in interleaved rounds (round r times every benchmark once, so drift on a
shared machine hits all of them alike). Figures are medians over the rounds, with the
min-max (wall clock, `time.perf_counter`; the thread's CPU time is shown beside it so
contention from other processes is visible). This is a script, not a test: nothing here
asserts a timing.

The flow: an org with `REQUIRED_FOR_ALL`, a member with no second factor, Stytch-length ids
(`organization-test-<uuid4>`, `member-test-<uuid4>`, a 44-character IST id, a uuid4 flow
id), then

    PrimaryAuthenticated -> MethodChosen(sms_otp, +14155551234) -> SmsSent
    -> FactorVerified -> authenticated

The id strings come from a pre-generated pool (making uuids is not using our API); the
four pydantic events are built inside every timed loop unless a row says "pre-built".
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import _common as common
import _profile
import pydantic
import statemachine
import transitions
from _core_dict import dict_flow, dict_handle, run_dict, run_dict_prebuilt
from _core_flow import (
    AUTHENTICATED,
    ENGINE,
    POOL,
    PREBUILT,
    json_sizes,
    memory_per_flow,
    ours_flow,
    run_events_only,
    run_ours,
    run_ours_prebuilt,
)
from _core_libs import (
    STOCK_ENGINE,
    psm_per_flow,
    run_full_machine_build,
    run_lean_trigger,
    run_psm,
    run_stock_engine,
    run_stock_trigger,
    run_transitions_per_flow,
    transitions_per_flow,
)

import mfa_fsm
from mfa_fsm import Flow
from mfa_fsm import _table as table

# ------------------------------------------------------------------ sanity: same work


def check_equivalence() -> None:
    """Every contender must really run the flow; the dict table must produce our output."""
    for ids, ev in zip(POOL[:8], PREBUILT[:8], strict=True):
        ours = ours_flow(ENGINE, ids, ev)
        assert ours.ok and ours.flow.state == AUTHENTICATED, ours.error
        for other in (dict_flow(ids, ev), ours_flow(STOCK_ENGINE, ids, ev)):
            assert other.ok, other.error
            assert other.flow.to_json() == ours.flow.to_json()
            assert [(e.kind, e.model_dump()) for e in other.effects] == [
                (e.kind, e.model_dump()) for e in ours.effects
            ]
        # And each intermediate step of the dict table matches ours.
        a = ENGINE.start(ids.flow_id, ev.primary)
        b = dict_handle(Flow(flow_id=ids.flow_id), ev.primary)
        for nxt in (ev.chosen, ev.sent, ev.verified):
            assert a.flow == b.flow and a.effects == b.effects
            a, b = ENGINE.handle(a.flow, nxt), dict_handle(b.flow, nxt)
        assert a.flow == b.flow and a.effects == b.effects
        assert transitions_per_flow(ids, ev).state == AUTHENTICATED
        assert psm_per_flow(ids, ev).authenticated.is_active


# ------------------------------------------------------------------ timing


@dataclass
class Bench:
    key: str
    label: str
    run: Callable[[int], None]
    n: int
    unit_ops: int = 1  # operations per call of the loop body (events per flow, …)
    seconds: list[float] = field(default_factory=list)  # wall clock per iteration, per round
    cpu_seconds: list[float] = field(default_factory=list)  # this thread's CPU time, likewise

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def run_rounds(benches: Sequence[Bench], rounds: int, log: Callable[[str], None]) -> None:
    for b in benches:  # warm-up: caches, pydantic schemas, branch predictors
        b.run(max(50, b.n // 20))
    for r in range(rounds):
        k = r % len(benches)  # rotate the order: no benchmark always runs first or last
        for b in [*benches[k:], *benches[:k]]:
            gc.collect()
            c0, t0 = time.thread_time(), time.perf_counter()
            b.run(b.n)
            t1, c1 = time.perf_counter(), time.thread_time()
            b.seconds.append((t1 - t0) / b.n)
            b.cpu_seconds.append((c1 - c0) / b.n)
        log(f"  round {r + 1}/{rounds} done")


def ratio_stats(num: Bench, den: Bench) -> tuple[float, float, float, float]:
    """Ratio of wall-clock medians, the range of the per-round ratios (same-round pairs),
    and the ratio of the CPU-time medians."""
    per_round = [a / b for a, b in zip(num.seconds, den.seconds, strict=True)]
    cpu = statistics.median(num.cpu_seconds) / statistics.median(den.cpu_seconds)
    return num.median / den.median, min(per_round), max(per_round), cpu


# ------------------------------------------------------------------ report


def core_digest() -> str:
    """Which engine a result belongs to: a digest of the core's sources, taken at start."""
    return common.source_digest(mfa_fsm)


def fmt_time(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:,.2f} µs" if us < 100 else f"{us:,.1f} µs"


def fmt_range(values: Sequence[float], scale: float = 1e6, digits: int = 2) -> str:
    return common.span(values, scale, digits)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer iterations and rounds")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--profile", action="store_true", help="profile our flow even when its target is met"
    )
    args = parser.parse_args(argv)

    out = common.Printer()
    quick: bool = args.quick
    div = 10 if quick else 1
    rounds = 3 if quick else 9
    mem_n = 1_000 if quick else 10_000

    check_equivalence()
    info = common.machine_info(
        pydantic=pydantic.VERSION,
        transitions=transitions.__version__,
        python_statemachine=statemachine.__version__,
        mfa_fsm_sources=core_digest(),
    )
    out.line(
        f"mfa-fsm core benchmarks — Python {info['python']} on {info['cpu']} "
        f"(nproc {info['nproc']}), pydantic {info['pydantic']}, transitions "
        f"{info['transitions']}, python-statemachine {info['python_statemachine']}; "
        f"{'quick' if quick else 'full'} mode, {rounds} interleaved rounds; "
        f"mfa_fsm sources sha256 {info['mfa_fsm_sources']}"
    )

    flows = [
        Bench("ours", "ours: Engine, events built in loop", run_ours, 12_000 // div, 4),
        Bench(
            "ours_prebuilt", "ours: Engine, pre-built events", run_ours_prebuilt, 12_000 // div, 4
        ),
        Bench("events_only", "building the 4 events alone", run_events_only, 30_000 // div, 4),
        Bench("dict", "dict table, events built in loop", run_dict, 12_000 // div, 4),
        Bench("dict_prebuilt", "dict table, pre-built events", run_dict_prebuilt, 12_000 // div, 4),
        Bench(
            "transitions_per_flow",
            "transitions.Machine per flow (small graph)",
            run_transitions_per_flow,
            2_000 // div,
            4,
        ),
        Bench(
            "stock_static_engine",
            "Engine on stock transitions trigger (static)",
            run_stock_engine,
            6_000 // div,
            4,
        ),
        Bench("psm_per_flow", "python-statemachine per flow", run_psm, 1_500 // div, 4),
    ]
    micro = [
        Bench("lean_trigger", "_LeanEvent.trigger (SmsSent)", run_lean_trigger, 80_000 // div),
        Bench("stock_trigger", "stock Event.trigger (SmsSent)", run_stock_trigger, 30_000 // div),
        Bench(
            "full_machine_build",
            f"transitions.Machine(full TABLE, {len(table.TABLE)} rows) build",
            run_full_machine_build,
            200 // div,
        ),
    ]
    before = common.readings()
    out.line("timing…")
    run_rounds(flows + micro, rounds, out.line)
    after = common.readings()
    out.line(
        f"before timing: {common.describe_readings(before)}; "
        f"after: {common.describe_readings(after)} (nproc {info['nproc']}, shared)"
    )
    by = {b.key: b for b in flows + micro}

    out.line("memory…")
    mem = memory_per_flow(mem_n)
    live_json, done_json = json_sizes()

    rows: list[list[str]] = []
    for b in flows:
        rows.append(
            [
                b.label,
                f"{1 / b.median:,.0f}",
                f"{1 / max(b.seconds):,.0f}-{1 / min(b.seconds):,.0f}",
                fmt_time(b.median),
                fmt_range(b.seconds),
                fmt_time(b.median / b.unit_ops),
                fmt_time(statistics.median(b.cpu_seconds)),
            ]
        )
    out.table(
        "Complete flows (4 events each), one core; wall clock (perf_counter) unless marked CPU"
        " (thread CPU time, median: shows contention from other processes)",
        [
            "benchmark",
            "flows/s (median)",
            "flows/s min-max",
            "µs/flow",
            "µs/flow min-max",
            "µs/event",
            "CPU µs/flow",
        ],
        rows,
    )
    out.table(
        "Single calls",
        ["benchmark", "calls/s (median)", "µs/call", "µs/call min-max"],
        [
            [b.label, f"{1 / b.median:,.0f}", fmt_time(b.median), fmt_range(b.seconds)]
            for b in micro
        ],
    )

    ratios: dict[str, tuple[float, float, float, float]] = {
        "ours_vs_dict_per_event_prebuilt": ratio_stats(by["ours_prebuilt"], by["dict_prebuilt"]),
        "ours_vs_dict_per_event_in_loop": ratio_stats(by["ours"], by["dict"]),
        "transitions_per_flow_vs_ours": ratio_stats(by["transitions_per_flow"], by["ours"]),
        "stock_static_engine_vs_ours": ratio_stats(by["stock_static_engine"], by["ours"]),
        "stock_trigger_vs_lean_trigger": ratio_stats(by["stock_trigger"], by["lean_trigger"]),
        "psm_per_flow_vs_ours": ratio_stats(by["psm_per_flow"], by["ours"]),
        "full_machine_build_vs_ours": ratio_stats(by["full_machine_build"], by["ours"]),
    }
    ratio_labels = {
        "ours_vs_dict_per_event_prebuilt": "ours ÷ dict table, per event (pre-built events)",
        "ours_vs_dict_per_event_in_loop": "ours ÷ dict table, per event (events built in loop)",
        "transitions_per_flow_vs_ours": "transitions.Machine per flow ÷ ours, per flow",
        "stock_static_engine_vs_ours": "Engine on stock trigger ÷ ours, per flow",
        "stock_trigger_vs_lean_trigger": "stock Event.trigger ÷ _LeanEvent.trigger, per call",
        "psm_per_flow_vs_ours": "python-statemachine per flow ÷ ours, per flow",
        "full_machine_build_vs_ours": "building a full-TABLE Machine alone ÷ ours, per flow",
    }
    out.table(
        "Ratios (wall-clock median ÷ median; range of the same-round ratios; CPU-time medians)",
        ["comparison", "ratio", "per-round min-max", "CPU-time ratio"],
        [
            [ratio_labels[k], f"{m:.2f}x", f"{lo:.2f}-{hi:.2f}x", f"{c:.2f}x"]
            for k, (m, lo, hi, c) in ratios.items()
        ],
    )
    out.table(
        "Memory and size",
        ["measurement", "value"],
        [
            [f"memory per in-flight flow (tracemalloc, N={mem_n:,})", f"{mem:,.0f} B"],
            ["JSON of an in-flight flow (enrolling_sms)", f"{live_json} B"],
            ["JSON of a finished flow (authenticated)", f"{done_json} B"],
        ],
    )

    Target = common.Target
    targets = [
        Target(
            "flows/s on one core (events built in loop)",
            1 / by["ours"].median,
            40_000,
            True,
            "flows/s",
        ),
        Target(
            "ours ÷ dict table per event (pre-built events)",
            ratios["ours_vs_dict_per_event_prebuilt"][0],
            20.0,
            False,
            "x",
        ),
        Target(
            "speed-up over a transitions.Machine built per flow",
            ratios["transitions_per_flow_vs_ours"][0],
            10.0,
            True,
            "x",
        ),
        Target("memory per in-flight flow", mem, 2048, False, "B"),
        Target("JSON of an in-flight flow", live_json, 600, False, "B"),
        Target("JSON of a finished flow", done_json, 600, False, "B"),
    ]

    out.table(
        "Targets",
        ["target", "measured", "limit", "verdict"],
        [
            [
                t.name,
                t.show(t.measured),
                ("≥ " if t.higher_is_better else "≤ ") + t.show(t.limit),
                t.verdict(),
            ]
            for t in targets
        ],
    )

    profile: dict[str, Any] | None = None
    if args.profile or not targets[0].met:
        n = 2_000 if quick else 20_000
        out.line(f"profiling {n:,} flows (cProfile, untimed)…")
        profile = _profile.profile(run_ours, n)
        out.line(f"sampling {n:,} flows with py-spy (no profiler in this process)…")
        profile["sampled"] = _profile.sampled(lambda: run_ours(n), n)
        out.table(
            "cProfile, ours (events built in loop): self time by area, per flow (the profiler "
            "inflates Python-level costs)",
            ["area", "self µs/flow", "% of profiled time"],
            _profile.rows_areas(profile),
        )
        out.table(
            "cProfile, ours: top functions by self time",
            ["function", "calls/flow", "self µs/flow", "cumulative µs/flow"],
            _profile.rows_top(profile),
        )

    if args.json:
        doc = {
            "script": "core",
            "mode": "quick" if quick else "full",
            "rounds": rounds,
            "machine": info,
            "before": before,
            "after": after,
            "flows": {
                b.key: {
                    "label": b.label,
                    "n_per_round": b.n,
                    "events_per_flow": b.unit_ops,
                    "seconds_per_flow": b.seconds,
                    "cpu_seconds_per_flow": b.cpu_seconds,
                    "median_seconds_per_flow": b.median,
                    "median_flows_per_second": 1 / b.median,
                    "median_us_per_event": b.median / b.unit_ops * 1e6,
                }
                for b in flows
            },
            "calls": {
                b.key: {
                    "label": b.label,
                    "n_per_round": b.n,
                    "seconds_per_call": b.seconds,
                    "cpu_seconds_per_call": b.cpu_seconds,
                    "median_us_per_call": b.median * 1e6,
                }
                for b in micro
            },
            "ratios": {
                k: {"label": ratio_labels[k], "median": m, "min": lo, "max": hi, "cpu_median": c}
                for k, (m, lo, hi, c) in ratios.items()
            },
            "memory_bytes_per_in_flight_flow": mem,
            "memory_n": mem_n,
            "json_bytes_in_flight": live_json,
            "json_bytes_finished": done_json,
            "targets": [t.to_dict() for t in targets],
        }
        if profile is not None:
            doc["profile"] = profile
        common.write_json(args.json, doc, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
