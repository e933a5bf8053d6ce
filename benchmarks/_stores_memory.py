"""Redis memory per pending flow, by key kind, for the routed store and Redis alone: members
created through the API in a fresh namespace, each left waiting for its SMS code. Separate
from the tiers because it builds its own stores and reads Redis key by key.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import unquote

import _common as common
import redis
from _local_db import PASSWORD, PHONES, CapturingSender, email_for
from _stores_target import HASH, Servers

from mfa_fsm_local._keys import Keyring
from mfa_fsm_local._ports import ManualClock
from mfa_fsm_local._store import Store
from mfa_fsm_local.provider import LocalProvider
from mfa_fsm_local.stores import open_store


def api_pending_flows(store: Store, n: int) -> None:
    """n members created through the API, each with an IST and an SMS code sent."""
    p = LocalProvider(
        store,
        Keyring.from_master(os.urandom(32)),
        clock=ManualClock(time.time()),
        sms=CapturingSender(),
    )
    org = p.organizations_create("Acme", "acme", mfa_policy="REQUIRED_FOR_ALL")
    for i in range(n):
        member = p.passwords_migrate(org.organization_id, email_for(i), HASH, "bcrypt")
        ist = p.passwords_authenticate(org.organization_id, email_for(i), PASSWORD)
        p.otps_sms_send(
            org.organization_id,
            member.member_id,
            mfa_phone_number=PHONES[i % 10_000],
            intermediate_session_token=ist.intermediate_session_token,
        )


def memory_by_kind(client: redis.Redis, name: str) -> dict[str, int]:
    """Bytes per key kind: documents by collection, streams and indexes by log."""
    found: dict[str, int] = defaultdict(int)
    keys = list(cast("Iterator[bytes]", client.scan_iter(match=f"{name}:*", count=1000)))
    pipe = client.pipeline(transaction=False)
    for raw in keys:
        pipe.memory_usage(raw, samples=0)
    for raw, used in zip(keys, pipe.execute(), strict=True):
        parts = raw.decode()[len(name) + 1 :].split(":")
        kind = {"d": "doc", "l": "log", "m": "member index"}.get(parts[0], "counter")
        found[f"{kind} {unquote(parts[1])}" if len(parts) > 1 else kind] += int(used or 0)
    return dict(found)


def memory_round(srv: Servers, routed: bool, n: int) -> dict[str, Any]:
    used = int(cast("dict[str, Any]", srv.client.info("memory"))["used_memory"])
    pg, schema = srv.pg() if routed else ("", "")
    rd, name = srv.rd()
    try:
        store = open_store(f"{pg}|{rd}" if routed else rd)
        try:
            api_pending_flows(store, n)
        finally:
            store.close()
        grown = int(cast("dict[str, Any]", srv.client.info("memory"))["used_memory"]) - used
        kinds = memory_by_kind(srv.client, name)
    finally:
        srv.drop(name)
        if schema:
            srv.drop(schema)
    return {
        "bytes_per_flow_documents": sum(v for k, v in kinds.items() if k.startswith("doc ")) / n,
        "bytes_per_flow_all_keys": sum(kinds.values()) / n,
        "used_memory_growth_per_flow": grown / n,
        "by_kind": {k: v / n for k, v in sorted(kinds.items())},
    }


def memory_per_flow(srv: Servers, n: int, rounds: int) -> dict[str, dict[str, Any]]:
    """Routed and Redis alone, `rounds` times each: medians, with every round's summary."""
    runs: dict[str, list[dict[str, Any]]] = {"routed": [], "redis_only": []}
    for r in range(rounds):
        for key in common.rotated(list(runs), r):
            runs[key].append(memory_round(srv, key == "routed", n))
    out: dict[str, dict[str, Any]] = {}
    for key, found in runs.items():
        metrics = (
            "bytes_per_flow_documents",
            "bytes_per_flow_all_keys",
            "used_memory_growth_per_flow",
        )
        kinds = sorted({k for f in found for k in f["by_kind"]})
        by_kind = {k: common.summary([f["by_kind"].get(k, 0) for f in found]) for k in kinds}
        summaries = {m: common.summary([f[m] for f in found]) for m in metrics}
        out[key] = {"flows": n, "rounds": rounds}
        out[key] |= {m: round(s["median"]) for m, s in summaries.items()}
        out[key]["bytes_per_flow_by_kind"] = {k: round(s["median"]) for k, s in by_kind.items()}
        out[key]["summaries"] = summaries | {"by_kind": by_kind}
    return out


def show_memory(out: common.Printer, report: dict[str, Any]) -> None:
    routed, alone = report["routed"]["summaries"], report["redis_only"]["summaries"]

    def cell(s: dict[str, Any] | None) -> str:
        return "-" if s is None else f"{s['median']:,.0f} ({s['min']:,.0f}–{s['max']:,.0f})"

    rows = [
        [m.replace("_", " "), cell(routed[m]), cell(alone[m])]
        for m in (
            "bytes_per_flow_all_keys",
            "bytes_per_flow_documents",
            "used_memory_growth_per_flow",
        )
    ]
    kinds = sorted({*routed["by_kind"], *alone["by_kind"]})
    rows += [[k, cell(routed["by_kind"].get(k)), cell(alone["by_kind"].get(k))] for k in kinds]
    out.table(
        f"Redis bytes per pending flow ({report['routed']['flows']:,} flows, median (min–max))",
        ["what", "routed", "Redis alone"],
        rows,
    )
