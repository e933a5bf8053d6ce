"""The local provider benchmark's results: tables for the terminal and the JSON document."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import _common as common
import _profile
from _local_db import OPS, SYNCS, TimedStore
from _local_flows import Micro, Series

med = common.median


@dataclass
class Pending:
    """Bytes per pending flow: N flows left after `otps_sms_send`."""

    n: int
    seconds: float
    size_before: dict[str, int]
    size_after: dict[str, int]
    growth: dict[str, float]
    per_collection: list[tuple[str, float, float, float]]  # name, rows, key bytes, data bytes
    per_btree: list[tuple[str, float]]


@dataclass
class Tier:
    """One population size and its series."""

    members: int
    added: int
    populate_seconds: float
    size: dict[str, int]
    series: dict[str, Series]


@dataclass
class Results:
    quick: bool
    config: dict[str, Any]
    info: dict[str, str]
    before: dict[str, Any]
    after: dict[str, Any]
    seconds: float
    series: list[Series]
    micro: list[Micro]
    pending: Pending
    tiers: list[Tier]
    skipped: list[tuple[int, float]]
    profiles: dict[str, dict[str, Any]]
    target: float
    by: dict[str, Series] = field(init=False)

    def __post_init__(self) -> None:
        self.by = {s.variant.key: s for s in self.series}

    def targets(self) -> list[common.Target]:
        """The throughput target applies to the flow from an existing IST."""
        return [
            common.Target(
                f"flows/s from an existing IST (SMS send → authenticate → session), {sync}",
                1 / med(self.by[f"{sync.lower()}_ist"].per_flow()),
                self.target,
                True,
                "flows/s",
            )
            for sync in SYNCS
        ]


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f}"


def ms_range(values: list[float]) -> str:
    return common.span(values, 1e3)


def print_report(out: common.Printer, r: Results) -> None:
    cfg = r.config
    out.line(
        f"before: {common.describe_readings(r.before)}; after: "
        f"{common.describe_readings(r.after)}; total run {r.seconds:.0f} s"
    )
    rows: list[list[str]] = []
    for s in r.series:
        fps = s.flows_per_second()
        rows.append(
            [
                s.variant.label,
                f"{med(fps):,.0f}",
                common.span(fps, digits=0),
                ms(med(s.per_flow())),
                ms(med(s.cpu_per_flow())),
                ms(med(s.sign_per_flow())),
                f"{med(s.sign_share()) * 100:.1f}% ({common.span(s.sign_share(), 100, 1)})",
            ]
        )
    out.table(
        f"Part 1: flows, one thread, {cfg['pop']:,} members; {cfg['rounds']} rounds; wall "
        "clock, CPU = thread CPU time",
        [
            "variant",
            "flows/s",
            "min-max",
            "ms/flow",
            "CPU ms/flow",
            "JWT sign ms/flow",
            "JWT sign share",
        ],
        rows,
    )
    lat: list[list[str]] = []
    for s in r.series:
        if s.variant.timed_store:
            continue
        for op in OPS:
            if not s.batches[0].op_seconds[op]:
                continue
            p50, p99 = s.op_pct(op, 50), s.op_pct(op, 99)
            lat.append(
                [
                    f"{s.variant.key}: {op}",
                    ms(med(s.op_mean(op))),
                    ms(med(p50)),
                    ms_range(p50),
                    ms(med(p99)),
                    ms_range(p99),
                ]
            )
    out.table(
        "Latency per operation, ms (per-round p50 / p99, nearest rank; median over rounds, "
        "min-max)",
        ["variant: operation", "mean", "p50", "p50 min-max", "p99", "p99 min-max"],
        lat,
    )
    out.table(
        "Where a complete flow's time goes (timed store: statements, BEGIN, COMMIT)",
        ["part", "calls/flow", "ms/flow", "min-max", "% of flow"],
        split_rows(r),
    )
    first = r.by["normal_password_timed"].batches[0]
    out.table(
        "Store calls per complete flow with password login (first timed batch)",
        ["call", "calls/flow"],
        [
            [what, f"{n / first.n:g}"]
            for what, n in sorted(
                first.store_by_collection.items(), key=lambda kv: (kv[0].split()[0], -kv[1])
            )
        ],
    )
    out.table(
        "Single calls (median over repeats; min-max)",
        ["call", "µs/call", "min-max"],
        [[m.label, f"{m.median * 1e6:,.1f}", common.span(m.seconds, 1e6, 1)] for m in r.micro],
    )
    p = r.pending
    out.table(
        f"Part 2: bytes per pending flow (N = {p.n:,}, created in {p.seconds:.1f} s on NORMAL)",
        ["measurement", "bytes per flow"],
        [
            ["page_count × page_size growth", f"{p.growth['page_bytes']:,.0f}"],
            ["file size growth, db + WAL (after TRUNCATE)", f"{p.growth['file_bytes']:,.0f}"],
            ["freelist growth", f"{p.growth['free_page_bytes']:,.0f}"],
        ],
    )
    out.table(
        "Part 2: what a pending flow adds (documents by collection; logs by name)",
        ["collection", "rows", "key bytes", "data bytes", "key + data"],
        [
            [n, f"{rows:.2f}", f"{k:,.0f}", f"{d:,.0f}", f"{k + d:,.0f}"]
            for n, rows, k, d in p.per_collection
        ],
    )
    if p.per_btree:
        out.table(
            "Part 2: page growth per flow by table and index (dbstat)",
            ["table / index", "bytes per flow"],
            [[name, f"{b:,.0f}"] for name, b in p.per_btree if b],
        )
    tier_rows: list[list[str]] = []
    for t in r.tiers:
        row = [f"{t.members:,}", f"{t.populate_seconds:.1f} s", mib(t.size["file_bytes"])]
        for s in t.series.values():
            fps = s.flows_per_second()
            row.append(f"{med(fps):,.0f} ({common.span(fps, digits=0)})")
        tier_rows.append(row)
    if r.tiers:
        out.table(
            f"Part 3: flows/s vs stored members ({cfg['tier_rounds']} rounds)",
            [
                "members",
                "populate",
                "db size",
                *(s.variant.label for s in r.tiers[0].series.values()),
            ],
            tier_rows,
        )
    for tier, est in r.skipped:
        out.line(f"not measured: {tier:,} members (populating would take about {est:,.0f} s)")
    out.table(
        "Targets",
        ["target", "measured", "limit", "verdict"],
        [[t.name, t.show(t.measured), f"≥ {t.show(t.limit)}", t.verdict()] for t in r.targets()],
    )
    for sync, found in r.profiles.items():
        out.table(
            f"cProfile, flows from an IST on {sync}: self time by area ("
            f"{found['ms_per_flow_under_profiler']:.2f} ms/flow under the profiler)",
            ["area", "self µs/flow", "% of profiled time"],
            _profile.rows_areas(found),
        )
        out.table(
            f"cProfile, flows from an IST on {sync}: top functions by self time",
            ["function", "calls/flow", "self µs/flow", "cumulative µs/flow"],
            _profile.rows_top(found),
        )


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def split_parts(s: Series) -> dict[str, list[float]]:
    """Per part of a flow: seconds per flow in each round (what is left is 'everything else')."""
    parts = {
        f"store.{m}": [b.store_seconds[m] / b.n for b in s.batches] for m in TimedStore.METHODS
    }
    parts["JWT sign_session"] = s.sign_per_flow()
    accounted = [sum(v[i] for v in parts.values()) for i in range(len(s.batches))]
    parts["everything else"] = [
        b.seconds / b.n - a for b, a in zip(s.batches, accounted, strict=True)
    ]
    return parts


def split_rows(r: Results) -> list[list[str]]:
    rows: list[list[str]] = []
    for sync in SYNCS:
        s = r.by[f"{sync.lower()}_password_timed"]
        flow = med(s.per_flow())
        b0 = s.batches[0]
        calls = {f"store.{m}": b0.store_calls[m] / b0.n for m in TimedStore.METHODS}
        calls["JWT sign_session"] = b0.sign_calls / b0.n
        for name, vals in split_parts(s).items():
            c = calls.get(name)
            rows.append(
                [
                    f"{sync}: {name}",
                    "" if c is None else f"{c:g}",
                    ms(med(vals)),
                    ms_range(vals),
                    f"{med(vals) / flow * 100:.1f}%",
                ]
            )
    return rows


def series_doc(s: Series) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "label": s.variant.label,
        "sync": s.variant.sync,
        "login": s.variant.login,
        "flows_per_batch": s.n,
        "flows_per_second": common.summary(s.flows_per_second()),
        "seconds_per_flow": common.summary(s.per_flow()),
        "cpu_seconds_per_flow": common.summary(s.cpu_per_flow()),
        "sign_seconds_per_flow": common.summary(s.sign_per_flow()),
        "sign_share": common.summary(s.sign_share()),
        "ops": {
            op: {
                "mean": common.summary(s.op_mean(op)),
                "p50": common.summary(s.op_pct(op, 50)),
                "p99": common.summary(s.op_pct(op, 99)),
            }
            for op in OPS
            if s.batches and s.batches[0].op_seconds[op]
        },
    }
    if s.variant.timed_store:
        b0 = s.batches[0]
        doc["parts_seconds_per_flow"] = {k: common.summary(v) for k, v in split_parts(s).items()}
        doc["store_calls_per_flow"] = {m: n / b0.n for m, n in b0.store_calls.items()}
        doc["store_calls_by_collection"] = {m: n / b0.n for m, n in b0.store_by_collection.items()}
    return doc


def to_json(r: Results) -> dict[str, Any]:
    p = r.pending
    return {
        "script": "local",
        "mode": "quick" if r.quick else "full",
        "machine": r.info,
        "before": r.before,
        "after": r.after,
        "seconds": r.seconds,
        "config": r.config,
        "series": {s.variant.key: series_doc(s) for s in r.series},
        "single_calls_us": {m.label: common.summary([x * 1e6 for x in m.seconds]) for m in r.micro},
        "pending": {
            "n": p.n,
            "seconds": p.seconds,
            "bytes_per_flow": p.growth,
            "size_before": p.size_before,
            "size_after": p.size_after,
            "per_collection": [
                {"name": n, "rows": rows, "key_bytes": k, "data_bytes": d}
                for n, rows, k, d in p.per_collection
            ],
            "btree_bytes_per_flow": dict(p.per_btree),
        },
        "tiers": [
            {
                "members": t.members,
                "added": t.added,
                "populate_seconds": t.populate_seconds,
                "size_before_flows": t.size,
                "series": {k: series_doc(s) for k, s in t.series.items()},
            }
            for t in r.tiers
        ],
        "skipped_tiers": [{"members": m, "estimated_seconds": e} for m, e in r.skipped],
        "targets": [t.to_dict() for t in r.targets()],
        "profiles": r.profiles,
    }
