"""Latency of one `put` (compare-and-set) and one `get` on each store, in interleaved rounds:
the cost of a single store call without any flow around it, apart from the flow measures.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections import defaultdict
from typing import Any

import _common as common
from _stores_target import Servers

from mfa_fsm_local._store import Store
from mfa_fsm_local.stores import open_store


def latency(store: Store, calls: int) -> tuple[float, float]:
    """Median seconds of one put (update by version) and one get."""
    key = uuid.uuid4().hex
    version = store.put("bench", key, '{"n": 0}', 0)
    puts, gets = [], []
    for i in range(calls):
        t0 = time.perf_counter()
        version = store.put("bench", key, f'{{"n": {i}}}', version)
        t1 = time.perf_counter()
        store.get("bench", key)
        puts.append(t1 - t0)
        gets.append(time.perf_counter() - t1)
    return statistics.median(puts), statistics.median(gets)


def latencies(srv: Servers, calls: int, rounds: int) -> dict[str, dict[str, Any]]:
    urls = {
        "memory": "memory://",
        "sqlite": f"sqlite:///{srv.tmp / 'latency.db'}",
        "postgres": srv.pg()[0],
        "redis": srv.rd()[0],
    }
    stores = {name: open_store(url) for name, url in urls.items()}
    runs: dict[str, list[tuple[float, float]]] = defaultdict(list)
    try:
        for store in stores.values():  # warm-up: connections, statement caches
            latency(store, max(10, calls // 10))
        for r in range(rounds):
            for name in common.rotated(list(stores), r):
                runs[name].append(latency(stores[name], calls))
    finally:
        for store in stores.values():
            store.close()
    out: dict[str, dict[str, Any]] = {}
    for name, found in runs.items():
        put = common.summary([p * 1e6 for p, _ in found])
        get = common.summary([g * 1e6 for _, g in found])
        out[name] = {
            "put_us": round(put["median"], 1),
            "get_us": round(get["median"], 1),
            "put_us_summary": put,
            "get_us_summary": get,
            "calls": calls,
        }
    return out
