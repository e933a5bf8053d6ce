"""The arithmetic behind each missed target, computed from the same run's results.

Written as sentences for docs/benchmarks.md, so the explanation of a miss always quotes
the figures of the run it sits next to, never those of an older one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def _flow_us(doc: dict[str, Any], key: str) -> float:
    return float(doc["flows"][key]["median_seconds_per_flow"]) * 1e6


def core(doc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    ours = _flow_us(doc, "ours")
    events = _flow_us(doc, "events_only")
    dict_table = _flow_us(doc, "dict")
    per_flow_machine = _flow_us(doc, "transitions_per_flow")
    budget = 1e6 / 40_000
    out.append(
        f"Engine, 40,000 flows/s: the budget is {budget:.0f} µs per flow; ours takes "
        f"{ours:.1f} µs. Building the four pydantic events alone takes {events:.1f} µs "
        f"({events / ours * 100:.0f}% of our flow), and the hand-written dict table doing "
        f"the same work takes {dict_table:.1f} µs ({1e6 / dict_table:,.0f} flows/s), so even "
        f"the simplest table with validated events and effects is "
        f"{dict_table / budget:.2f}× over the budget."
    )
    out.append(
        f"Engine, 10× a `transitions.Machine` built per flow: that machine takes "
        f"{per_flow_machine:.1f} µs per flow, so 10× needs ours at "
        f"{per_flow_machine / 10:.1f} µs or less, "
        + (
            "below what building the four events alone costs."
            if per_flow_machine / 10 < events
            else f"which leaves {per_flow_machine / 10 - events:.1f} µs after building the events."
        )
    )
    return out


def local(doc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    series = doc["series"]
    single = doc.get("single_calls_us", {})
    fsync = next((v["median"] for k, v in single.items() if k.startswith("os.fsync")), None)
    for sync in ("full", "normal"):
        ist = series[f"{sync}_ist"]
        ms = ist["seconds_per_flow"]["median"] * 1e3
        cpu = ist["cpu_seconds_per_flow"]["median"] * 1e3
        sign = ist["sign_seconds_per_flow"]["median"] * 1e3
        text = (
            f"Provider, {sync.upper()}, flow from an IST: {ms:.2f} ms per flow against a 1 ms "
            f"budget; the thread's CPU time is {cpu:.2f} ms of it (JWT signing {sign:.2f} ms)"
        )
        timed = series.get(f"{sync}_password_timed")
        if timed:
            parts = timed["parts_seconds_per_flow"]
            commit = parts["store.commit"]["median"] * 1e3
            calls = timed["store_calls_per_flow"].get("commit", 0)
            whole = timed["seconds_per_flow"]["median"] * 1e3
            text += (
                f"; in the complete flow with password login, {calls:g} COMMITs take "
                f"{commit:.2f} ms of {whole:.2f} ms ({commit / whole * 100:.0f}%)"
            )
        out.append(text + ".")
    if fsync is not None:
        out.append(
            f"One `fsync` of a 4 KiB write on this disk alone takes {fsync / 1e3:.2f} ms "
            f"(median): with two commits per flow from an IST and no CPU work at all, fsync "
            f"alone would bound FULL on one thread at {1e6 / (2 * fsync):,.0f} flows/s."
        )
    tiers = doc.get("tiers", [])
    if len(tiers) >= 2:
        first, last = tiers[0], tiers[-1]
        for key in ("full_ist", "normal_ist"):
            a = first["series"][key]["flows_per_second"]["median"]
            b = last["series"][key]["flows_per_second"]["median"]
            out.append(
                f"From {first['members']:,} to {last['members']:,} stored members, "
                f"the flow from an IST on {key.split('_')[0].upper()} went from "
                f"{a:,.0f} to {b:,.0f} flows/s ({(b / a - 1) * 100:+.0f}%)."
            )
    return out


def _spread(s: dict[str, Any], digits: int = 2, unit: str = "") -> str:
    """'median unit (rounds min–max)'."""
    low, high = f"{s['min']:,.{digits}f}", f"{s['max']:,.{digits}f}"
    return f"{s['median']:,.{digits}f}{unit} (rounds {low}–{high})"


def http(doc: dict[str, Any]) -> list[str]:
    rows = doc.get("rows", [])
    parts = doc.get("breakdown_ms", {})
    out: list[str] = []
    least = min((x["concurrency"] for x in rows), default=0)
    one = {r["scenario"]: r for r in rows if r["concurrency"] == least}
    if "bare" in one and "sessions.authenticate" in one:
        bare, ours = one["bare"]["spread"], one["sessions.authenticate"]["spread"]
        out.append(
            f"HTTP, one client, p50 (median of rounds): the bare endpoint answers in "
            f"{_spread(bare['p50_ms'], unit=' ms')}, `sessions.authenticate` in "
            f"{_spread(ours['p50_ms'], unit=' ms')}; its req/s is "
            f"{_spread(ours['ratio'], unit='×')} the bare endpoint's in the same round."
        )
    if parts:
        described = "; ".join(f"{k} {v:.3f} ms" for k, v in parts.items())
        out.append(f"`sessions.authenticate` in-process, per call: {described}.")
    return out


def instances(doc: dict[str, Any]) -> list[str]:
    found = {r["setup"]: r for r in doc.get("results", [])}
    if "sqlite" not in found or "routed" not in found:
        return []
    one, two = found["sqlite"]["spread"], found["routed"]["spread"]
    ratio = two["flows_per_s"]["median"] / one["flows_per_s"]["median"]
    slowest = max(two["p50_ms"], key=lambda c: two["p50_ms"][c]["median"], default=None)
    text = (
        f"Several instances: two processes on PostgreSQL + Redis complete "
        f"{_spread(two['flows_per_s'], 1)} logins/s against {_spread(one['flows_per_s'], 1)} "
        f"for one process on SQLite ({ratio:.2f}×) on this machine, where the database "
        "servers share the same cores"
    )
    if slowest:
        text += (
            f"; the slowest call on the routed store is `{slowest}` at "
            f"{two['p50_ms'][slowest]['median']:.1f} ms p50"
        )
    return [text + "."]


Finder = Callable[[dict[str, Any]], list[str]]


def findings(docs: dict[str, dict[str, Any]], more: Mapping[str, Finder] | None = None) -> str:
    """Every area's sentences; `more` adds areas whose arithmetic lives in another module."""
    lines: list[str] = []
    makers: dict[str, Finder] = {
        "core": core,
        "local": local,
        "http": http,
        "instances": instances,
        **(more or {}),
    }
    for name, make in makers.items():
        doc = docs.get(name)
        if not doc:
            continue
        try:
            lines += make(doc)
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            lines.append(f"({name}: results could not be read: {type(exc).__name__} {exc})")
    return "\n".join(f"- {line}" for line in lines) or "_No results to explain._"
