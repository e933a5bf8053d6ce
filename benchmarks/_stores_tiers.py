"""The tier loop of the store benchmarks: at each population size, storage per member and per
pending flow on every store, then interleaved rounds of complete flows, and the table of
one tier. Separate because it is the longest measurement and has its own report table.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import defaultdict
from typing import Any

import _common as common
from _local_db import OPS
from _stores_target import Servers, Target

from mfa_fsm_local._jwt import SessionSigner

WARM_UP = 10  # untimed flows per store and tier


def tier_rounds(targets: list[Target], flows: int, rounds: int) -> dict[str, Any]:
    """Interleaved rounds; per store: flows/s per round and per-call times of each round."""
    for t in targets:
        t.flows(WARM_UP)
    done: dict[str, list[tuple[float, dict[str, list[float]]]]] = defaultdict(list)
    for r in range(rounds):
        for t in common.rotated(targets, r):
            t0 = time.perf_counter()
            ops = t.flows(flows)
            done[t.name].append((flows / (time.perf_counter() - t0), ops))
    out: dict[str, Any] = {}
    for name, runs in done.items():
        rates = [rate for rate, _ in runs]
        _, middle = sorted(runs, key=lambda run: run[0])[(len(runs) - 1) // 2]
        out[name] = {
            "flows_per_second": statistics.median(rates),
            "min": min(rates),
            "max": max(rates),
            "rounds": rates,
            "p50_ms": {op: common.percentile(v, 50) * 1e3 for op, v in middle.items()},
            "p99_ms": {op: common.percentile(v, 99) * 1e3 for op, v in middle.items()},
        }
    return out


def tiers(srv: Servers, args: argparse.Namespace, out: common.Printer) -> dict[str, Any]:
    rng = random.Random(args.seed)
    signer = SessionSigner.generate()
    targets = [srv.target(name, signer) for name in args.stores]
    found: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
    try:
        for size in args.members:
            point: dict[str, dict[str, Any]] = {}
            for t in targets:
                seconds = t.populate(size, rng)
                per_member = t.member_bytes(rng)
                t0 = time.perf_counter()
                pending = t.pending(args.pending, rng)
                took = time.perf_counter() - t0
                point[t.name] = {
                    "members": size,
                    "populate_seconds": seconds,
                    "bytes_per_member": sum(per_member.values()),
                    "member_bytes_by_server": per_member,
                    "bytes_per_pending_flow": sum(pending.values()) / args.pending,
                    "pending_bytes_by_server": {k: v / args.pending for k, v in pending.items()},
                }
                out.line(
                    f"  {size:,} members on {t.name}: populated in {seconds:.1f} s,"
                    f" {args.pending:,} pending flows measured in {took:.1f} s"
                )
            t0 = time.perf_counter()
            for name, measured in tier_rounds(targets, args.flows, args.rounds).items():
                found[name].append(point[name] | measured)
            out.line(
                f"  {size:,} members: {args.rounds} rounds in {time.perf_counter() - t0:.1f} s"
            )
            show_tier(out, size, [found[t.name][-1] | {"store": t.name} for t in targets])
    finally:
        for t in targets:
            t.bulk.close()
            t.store.close()
    return found


def show_tier(out: common.Printer, size: int, rows: list[dict[str, Any]]) -> None:
    def ms(row: dict[str, Any], op: str) -> str:
        return f"{row['p50_ms'][op]:.2f} / {row['p99_ms'][op]:.2f}"

    out.table(
        f"{size:,} stored members: complete flows/s, one thread (median of rounds)",
        [
            "store",
            "flows/s",
            "min–max",
            *(f"{op} p50/p99 ms" for op in OPS),
            "B/pending flow",
            "B/member",
            "populate s",
        ],
        [
            [
                r["store"],
                f"{r['flows_per_second']:,.0f}",
                f"{r['min']:,.0f}–{r['max']:,.0f}",
                *(ms(r, op) for op in OPS),
                f"{r['bytes_per_pending_flow']:,.0f}",
                f"{r['bytes_per_member']:,.0f}",
                f"{r['populate_seconds']:.1f}",
            ]
            for r in rows
        ],
    )
