"""Store benchmarks: Redis memory per pending flow, and one compare-and-set per store.

Run:  python benchmarks/bench_stores.py [--flows N] [--json PATH]
      (servers from MFA_FSM_TEST_POSTGRES_URL / MFA_FSM_TEST_REDIS_URL, or --postgres/--redis)

1. Memory per pending flow: N members of an organization with `REQUIRED_FOR_ALL`, each
   logged in by password (IST issued) and sent an SMS code to enroll (flow waiting for the
   code), none authenticated. For the routed store (PostgreSQL for records and logs, Redis
   for flow state) and for Redis alone, `MEMORY USAGE key SAMPLES 0` of every key in the
   store's namespace, summed per collection and divided by N. `used_memory` growth (INFO)
   over the same run is printed beside it as a cross-check; it is noisy when others share
   the server.
2. Latency of one `put` (compare-and-set) and one `get` per store, median of a few thousand
   calls in one thread: memory, SQLite (FULL), PostgreSQL, Redis.

Every store lives in its own schema / namespace, dropped at the end. This is a script, not
a test: nothing here asserts a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

import bcrypt
import psycopg
import redis

from mfa_fsm_local._keys import Keyring
from mfa_fsm_local._ports import ManualClock, Message
from mfa_fsm_local._store import Store
from mfa_fsm_local.provider import LocalProvider
from mfa_fsm_local.stores import open_store

POSTGRES = os.environ.get("MFA_FSM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("MFA_FSM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "correct horse battery staple"


class Dropped:
    """A sender that keeps nothing: the benchmark needs no codes."""

    def send(self, message: Message) -> None:
        pass


@contextmanager
def schema(postgres: str) -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{postgres}{'&' if '?' in postgres else '?'}schema={name}"
    finally:
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@contextmanager
def namespace(client: redis.Redis, url: str) -> Iterator[tuple[str, str]]:
    name = f"bench-{uuid.uuid4().hex[:12]}"
    try:
        yield f"{url}{'&' if '?' in url else '?'}namespace={name}", name
    finally:
        keys = list(client.scan_iter(match=f"{name}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.unlink(*keys[start : start + 1000])


def pending_flows(store: Store, n: int) -> None:
    """N members, each with an IST and an SMS code sent: flows waiting for the code."""
    p = LocalProvider(
        store, Keyring.from_master(os.urandom(32)), clock=ManualClock(time.time()), sms=Dropped()
    )
    org = p.organizations_create("Acme", "acme", mfa_policy="REQUIRED_FOR_ALL")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    for i in range(n):
        email = f"member{i}@example.com"
        member = p.passwords_migrate(org.organization_id, email, hashed, "bcrypt")
        ist = p.passwords_authenticate(org.organization_id, email, PASSWORD)
        p.otps_sms_send(
            org.organization_id,
            member.member_id,
            mfa_phone_number=f"+1415555{i % 10000:04d}",
            intermediate_session_token=ist.intermediate_session_token,
        )


def info(client: redis.Redis, section: str) -> dict[str, Any]:
    return cast("dict[str, Any]", client.info(section))


def memory_by_kind(client: redis.Redis, name: str) -> dict[str, int]:
    """Bytes per key kind: documents by collection, streams and indexes by log."""
    found: dict[str, int] = defaultdict(int)
    for raw in client.scan_iter(match=f"{name}:*", count=1000):
        key = raw.decode()
        parts = key[len(name) + 1 :].split(":")
        kind = {"d": "doc", "l": "log", "m": "member index"}.get(parts[0], "counter")
        label = f"{kind} {unquote(parts[1])}" if len(parts) > 1 else kind
        found[label] += cast("int | None", client.memory_usage(raw, samples=0)) or 0
    return dict(found)


def memory_per_flow(client: redis.Redis, url: str, n: int) -> dict[str, Any]:
    before = int(info(client, "memory")["used_memory"])
    store = open_store(url)
    try:
        pending_flows(store, n)
    finally:
        store.close()
    grown = int(info(client, "memory")["used_memory"]) - before
    redis_part = url.split("|")[-1]
    name = redis_part.split("namespace=")[1].split("&")[0]
    kinds = memory_by_kind(client, name)
    flow_state = sum(v for k, v in kinds.items() if k.startswith("doc "))
    return {
        "flows": n,
        "bytes_per_flow_documents": round(flow_state / n),
        "bytes_per_flow_all_keys": round(sum(kinds.values()) / n),
        "used_memory_growth_per_flow": round(grown / n),
        "bytes_per_flow_by_kind": {k: round(v / n) for k, v in sorted(kinds.items())},
    }


def latency(store: Store, rounds: int) -> dict[str, float]:
    """Median microseconds of one put (update by version) and one get."""
    version = store.put("bench", "k", '{"n": 0}', 0)
    puts, gets = [], []
    for i in range(rounds):
        t0 = time.perf_counter()
        version = store.put("bench", "k", f'{{"n": {i}}}', version)
        t1 = time.perf_counter()
        store.get("bench", "k")
        t2 = time.perf_counter()
        puts.append(t1 - t0)
        gets.append(t2 - t1)
    return {
        "put_us": round(statistics.median(puts) * 1e6, 1),
        "get_us": round(statistics.median(gets) * 1e6, 1),
    }


def machine(client: redis.Redis, postgres: str) -> dict[str, str]:
    with psycopg.connect(postgres) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
        "redis": str(info(client, "server")["redis_version"]),
        "postgresql": str(row[0] if row else "?"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--postgres", default=POSTGRES)
    parser.add_argument("--redis", default=REDIS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    client = redis.Redis.from_url(args.redis)
    report: dict[str, Any] = {"machine": machine(client, args.postgres)}
    print(json.dumps(report["machine"]))

    with schema(args.postgres) as pg, namespace(client, args.redis) as (rd, _):
        report["routed"] = memory_per_flow(client, f"{pg}|{rd}", args.flows)
    print("routed (PostgreSQL + Redis):", json.dumps(report["routed"], indent=2))
    with namespace(client, args.redis) as (rd, _):
        report["redis_only"] = memory_per_flow(client, rd, args.flows)
    print("Redis alone:", json.dumps(report["redis_only"], indent=2))

    report["latency"] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        schema(args.postgres) as pg,
        namespace(client, args.redis) as (rd, _),
    ):
        urls = {
            "memory": "memory://",
            "sqlite": f"sqlite:///{Path(tmp) / 'bench.db'}",
            "postgres": pg,
            "redis": rd,
        }
        for label, url in urls.items():
            store = open_store(url)
            try:
                report["latency"][label] = latency(store, args.rounds)
            finally:
                store.close()
            print(label, report["latency"][label])
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
