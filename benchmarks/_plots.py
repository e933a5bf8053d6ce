"""PNG plots of the suite's results: how each cost grows with size or load (matplotlib, Agg).

Every function takes one script's JSON document and writes one PNG, or returns None when
the document lacks what the plot needs (a script that failed or was not run).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

DPI = 110
OURS = "#1f5fa8"
OTHER = "#9aa5b1"
TARGET = "#c0392b"


def _errors(summaries: Sequence[dict[str, Any]], scale: float = 1.0) -> list[list[float]]:
    """Matplotlib's asymmetric error bars from median/min/max summaries."""
    lows = [(s["median"] - s["min"]) * scale for s in summaries]
    highs = [(s["max"] - s["median"]) * scale for s in summaries]
    return [lows, highs]


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _note(ax: Axes, text: str) -> None:
    ax.text(
        0.99, 0.01, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="#555"
    )


def core_per_event(doc: dict[str, Any], path: Path) -> Path | None:
    """µs per event for our engine and every baseline (median, min-max bars)."""
    flows: dict[str, Any] = doc.get("flows", {})
    if not flows:
        return None
    items = sorted(flows.items(), key=lambda kv: kv[1]["median_us_per_event"])
    labels = [v["label"] for _, v in items]
    medians = [v["median_us_per_event"] for _, v in items]
    lows = [
        v["median_us_per_event"] - min(v["seconds_per_flow"]) / v["events_per_flow"] * 1e6
        for _, v in items
    ]
    highs = [
        max(v["seconds_per_flow"]) / v["events_per_flow"] * 1e6 - v["median_us_per_event"]
        for _, v in items
    ]
    colors = [OURS if k.startswith("ours") else OTHER for k, _ in items]
    fig, ax = plt.subplots(figsize=(8.5, 0.45 * len(items) + 1.4))
    ax.barh(labels, medians, xerr=[lows, highs], color=colors, capsize=3)
    for y, (m, hi) in enumerate(zip(medians, highs, strict=True)):
        ax.text(m + hi, y, f"  {m:,.1f}", va="center", fontsize=8)
    ax.set_xscale("log")
    ax.margins(x=0.15)
    ax.set_xlabel("µs per event (log scale; median of rounds, bars: min-max)")
    ax.set_title("Engine: cost per event, ours (blue) vs baselines, 4-event MFA flow")
    ax.invert_yaxis()
    _note(ax, f"{doc.get('rounds', '?')} interleaved rounds, {doc.get('mode', '')} mode")
    return _save(fig, path)


def checker(doc: dict[str, Any], path: Path) -> Path | None:
    """Seconds and states against depth; seconds against the number of custom rules."""
    depths: list[dict[str, Any]] = doc.get("depths", [])
    rules: list[dict[str, Any]] = doc.get("by_rules", [])
    if not depths:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), width_ratios=[2, 1])
    xs = [d["depth"] for d in depths]
    secs = [d["seconds"] for d in depths]
    left.errorbar(
        xs,
        [s["median"] for s in secs],
        yerr=_errors(secs),
        marker="o",
        color=OURS,
        capsize=3,
        label="seconds",
    )
    left.axhline(30, color=TARGET, linestyle="--", linewidth=1, label="target at depth 8: 30 s")
    left.set_xticks(xs)
    left.set_ylim(bottom=0)
    left.set_xlabel("depth (events per path)")
    left.set_ylabel("seconds (median, bars: min-max)")
    left.set_title("mfa-fsm check: time and states vs depth")
    twin = left.twinx()
    twin.plot(xs, [d["states"] for d in depths], marker="s", color="#e67e22", label="states")
    twin.set_ylabel("distinct states explored")
    twin.set_ylim(bottom=0)
    lines = left.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    left.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8)
    if rules:
        counts = [str(r["rules"]) for r in rules]
        rsecs = [r["seconds"] for r in rules]
        right.bar(counts, [s["median"] for s in rsecs], yerr=_errors(rsecs), color=OURS, capsize=4)
        right.set_xlabel("custom rules")
        right.set_ylabel("seconds")
        right.set_title(f"custom rules at depth {rules[0]['depth']}")
        for i, r in enumerate(rules):
            right.text(i, r["seconds"]["median"], f"{r['states']:,}\nstates", ha="center",
                       va="bottom", fontsize=7)  # fmt: skip
        right.margins(y=0.25)
    else:
        right.axis("off")
    return _save(fig, path)


LOCAL_LINES = (
    ("full_ist", "from IST, FULL", "-", OURS),
    ("normal_ist", "from IST, NORMAL", "--", OURS),
    ("full_password", "password login, FULL", "-", "#7f8c8d"),
    ("normal_password", "password login, NORMAL", "--", "#7f8c8d"),
)


def local_members(doc: dict[str, Any], path: Path, target: float) -> Path | None:
    """Flows/s against stored members (log scale) for the IST and the password flows."""
    tiers: list[dict[str, Any]] = doc.get("tiers", [])
    if not tiers:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    xs = [t["members"] for t in tiers]
    for key, label, style, color in LOCAL_LINES:
        sums = [t["series"][key]["flows_per_second"] for t in tiers if key in t["series"]]
        if len(sums) != len(xs):
            continue
        ax.errorbar(
            xs,
            [s["median"] for s in sums],
            yerr=_errors(sums),
            label=label,
            linestyle=style,
            color=color,
            marker="o",
            capsize=3,
        )
    ax.axhline(target, color=TARGET, linestyle=":", linewidth=1, label=f"target {target:,.0f}/s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("stored members (log scale)")
    ax.set_ylabel("complete flows/s, one thread (log scale)")
    ax.set_title("Local provider on SQLite: throughput vs stored members")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, path)


