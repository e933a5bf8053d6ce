"""Store benchmarks: flows/s and storage per flow on each store as stored members grow.

Run:  python benchmarks/bench_stores.py [--quick] [--members 1000,100000,1000000] [--flows N]
          [--rounds R] [--pending P] [--calls C] [--json PATH]
      (servers from MFA_FSM_TEST_POSTGRES_URL / MFA_FSM_TEST_REDIS_URL, or --postgres/--redis)

1. Tiers. SQLite (a file, default durability), PostgreSQL alone, Redis alone and routed
   (PostgreSQL for records, Redis for flow state) each hold one `REQUIRED_FOR_ALL` organization
   whose population grows tier by tier (1k → 100k → 1M by default). One member is created
   through `passwords_migrate`; the documents it wrote are read back and cloned with new ids
   straight into the server (SQLite executemany, PostgreSQL COPY, Redis pipelines), versions
   drawn from the store's own counter, so the provider finds them as if created by the API.
   At each size, per store:
   - P pending flows (password login, SMS code sent, not answered) and the storage they add:
     SQLite pages in use after a TRUNCATE checkpoint; PostgreSQL `pg_total_relation_size` of
     the store's tables once the writes committed (dead row versions included, as until a
     vacuum); Redis `MEMORY USAGE key SAMPLES 0` of every key the flows added or changed.
     Bytes per member the same way after populating (Redis: a sample of members' keys).
   - flows/s: R rounds, the stores interleaved in a rotating order; each round N complete
     flows per store (password login with bcrypt cost 4, SMS send, SMS authenticate, session)
     on members picked at random among those not yet enrolled. Median and min–max over the
     rounds; p50/p99 per call from the median round.
2. Redis memory per pending flow by key kind, routed and Redis alone: P members created
   through the API in a fresh namespace, each with a pending flow; R rounds.
3. Latency of one `put` (compare-and-set) and one `get` per store, C calls per round, R rounds.

Every store lives in its own temp file / schema / namespace, removed at the end. This is a
script, not a test: nothing here asserts a figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, cast

import _common as common
import psycopg
from _stores_latency import latencies
from _stores_memory import memory_per_flow, show_memory
from _stores_target import Servers, servers
from _stores_tiers import WARM_UP, tiers

POSTGRES = os.environ.get("MFA_FSM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("MFA_FSM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
STORES = ("sqlite", "postgres", "redis", "routed")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a minute or so")
    parser.add_argument("--members", help="population tiers (default 1000,100000,1000000)")
    parser.add_argument("--flows", type=int, help="complete flows per store and round (300)")
    parser.add_argument("--rounds", type=int, help="rounds of every measurement (3)")
    parser.add_argument("--pending", type=int, help="pending flows per memory measurement (1000)")
    parser.add_argument("--calls", type=int, help="put/get calls per store and round (2000)")
    parser.add_argument("--stores", default=",".join(STORES), help="subset of " + ",".join(STORES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", default=POSTGRES)
    parser.add_argument("--redis", default=REDIS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    quick = {"members": "1000,10000", "flows": 60, "rounds": 2, "pending": 200, "calls": 500}
    full = {
        "members": "1000,100000,1000000",
        "flows": 300,
        "rounds": 3,
        "pending": 1000,
        "calls": 2000,
    }
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.members = sorted({int(x) for x in str(args.members).split(",")})
    args.stores = [s for s in args.stores.split(",") if s]
    if unknown := set(args.stores) - set(STORES):
        parser.error(f"unknown stores: {', '.join(sorted(unknown))}")
    if args.members[0] < max(WARM_UP + args.flows * args.rounds, args.pending):
        parser.error(
            "the smallest tier needs warm-up + flows × rounds unenrolled members,"
            " and at least --pending members"
        )
    return args


def versions(srv: Servers) -> dict[str, str]:
    with psycopg.connect(srv.postgres) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    info = cast("dict[str, Any]", srv.client.info("server"))
    return {"redis": str(info["redis_version"]), "postgresql": str(row[0] if row else "?")}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    out = common.Printer()
    started = time.perf_counter()
    with servers(args.postgres, args.redis) as srv:
        report: dict[str, Any] = {"machine": common.machine_info(srv.tmp, **versions(srv))}
        report["args"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        out.line(" ".join(f"{k}={v}" for k, v in report["machine"].items()))
        report["tiers"] = tiers(srv, args, out)
        report |= memory_per_flow(srv, args.pending, args.rounds)
        show_memory(out, report)
        report["latency"] = latencies(srv, args.calls, args.rounds)
        out.table(
            f"put / get, one thread, {args.calls:,} calls × {args.rounds} rounds (median µs)",
            ["store", "put µs", "min–max", "get µs", "min–max"],
            [
                [
                    name,
                    f"{v['put_us']:,.1f}",
                    common.span(v["put_us_summary"]["runs"], digits=1),
                    f"{v['get_us']:,.1f}",
                    common.span(v["get_us_summary"]["runs"], digits=1),
                ]
                for name, v in report["latency"].items()
            ],
        )
    report["seconds"] = time.perf_counter() - started
    out.line(f"done in {report['seconds']:.0f} s")
    if args.json:
        common.write_json(args.json, report, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
