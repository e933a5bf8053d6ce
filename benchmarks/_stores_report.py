"""The stores benchmark in the generated document: plots, tables, findings and targets.

Everything here reads the JSON `bench_stores.py` writes. Parts a run lacks (a store left
out, an older document without tiers or without min–max) are skipped, not guessed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import _doc
import _plots
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

LABELS = {
    "sqlite": "SQLite",
    "postgres": "PostgreSQL",
    "redis": "Redis",
    "routed": "routed (PostgreSQL + Redis)",
}
STYLES = {
    "sqlite": ("#1f5fa8", "o"),
    "postgres": ("#2e8b57", "s"),
    "redis": ("#c0392b", "^"),
    "routed": ("#8e44ad", "D"),
}
OPS = (("login", "login"), ("sms_send", "SMS send"), ("sms_authenticate", "SMS authenticate"))
MEMORY = (("routed", "routed store"), ("redis_only", "Redis alone"))
LIMIT = 600.0  # bytes of Redis memory per pending flow


def _tiers(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per store, its tiers by population size; {} for a document without tiers."""
    found = doc.get("tiers")
    if not isinstance(found, dict):
        return {}
    return {s: sorted(pts, key=lambda p: p["members"]) for s, pts in found.items() if pts}


def _label(store: str) -> str:
    return LABELS.get(store, store)