def local_latency(doc: dict[str, Any], path: Path) -> Path | None:
    """p50 and p99 per operation for the main variants (medians over rounds)."""
    series: dict[str, Any] = doc.get("series", {})
    bars: list[tuple[str, float, float]] = []
    for key, label, _, _ in LOCAL_LINES:
        for op, stats in series.get(key, {}).get("ops", {}).items():
            bars.append((f"{label}: {op}", stats["p50"]["median"], stats["p99"]["median"]))
    if not bars:
        return None
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * len(bars) + 1.4))
    ys = range(len(bars))
    ax.barh([y + 0.2 for y in ys], [b[1] * 1e3 for b in bars], height=0.4, color=OURS,
            label="p50")  # fmt: skip
    ax.barh([y - 0.2 for y in ys], [b[2] * 1e3 for b in bars], height=0.4, color=OTHER,
            label="p99")  # fmt: skip
    ax.set_yticks(list(ys), [b[0] for b in bars], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ms per call (median over rounds)")
    ax.set_title("Local provider: p50 / p99 per operation")
    ax.legend(fontsize=8)
    return _save(fig, path)


def http(doc: dict[str, Any], path: Path) -> Path | None:
    """Requests/s and p99 latency against concurrent clients, per scenario (median of
    rounds, bars: min-max)."""
    rows: list[dict[str, Any]] = doc.get("rows", [])
    if not rows:
        return None
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    for name in scenarios:
        mine = sorted((r for r in rows if r["scenario"] == name), key=lambda r: r["concurrency"])
        xs = [r["concurrency"] for r in mine]
        color = OTHER if name == "bare" else None
        label = "bare Starlette endpoint" if name == "bare" else name
        for ax, key in ((left, "rps"), (right, "p99_ms")):
            sums = [r["spread"][key] for r in mine]
            ax.errorbar(
                xs,
                [s["median"] for s in sums],
                yerr=_errors(sums),
                marker="o",
                label=label,
                color=color,
                capsize=3,
            )
    for ax, title, unit in (
        (left, "throughput", "requests/s"),
        (right, "p99 latency", "ms (p99, log scale)"),
    ):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({r["concurrency"] for r in rows}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("concurrent clients (keep-alive connections)")
        ax.set_ylabel(unit)
        ax.set_title(f"HTTP: {title} vs concurrency")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    left.set_ylim(bottom=0)
    right.set_yscale("log")
    _note(left, f"median of {rows[0].get('rounds', '?')} rounds, bars: min-max")
    return _save(fig, path)


INSTANCE_LABELS = {"sqlite": "SQLite,\n1 process", "routed": "PostgreSQL + Redis,\n2 processes"}


def instances(doc: dict[str, Any], path: Path) -> Path | None:
    """Complete logins/s per setup, and each call's p50, medians of rounds with min-max bars."""
    results: list[dict[str, Any]] = doc.get("results", [])
    if not results:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), width_ratios=[1, 1.6])
    labels = [INSTANCE_LABELS.get(r["setup"], r["setup"]) for r in results]
    fps = [r["spread"]["flows_per_s"] for r in results]
    colors = [OURS if r["setup"] == "routed" else OTHER for r in results]
    left.bar(labels, [s["median"] for s in fps], yerr=_errors(fps), color=colors, capsize=5)
    for x, s in enumerate(fps):
        left.text(x, s["max"], f"{s['median']:,.1f}\n", ha="center", va="bottom", fontsize=8)
    left.margins(y=0.2)
    left.set_ylabel("complete logins/s (median, bars: min-max)")
    left.set_title("Several instances: logins/s")
    calls = list(dict.fromkeys(c for r in results for c in r["spread"]["p50_ms"]))
    width = 0.8 / len(results)
    for i, (r, color) in enumerate(zip(results, colors, strict=True)):
        sums = [r["spread"]["p50_ms"][c] for c in calls]
        xs = [x + (i - (len(results) - 1) / 2) * width for x in range(len(calls))]
        label = INSTANCE_LABELS.get(r["setup"], r["setup"]).replace("\n", " ")
        right.bar(xs, [s["median"] for s in sums], width=width, yerr=_errors(sums),
                  color=color, capsize=3, label=label)  # fmt: skip
    right.set_xticks(range(len(calls)), calls, fontsize=8)
    right.set_ylabel("ms per call, p50 (median, bars: min-max)")
    args = doc.get("args", {})
    right.set_title(f"p50 latency per call, {args.get('concurrency', '?')} logins in flight")
    right.legend(fontsize=8)
    rounds = args.get("rounds", "?")
    left.set_xlabel(
        f"{args.get('flows', '?')} logins per setup and round, {rounds} round{'s' * (rounds != 1)}",
        fontsize=8,
    )
    return _save(fig, path)
