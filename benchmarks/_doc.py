"""Markdown for `docs/benchmarks.md`: the generated blocks, rebuilt from the scripts' JSON.

The document keeps its hand-written prose; only the text between
`<!-- BEGIN GENERATED: name -->` and `<!-- END GENERATED: name -->` is replaced, so a rerun
refreshes figures, tables and plot links without touching the explanations around them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import _live_profile
from _common import Target, median


def block_pattern(name: str) -> re.Pattern[str]:
    begin = re.escape(f"<!-- BEGIN GENERATED: {name} -->")
    end = re.escape(f"<!-- END GENERATED: {name} -->")
    return re.compile(rf"({begin}\n).*?({end})", re.DOTALL)


def replace_blocks(text: str, blocks: dict[str, str]) -> str:
    """Replace each named block's body; a block the document lacks is appended at its end."""
    for name, body in blocks.items():
        pattern = block_pattern(name)
        content = body.rstrip("\n") + "\n"
        found = pattern.search(text)
        if found:
            text = text[: found.start(1)] + found.group(1) + content + text[found.start(2) :]
        else:
            text = (
                text.rstrip("\n")
                + f"\n\n<!-- BEGIN GENERATED: {name} -->\n{content}"
                + f"<!-- END GENERATED: {name} -->\n"
            )
    return text


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    """A Markdown table; `align` has one l or r per column (default: first left, rest right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---:" if a == "r" else "---" for a in align) + "|")
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def rng(s: dict[str, Any], scale: float = 1.0, digits: int = 0) -> str:
    return f"{s['min'] * scale:,.{digits}f}–{s['max'] * scale:,.{digits}f}"


def num(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def image(alt: str, link: str | None) -> str:
    return f"![{alt}]({link})" if link else "_(plot not drawn: no data)_"


def missing(name: str, status: dict[str, Any] | None) -> str:
    if status is None:
        return f"_Not run: `{name}` was not part of this run._"
    return (
        f"_No results: `{name}` exited with status {status.get('rc')} after "
        f"{status.get('seconds', 0):.0f} s ({status.get('why', 'see its log')})._"
    )


# ------------------------------------------------------------------ per script


def core(doc: dict[str, Any], plot: str | None) -> str:
    rows = []
    for f in doc["flows"].values():
        per = f["seconds_per_flow"]
        fps = [1 / x for x in per]
        rows.append(
            [
                f["label"],
                num(f["median_flows_per_second"]),
                f"{min(fps):,.0f}–{max(fps):,.0f}",
                num(f["median_seconds_per_flow"] * 1e6, 2),
                num(f["median_us_per_event"], 2),
                num(median(f["cpu_seconds_per_flow"]) * 1e6, 2),
            ]
        )
    out = [
        f"{doc['mode']} mode, {doc['rounds']} interleaved rounds; median with the min–max of "
        "the rounds.",
        "",
        table(
            ["benchmark", "flows/s", "flows/s min–max", "µs/flow", "µs/event", "CPU µs/flow"],
            rows,
        ),
        "",
        table(
            ["comparison", "ratio", "per-round min–max"],
            [
                [r["label"], f"{r['median']:.2f}×", f"{r['min']:.2f}–{r['max']:.2f}×"]
                for r in doc["ratios"].values()
            ],
        ),
        "",
        table(
            ["single call", "µs/call (median)"],
            [[c["label"], num(c["median_us_per_call"], 2)] for c in doc["calls"].values()],
        ),
        "",
        table(
            ["measurement", "value"],
            [
                [
                    f"memory per in-flight flow (tracemalloc, N = {doc['memory_n']:,})",
                    f"{doc['memory_bytes_per_in_flight_flow']:,.0f} B",
                ],
                ["JSON of an in-flight flow (`enrolling_sms`)", f"{doc['json_bytes_in_flight']} B"],
                ["JSON of a finished flow (`authenticated`)", f"{doc['json_bytes_finished']} B"],
            ],
        ),
        "",
        image("µs per event, ours vs baselines", plot),
    ]
    return "\n".join(out)


def checker(doc: dict[str, Any], plot: str | None) -> str:
    def row(c: dict[str, Any]) -> list[str]:
        s = c["seconds"]
        return [
            num(s["median"], 2),
            rng(s, digits=2),
            str(len(s["runs"])),
            num(c["states"]),
            num(c["transitions"]),
            f"{c['edges_exercised']}/{c['table_edges']}",
            "yes" if c["ok"] else "**no**",
        ]

    tail = ["seconds", "min–max", "runs", "distinct states", "transitions", "table rows", "clean"]
    return "\n".join(
        [
            table(["depth", *tail], [[str(c["depth"]), *row(c)] for c in doc["depths"]]),
            "",
            f"Custom rules at depth {doc['rules_depth']} (rules: "
            + ", ".join(f"`{r}`" for r in doc["rules"])
            + "; 1 rule is the first of them):",
            "",
            table(["rules", *tail], [[str(c["rules"]), *row(c)] for c in doc["by_rules"]]),
            "",
            image("checker time and states vs depth and rules", plot),
        ]
    )


LOCAL_MAIN = ("full_ist", "normal_ist", "full_password", "normal_password")


def local(doc: dict[str, Any], plots: dict[str, str | None]) -> str:
    series: dict[str, Any] = doc["series"]
    cfg = doc["config"]
    rows = []
    for s in series.values():
        fps = s["flows_per_second"]
        rows.append(
            [
                s["label"],
                num(fps["median"]),
                rng(fps),
                num(s["seconds_per_flow"]["median"] * 1e3, 2),
                num(s["cpu_seconds_per_flow"]["median"] * 1e3, 2),
                num(s["sign_seconds_per_flow"]["median"] * 1e3, 2),
                f"{s['sign_share']['median'] * 100:.1f}% ({rng(s['sign_share'], 100, 1)})",
            ]
        )
    lat = []
    for key in LOCAL_MAIN:
        for op, st in series.get(key, {}).get("ops", {}).items():
            lat.append(
                [
                    f"{series[key]['label']}: `{op}`",
                    num(st["p50"]["median"] * 1e3, 2),
                    rng(st["p50"], 1e3, 2),
                    num(st["p99"]["median"] * 1e3, 2),
                    rng(st["p99"], 1e3, 2),
                ]
            )
    split = []
    for sync in ("full", "normal"):
        timed = series.get(f"{sync}_password_timed")
        if not timed:
            continue
        flow = timed["seconds_per_flow"]["median"]
        calls = timed["store_calls_per_flow"]
        for part, st in timed["parts_seconds_per_flow"].items():
            c = calls.get(part.removeprefix("store."), "" if part == "everything else" else 1)
            split.append(
                [
                    f"{sync.upper()}: {part}",
                    f"{c:g}" if isinstance(c, float | int) else c,
                    num(st["median"] * 1e3, 2),
                    f"{st['median'] / flow * 100:.1f}%",
                ]
            )
    p = doc["pending"]
    coll = [
        [
            c["name"],
            f"{c['rows']:.0f}",
            num(c["key_bytes"]),
            num(c["data_bytes"]),
            num(c["key_bytes"] + c["data_bytes"]),
        ]
        for c in p["per_collection"]
    ]
    tiers = []
    for t in doc["tiers"]:
        cells = [
            num(t["members"]),
            f"{t['populate_seconds']:.1f} s",
            f"{t['size_before_flows']['file_bytes'] / 2**20:,.1f} MiB",
        ]
        for key in LOCAL_MAIN:
            fps = t["series"][key]["flows_per_second"]
            cells.append(f"{fps['median']:,.0f} ({rng(fps)})")
        tiers.append(cells)
    skipped = "".join(
        f"\n\nNot measured: {s['members']:,} members (populating would take about "
        f"{s['estimated_seconds']:,.0f} s)."
        for s in doc.get("skipped_tiers", [])
    )
    single = [[k, num(v["median"], 1), rng(v, digits=1)] for k, v in doc["single_calls_us"].items()]
    return "\n".join(
        [
            f"{doc['mode']} mode: {cfg['pop']:,} members, {cfg['rounds']} interleaved rounds "
            f"(FULL batches of {cfg['n']['FULL']} flows, NORMAL of {cfg['n']['NORMAL']}); "
            f"the whole script took {doc['seconds']:.0f} s.",
            "",
            table(
                [
                    "variant",
                    "flows/s",
                    "min–max",
                    "ms/flow",
                    "CPU ms/flow",
                    "JWT sign ms/flow",
                    "JWT sign share (min–max)",
                ],
                rows,
            ),
            "",
            "Latency per operation, ms (each round's p50 and p99, nearest rank; median over "
            "rounds and min–max):",
            "",
            table(["variant: operation", "p50", "p50 min–max", "p99", "p99 min–max"], lat),
            "",
            image("p50 / p99 per operation", plots.get("latency")),
            "",
            "Where a complete flow (password login) goes, from the variants whose store times "
            "every statement, BEGIN and COMMIT:",
            "",
            table(["part", "calls/flow", "ms/flow", "share"], split),
            "",
            table(["single call", "µs/call (median)", "min–max"], single),
            "",
            f"Bytes per pending flow (N = {p['n']:,}, IST issued and SMS sent, after "
            "`wal_checkpoint(TRUNCATE)`): "
            f"**{p['bytes_per_flow']['page_bytes']:,.0f} B** of pages "
            f"({p['bytes_per_flow']['file_bytes']:,.0f} B of files). Payload per flow:",
            "",
            table(["collection / log", "rows", "key B", "data B", "key + data B"], coll),
            "",
            f"Throughput vs stored members ({cfg['tier_rounds']} rounds per tier; FULL batches "
            f"of {cfg['tier_n']['FULL']}, NORMAL of {cfg['tier_n']['NORMAL']}; db size before "
            "the tier's flows):",
            "",
            table(
                [
                    "members",
                    "populate",
                    "db size",
                    "from IST, FULL",
                    "from IST, NORMAL",
                    "password, FULL",
                    "password, NORMAL",
                ],
                tiers,
            )
            + skipped,
            "",
            image("flows/s vs stored members", plots.get("members")),
        ]
    )


def spread(s: dict[str, Any] | None, digits: int = 0) -> str:
    """'median (min–max)' of a summary over rounds."""
    if not s:
        return ""
    return f"{s['median']:,.{digits}f} ({rng(s, digits=digits)})"


def http(doc: dict[str, Any], plot: str | None) -> str:
    rows: list[dict[str, Any]] = doc["rows"]
    lines = [
        [
            f"`{r['scenario']}`",
            str(r["concurrency"]),
            num(r["requests"]),
            str(r["errors"]),
            spread(r["spread"]["rps"]),
            spread(r["spread"].get("p50_ms"), 2),
            spread(r["spread"].get("p99_ms"), 2),
            spread(r["spread"].get("ratio"), 2),
        ]
        for r in rows
    ]
    parts = doc.get("breakdown_ms", {})
    rounds = rows[0].get("rounds", "?") if rows else "?"
    return "\n".join(
        [
            f"Median of {rounds} interleaved round{'s' * (rounds != 1)} (the scenario order "
            "rotating between "
            "rounds), the rounds' min–max in brackets. ÷ bare is taken within each round (the "
            "server's req/s over the bare endpoint's in the same round), then its median and "
            "min–max; requests and errors are summed over the rounds.",
            "",
            table(
                [
                    "scenario",
                    "clients",
                    "requests",
                    "errors",
                    "req/s",
                    "p50 ms",
                    "p99 ms",
                    "÷ bare",
                ],
                lines,
            ),
            "",
            table(
                ["`sessions.authenticate` in-process", "ms/call"],
                [[k, num(v, 3)] for k, v in parts.items()],
            ),
            "",
            image("HTTP req/s and p99 vs concurrency", plot),
        ]
    )


INSTANCE_SETUPS = {
    "sqlite": "SQLite, one process",
    "routed": "PostgreSQL + Redis (routed), two processes",
}


def instances(doc: dict[str, Any], plot: str | None) -> str:
    results: list[dict[str, Any]] = doc["results"]
    args = doc.get("args", {})
    rounds = args.get("rounds", "?")
    rows = [
        [
            INSTANCE_SETUPS.get(r["setup"], r["setup"]),
            num(r["flows"]),
            num(r["spread"]["flows_per_s"]["median"], 1),
            rng(r["spread"]["flows_per_s"], digits=1),
            str(r["errors"]),
        ]
        for r in results
    ]
    calls = list(dict.fromkeys(c for r in results for c in r["spread"]["p50_ms"]))
    heads = [f"{r['setup']} {q}" for r in results for q in ("p50", "p99")]
    lat = [
        [f"`{call}`"]
        + [spread(r["spread"][q].get(call), 1) for r in results for q in ("p50_ms", "p99_ms")]
        for call in calls
    ]
    kinds = [
        f"Errors on {r['setup']}: "
        + ", ".join(f"{k} ×{n}" for k, n in r["error_kinds"].items())
        + "."
        for r in results
        if r.get("error_kinds")
    ]
    return "\n".join(
        [
            f"{args.get('flows', '?')} logins per setup and round, "
            f"{args.get('concurrency', '?')} in flight, {rounds} round{'s' * (rounds != 1)} "
            "(the order alternating); median over rounds with the rounds' min–max. Logins and "
            "errors are summed over the rounds.",
            "",
            table(["setup", "logins", "logins/s", "min–max", "errors"], rows),
            "",
            "Latency per call, ms (each round's p50 and p99; median over rounds, min–max in "
            "brackets):",
            "",
            table(["call", *(f"{h} ms" for h in heads)], lat),
            *(["", *kinds] if kinds else []),
            "",
            image("complete logins/s per setup", plot),
        ]
    )


def targets(found: Sequence[tuple[str, Target]]) -> str:
    rows = [
        [
            area,
            t.name,
            t.show(t.measured),
            ("≥ " if t.higher_is_better else "≤ ") + t.show(t.limit),
            t.verdict() if t.met else f"**missed**: needs {1 / t.factor:.2f}× better",
        ]
        for area, t in found
    ]
    return table(["area", "target", "measured", "limit", "verdict"], rows, "llrrl")


def profiles(
    core: dict[str, Any] | None,
    local: dict[str, Any] | None,
    http: dict[str, Any] | None = None,
) -> str:
    out: list[str] = []
    live = _live_profile.section((http or {}).get("live"))
    if live:
        out += [live, ""]
    shown: list[tuple[str, dict[str, Any], str]] = []
    if core and core.get("profile"):
        shown.append(("engine flow (events built in loop)", core["profile"], "µs/flow"))
    for sync, found in (local or {}).get("profiles", {}).items():
        shown.append((f"local provider, flow from an IST, {sync}", found, "µs/flow"))
    for name, found in (http or {}).get("profiles", {}).items():
        shown.append((f"HTTP in-process, {name}", found, "µs/request"))
    for title, found, unit in shown:
        out += _sampled(title, found.get("sampled"), unit)
    for title, found, unit in shown:
        total = sum(a["self_ms"] for a in found["areas"]) or 1.0
        out += [
            f"cProfile, {title} ({found['n']:,} {unit.split('/')[1]}s; the profiler inflates "
            "Python-level costs):",
            "",
            table(
                ["area", f"self {unit}", "share"],
                [
                    [a["area"], num(a["self_ms"] * 1e3, 1), f"{a['self_ms'] / total * 100:.1f}%"]
                    for a in found["areas"]
                ],
            ),
            "",
            table(
                [
                    "top functions by self time",
                    f"calls/{unit.split('/')[1]}",
                    f"self {unit}",
                    f"cumulative {unit}",
                ],
                [
                    [
                        f"`{f['function']}`",
                        f"{f['calls']:g}",
                        num(f["self_ms"] * 1e3, 1),
                        num(f["cum_ms"] * 1e3, 1),
                    ]
                    for f in found["top"][:10]
                ],
            ),
            "",
        ]
    return "\n".join(out) if out else "_No target was missed, so nothing was profiled._"


def _sampled(title: str, found: dict[str, Any] | None, unit: str) -> list[str]:
    """py-spy's view of the same work: time per unit by area and by innermost function."""
    if not found:
        return []
    if "skipped" in found:
        return [f"py-spy, {title}: skipped ({found['skipped']}).", ""]
    total = sum(a["self_ms"] for a in found["areas"]) or 1.0
    per = unit.split("/")[1]
    return [
        f"py-spy, {title} ({found['n']:,} {per}s, {found['samples']:,} samples, asked for at "
        f"{found['rate']:,}/s from outside the process; each sample is an equal share of the "
        f"{found['ms_per_unit_wall'] * 1e3:,.1f} {unit} of wall time, and a C call counts for "
        "the Python line that made it):",
        "",
        table(
            ["area", unit, "share"],
            [
                [a["area"], num(a["self_ms"] * 1e3, 1), f"{a['self_ms'] / total * 100:.1f}%"]
                for a in found["areas"]
            ],
        ),
        "",
        table(
            ["innermost function (line)", unit],
            [[f"`{f['function']}`", num(f["self_ms"] * 1e3, 1)] for f in found["top"][:10]],
        ),
        "",
    ]
