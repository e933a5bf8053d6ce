"""Local provider benchmarks: MFA flows through `LocalProvider` on a real SQLite file.

Run:  python benchmarks/bench_local.py [--quick] [--json PATH] [--profile]

Everything is measured in one process run, in one thread, on SQLite files in a fresh temporary
directory (deleted at the end). The flows, as the seeds' required enrollment by SMS, on an
organization with `REQUIRED_FOR_ALL` and members who have no second factor yet:

    passwords_authenticate (bcrypt, rounds=4)  -> IST, mfa_required, no second factor yet
    otps_sms_send(new phone, IST)              -> code to a capturing in-memory sender
    otps_sms_authenticate(code, IST)           -> session token + session JWT (RS256)

- "from an existing IST": the login runs before the timing starts, so a timed flow is SMS
  send → authenticate → session (the flow the throughput target names);
- "complete flow with password login": all three calls timed;
- "login without password hashing": `organizations_get` + `member_by_email` + `begin_mfa`
  in one unit of work, which is `passwords_authenticate` minus the bcrypt check.

Each provider call runs in one unit of work (`Store.unit()`: one commit per call).

Parts:
1. Throughput and per-operation latency (p50/p99), `synchronous="FULL"` (the default) and
   "NORMAL" side by side on one file, in interleaved rounds whose order rotates. Medians
   over rounds, with min-max. The JWT signing share comes from a `SessionSigner` subclass
   timing `sign_session`; where the rest goes, from a `SqliteStore` subclass timing every
   statement, BEGIN and COMMIT (separate variants, so the plain rows carry no timers).
   A what-if variant turns `wal_autocheckpoint` off on the request connection (checkpoints
   run between batches, untimed).
2. Bytes per pending flow (IST issued, SMS sent, not authenticated): database growth after
   `PRAGMA wal_checkpoint(TRUNCATE)`, divided by N, and the bytes per collection.
3. Throughput from 1k to 1M stored members, members bulk-inserted straight into `documents`.

Members are recycled: after each timed batch (untimed) the batch's members are reset to
"no second factor" with fresh versions and their `member_sessions` index is dropped, so
every timed flow does the same work. When the target is missed (or with --profile), cProfile
runs over untimed flows and prints where the time goes. This is a script, not a test:
nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import gc
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common as common
import _profile
import bcrypt
import pydantic
from _local_db import PASSWORD, PHONES, SYNCS, Db
from _local_flows import LOGIN_LABELS, Series, Variant, micro_benchmarks, run_flows, run_rounds
from _local_report import Pending, Results, Tier, print_report, to_json
from cryptography.hazmat.primitives.asymmetric import rsa

import mfa_fsm
import mfa_fsm_local
from mfa_fsm_local._codes import normalize_phone


@dataclass(frozen=True)
class Config:
    rounds: int
    n: dict[str, int]  # flows per batch, by synchronous
    pop: int  # members in part 1's database
    pending: int  # part 2's N
    tiers: tuple[int, ...]
    tier_rounds: int
    tier_n: dict[str, int]
    micro_repeats: int
    micro_n: int
    profile_flows: int
    max_populate_seconds: float


FULL_CONFIG = Config(
    rounds=4,
    n={"FULL": 150, "NORMAL": 300},
    pop=10_000,
    pending=5_000,
    tiers=(1_000, 10_000, 100_000, 1_000_000),
    tier_rounds=3,
    tier_n={"FULL": 100, "NORMAL": 200},
    micro_repeats=5,
    micro_n=400,
    profile_flows=200,
    max_populate_seconds=150.0,
)
QUICK_CONFIG = Config(
    rounds=2,
    n={"FULL": 25, "NORMAL": 40},
    pop=2_000,
    pending=500,
    tiers=(1_000, 10_000, 100_000),
    tier_rounds=1,
    tier_n={"FULL": 20, "NORMAL": 30},
    micro_repeats=2,
    micro_n=60,
    profile_flows=40,
    max_populate_seconds=30.0,
)
TARGET_FLOWS_PER_SECOND = 1_000.0


def variants() -> list[Variant]:
    out: list[Variant] = []
    for how in ("ist", "password", "direct"):
        for sync in SYNCS:
            out.append(Variant(f"{sync.lower()}_{how}", f"{LOGIN_LABELS[how]}, {sync}", sync, how))
    for sync in SYNCS:
        out.append(
            Variant(
                f"{sync.lower()}_password_timed",
                f"{LOGIN_LABELS['password']}, {sync}, store calls timed",
                sync,
                "password",
                timed_store=True,
            )
        )
    for sync in SYNCS:
        out.append(
            Variant(
                f"{sync.lower()}_password_nockpt",
                f"what-if: {LOGIN_LABELS['password']}, {sync}, wal_autocheckpoint=0",
                sync,
                "password",
                autocheckpoint=False,
            )
        )
    return out


def measure_pending(root: Path, key: rsa.RSAPrivateKey, password_hash: str, n: int) -> Pending:
    pdb = Db.create(root / "pending.db", key, password_hash)
    pdb.populate(n)
    size0, contents0, btrees0 = pdb.size(), pdb.contents(), pdb.btrees()
    t0 = time.perf_counter()
    run_flows(pdb, Variant("pending", "pending", "NORMAL", "password"), range(n), pending=True)
    seconds = time.perf_counter() - t0
    size1, contents1, btrees1 = pdb.size(), pdb.contents(), pdb.btrees()
    pdb.close()
    per_btree = sorted(
        ((name, (btrees1.get(name, 0) - btrees0.get(name, 0)) / n) for name in btrees1),
        key=lambda r: -r[1],
    )
    per_collection: list[tuple[str, float, float, float]] = []
    for name in sorted(set(contents0) | set(contents1)):
        r0, r1 = contents0.get(name, (0, 0, 0)), contents1.get(name, (0, 0, 0))
        rows_d, key_d, data_d = (r1[i] - r0[i] for i in range(3))
        if rows_d or key_d or data_d:
            per_collection.append((name, rows_d / n, key_d / n, data_d / n))
    return Pending(
        n=n,
        seconds=seconds,
        size_before=size0,
        size_after=size1,
        growth={k: (size1[k] - size0[k]) / n for k in size0},
        per_collection=per_collection,
        per_btree=per_btree,
    )


def measure_tiers(
    root: Path,
    key: rsa.RSAPrivateKey,
    password_hash: str,
    cfg: Config,
    rng: random.Random,
    out: common.Printer,
) -> tuple[list[Tier], list[tuple[int, float]]]:
    """The IST flow and the password flow on one file growing from 1k to 1M members."""
    sdb = Db.create(root / "scale.db", key, password_hash)
    tiers: list[Tier] = []
    skipped: list[tuple[int, float]] = []
    rate: float | None = None  # seconds per member at the last populate
    for tier in cfg.tiers:
        todo = tier - len(sdb.member_ids)
        if rate is not None and todo * rate > cfg.max_populate_seconds:
            skipped.append((tier, todo * rate))
            out.line(f"  skip {tier:,}: populating would take about {todo * rate:,.0f} s")
            break
        seconds = sdb.populate(tier)
        rate = seconds / todo
        size = sdb.size()
        out.line(f"  {tier:,} members: +{todo:,} in {seconds:.1f} s")
        series = [
            Series(Variant(f"{sync.lower()}_{how}", f"{how}, {sync}", sync, how), cfg.tier_n[sync])
            for how in ("ist", "password")
            for sync in SYNCS
        ]
        run_rounds(sdb, series, cfg.tier_rounds, rng, out.line, f"{tier:,} members")
        tiers.append(Tier(tier, todo, seconds, size, {s.variant.key: s for s in series}))
    sdb.close()
    return tiers, skipped


def profile_flows(
    root: Path, key: rsa.RSAPrivateKey, password_hash: str, n: int, rng: random.Random
) -> dict[str, dict[str, Any]]:
    """cProfile over untimed IST flows (the target's flow), per durability setting."""
    prdb = Db.create(root / "profile.db", key, password_hash)
    prdb.populate(n * 2)
    found: dict[str, dict[str, Any]] = {}
    for sync in SYNCS:
        v = Variant(f"profile_{sync}", sync, sync, "ist")
        members = rng.sample(range(len(prdb.member_ids)), n)
        run_flows(prdb, v, members[:10])
        prdb.recycle(members[:10])
        prdb.checkpoint("PASSIVE")
        gc.collect()
        with _profile.profiled() as prof:
            b = run_flows(prdb, v, members, collect=False)
        prdb.recycle(members)
        found[sync] = {
            "n": n,
            "ms_per_flow_under_profiler": b.seconds / b.n * 1e3,
            "top": _profile.top(prof, n, 16),
            "areas": _profile.areas(prof, n),
            "sampled": _profile.sampled(
                lambda v=v, members=members: run_flows(prdb, v, members, collect=False), n
            ),
        }
        prdb.recycle(members)
    prdb.close()
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer flows, rounds and tiers")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--profile", action="store_true", help="profile the flows even when the target is met"
    )
    args = parser.parse_args(argv)
    cfg = QUICK_CONFIG if args.quick else FULL_CONFIG
    out = common.Printer(170)
    rng = random.Random(20240601)
    wall0 = time.perf_counter()
    assert all(normalize_phone(p) == p for p in PHONES[:: len(PHONES) // 50])
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()

    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp:
        root = Path(tmp)
        info = common.machine_info(
            root,
            sqlite=sqlite3.sqlite_version,
            pydantic=pydantic.VERSION,
            bcrypt=getattr(bcrypt, "__version__", "?"),
            sources=common.source_digest(mfa_fsm, mfa_fsm_local),
        )
        out.line(
            f"mfa-fsm local provider benchmarks — Python {info['python']} on {info['cpu']} "
            f"(nproc {info['nproc']}), SQLite {info['sqlite']}, temp dir on "
            f"{info['temp_dir_filesystem']}; {'quick' if args.quick else 'full'} mode; "
            f"mfa_fsm + mfa_fsm_local sources sha256 {info['sources']}"
        )
        before = common.readings()

        out.line(f"part 1: {cfg.pop:,} members, {cfg.rounds} interleaved rounds…")
        db = Db.create(root / "flows.db", key, password_hash)
        db.populate(cfg.pop)
        series = [Series(v, cfg.n[v.sync]) for v in variants()]
        run_rounds(db, series, cfg.rounds, rng, out.line, "part 1")
        db.close()
        out.line("single calls…")
        micro = micro_benchmarks(root, key, password_hash, cfg.micro_repeats, cfg.micro_n)
        out.line(f"part 2: {cfg.pending:,} pending flows…")
        pending = measure_pending(root, key, password_hash, cfg.pending)
        out.line(f"part 3: stored members {', '.join(f'{t:,}' for t in cfg.tiers)}…")
        tiers, skipped = measure_tiers(root, key, password_hash, cfg, rng, out)
        by = {s.variant.key: s for s in series}
        headline = 1 / common.median(by["full_ist"].per_flow())
        profiles: dict[str, dict[str, Any]] = {}
        if headline < TARGET_FLOWS_PER_SECOND or args.profile:
            out.line("profiling (cProfile, untimed)…")
            profiles = profile_flows(root, key, password_hash, cfg.profile_flows, rng)
        after = common.readings()

    results = Results(
        quick=args.quick,
        config=cfg.__dict__,
        info=info,
        before=before,
        after=after,
        seconds=time.perf_counter() - wall0,
        series=series,
        micro=micro,
        pending=pending,
        tiers=tiers,
        skipped=skipped,
        profiles=profiles,
        target=TARGET_FLOWS_PER_SECOND,
    )
    print_report(out, results)
    if args.json:
        common.write_json(args.json, to_json(results), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