def _members_axis(ax: Axes) -> None:
    """Log scale with the ticks written out (1,000 rather than 10³)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    ax.set_xlabel("stored members (log scale)")


# ------------------------------------------------------------------ plots


def plots(doc: dict[str, Any], out_dir: Path) -> dict[str, Path | None]:
    """`stores_tiers.png` (flows/s vs members) and `stores_memory.png` (bytes per pending
    flow and per member vs members); None for a plot whose data is missing."""
    tiers = _tiers(doc)
    if not tiers:
        return {"tiers": None, "memory": None}
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "tiers": _plot_tiers(doc, tiers, out_dir / "stores_tiers.png"),
        "memory": _plot_memory(tiers, out_dir / "stores_memory.png"),
    }


def _plot_tiers(doc: dict[str, Any], tiers: dict[str, list[dict[str, Any]]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for store, pts in tiers.items():
        color, marker = STYLES.get(store, (_plots.OTHER, "o"))
        sums = [{"median": p["flows_per_second"], "min": p["min"], "max": p["max"]} for p in pts]
        ax.errorbar(
            [p["members"] for p in pts],
            [s["median"] for s in sums],
            yerr=_plots._errors(sums),
            label=_label(store),
            color=color,
            marker=marker,
            capsize=3,
        )
    _members_axis(ax)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("complete flows/s, one thread (median, bars: min-max)")
    ax.set_title("Stores: password + SMS flows/s vs stored members")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    args = doc.get("args", {})
    _plots._note(
        ax, f"{args.get('rounds', '?')} interleaved rounds of {args.get('flows', '?')} flows"
    )
    return _plots._save(fig, path)


def _plot_memory(tiers: dict[str, list[dict[str, Any]]], path: Path) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for store, pts in tiers.items():
        color, marker = STYLES.get(store, (_plots.OTHER, "o"))
        xs = [p["members"] for p in pts]
        for ax, key in ((left, "bytes_per_pending_flow"), (right, "bytes_per_member")):
            ax.plot(xs, [p[key] for p in pts], label=_label(store), color=color, marker=marker)
    left.set_title("storage added per pending flow")
    left.set_ylabel("bytes per pending flow")
    right.set_title("storage per stored member")
    right.set_ylabel("bytes per member")
    for ax in (left, right):
        _members_axis(ax)
        ax.set_ylim(bottom=0)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Stores: bytes on disk (SQLite, PostgreSQL) or in memory (Redis)", fontsize=11)
    return _plots._save(fig, path)


# ------------------------------------------------------------------ the document


def _span(s: dict[str, Any] | None, digits: int = 0) -> str:
    """'median (min–max)' of a summary."""
    if not s:
        return "–"
    return f"{_doc.num(s['median'], digits)} ({_doc.rng(s, digits=digits)})"


def section(doc: dict[str, Any], links: dict[str, str | None]) -> str:
    """Markdown for the generated "stores" block: tiers, Redis memory by key kind, latency."""
    out: list[str] = []
    args = doc.get("args", {})
    tiers = _tiers(doc)
    if tiers:
        out += [
            f"{args.get('rounds', '?')} interleaved rounds of {args.get('flows', '?'):,} complete "
            "flows per store and population (password login, bcrypt cost 4 → SMS send → SMS "
            "authenticate → session), one thread, on members not yet enrolled picked at random; "
            "flows/s as median (min–max) of the rounds, p50 / p99 from the median round. Storage "
            f"from {args.get('pending', '?'):,} pending flows (code sent, not answered): SQLite "
            "pages in use after a TRUNCATE checkpoint, PostgreSQL `pg_total_relation_size` of "
            "the store's tables after the writes committed (dead row versions included), Redis "
            "`MEMORY USAGE key SAMPLES 0` of the keys the flows added or changed; per member "
            "the same after populating (Redis: a sample of members' keys).",
            "",
            _doc.table(
                [
                    "store",
                    "members",
                    "flows/s",
                    *(f"{label} p50 / p99 ms" for _, label in OPS),
                    "B / pending flow",
                    "B / member",
                    "populate s",
                ],
                [_tier_row(store, p) for store, pts in tiers.items() for p in pts],
                "lr" + "r" * (len(OPS) + 4),
            ),
            "",
            _doc.image("flows/s vs stored members per store", links.get("tiers")),
            "",
            _doc.image("bytes per pending flow and per member", links.get("memory")),
            "",
        ]
    out += _memory_section(doc)
    out += _latency_section(doc)
    return "\n".join(out).rstrip("\n") + "\n" if out else "_No store results._\n"


def _tier_row(store: str, p: dict[str, Any]) -> list[str]:
    def ms(op: str) -> str:
        return f"{p['p50_ms'].get(op, 0):,.2f} / {p['p99_ms'].get(op, 0):,.2f}"

    fps = {"median": p["flows_per_second"], "min": p["min"], "max": p["max"]}
    return [
        _label(store),
        _doc.num(p["members"]),
        _span(fps),
        *(ms(op) for op, _ in OPS),
        _doc.num(p["bytes_per_pending_flow"]),
        _doc.num(p["bytes_per_member"]),
        _doc.num(p["populate_seconds"], 1),
    ]


def _summaries(m: dict[str, Any]) -> dict[str, Any]:
    """Min–max summaries of a memory result; an older one-run document gives median = min = max."""
    if "summaries" in m:
        return dict(m["summaries"])
    one: dict[str, Any] = {
        k: {"median": v, "min": v, "max": v} for k, v in m.items() if isinstance(v, int | float)
    }
    one["by_kind"] = {
        k: {"median": v, "min": v, "max": v} for k, v in m.get("bytes_per_flow_by_kind", {}).items()
    }
    return one


def _rounds(n: int) -> str:
    return f"{n} round" + ("" if n == 1 else "s")


def _memory_section(doc: dict[str, Any]) -> list[str]:
    found = {key: _summaries(doc[key]) for key, _ in MEMORY if doc.get(key)}
    if not found:
        return []
    first = doc[next(iter(found))]
    metrics = (
        ("bytes_per_flow_all_keys", "**all keys**"),
        ("bytes_per_flow_documents", "documents"),
        ("used_memory_growth_per_flow", "`used_memory` growth (noisy cross-check)"),
    )
    rows = [[label, *(_span(s.get(m)) for s in found.values())] for m, label in metrics]
    kinds = sorted({k for s in found.values() for k in s["by_kind"]})
    rows += [[f"`{k}`", *(_span(s["by_kind"].get(k)) for s in found.values())] for k in kinds]
    return [
        f"Redis memory per pending flow: {first.get('flows', 0):,} members created through the "
        f"API, each with a pending flow, in a fresh namespace; {_rounds(first.get('rounds', 1))}, "
        "bytes per flow as median (min–max).",
        "",
        _doc.table(["key kind", *(label for key, label in MEMORY if key in found)], rows),
        "",
    ]


def _latency_section(doc: dict[str, Any]) -> list[str]:
    lat: dict[str, Any] = doc.get("latency", {})
    if not lat:
        return []
    rows = []
    for store, v in lat.items():
        put = v.get("put_us_summary") or {
            "median": v["put_us"],
            "min": v["put_us"],
            "max": v["put_us"],
        }
        get = v.get("get_us_summary") or {
            "median": v["get_us"],
            "min": v["get_us"],
            "max": v["get_us"],
        }
        rows.append([_label(store), _span(put, 1), _span(get, 1)])
    calls = next(iter(lat.values())).get("calls")
    return [
        "One `put` (compare-and-set) and one `get`, one thread"
        + (f", {calls:,} calls per round" if calls else "")
        + "; median µs per call (min–max of the rounds' medians).",
        "",
        _doc.table(["store", "put µs", "get µs"], rows),
        "",
    ]


# ------------------------------------------------------------------ findings and targets


def findings(doc: dict[str, Any]) -> list[str]:
    """One-line findings computed from the data."""
    out: list[str] = []
    tiers = _tiers(doc)
    for store, pts in tiers.items():
        lo, hi = pts[0], pts[-1]
        if len(pts) > 1 and lo["flows_per_second"]:
            change = (hi["flows_per_second"] / lo["flows_per_second"] - 1) * 100
            out.append(
                f"From {lo['members']:,} to {hi['members']:,} members, {_label(store)} went from "
                f"{lo['flows_per_second']:,.0f} to {hi['flows_per_second']:,.0f} flows/s "
                f"({change:+.0f}%)."
            )
    largest = [(s, pts[-1]) for s, pts in tiers.items()]
    if largest:
        size = max(p["members"] for _, p in largest)
        at = sorted(
            ((s, p) for s, p in largest if p["members"] == size),
            key=lambda sp: -sp[1]["flows_per_second"],
        )
        ranked = ", ".join(f"{_label(s)} {p['flows_per_second']:,.0f}" for s, p in at)
        out.append(f"At {size:,} members, flows/s by store: {ranked}.")
        storage = ", ".join(
            f"{_label(s)} {p['bytes_per_pending_flow']:,.0f} B" + _by_server(p) for s, p in at
        )
        out.append(f"Storage per pending flow at {size:,} members: {storage}.")
    for key, label in MEMORY:
        m = doc.get(key)
        if not m:
            continue
        kinds = sorted(m.get("bytes_per_flow_by_kind", {}).items(), key=lambda kv: -kv[1])
        top = ", ".join(f"{k} {v:,.0f} B" for k, v in kinds[:3] if v)
        s = _summaries(m).get("bytes_per_flow_all_keys")
        out.append(
            f"Redis, {label}: {_span(s)} B per pending flow (all keys); largest kinds: {top}."
        )
    return out


def _by_server(p: dict[str, Any]) -> str:
    parts = p.get("pending_bytes_by_server", {})
    if len(parts) < 2:
        return ""
    return " (" + " + ".join(f"{_label(k)} {v:,.0f}" for k, v in parts.items()) + ")"


def targets(doc: dict[str, Any]) -> list[tuple[str, float, float, bool, str]]:
    """Redis memory per pending flow (all keys, median of rounds) against 600 B."""
    found = []
    for key, label in MEMORY:
        m = doc.get(key)
        if m and "bytes_per_flow_all_keys" in m:
            measured = float(m["bytes_per_flow_all_keys"])
            found.append((f"Redis memory per pending flow, {label}", measured, LIMIT, False, "B"))
    return found
