"""Run every benchmark, draw the plots and rewrite the generated parts of docs/benchmarks.md.

Run:  python benchmarks/run_all.py [--quick] [--only core,checker,local,http,instances,stores]

Each script runs as its own process, one after another (the machine's cores are the thing
being measured), with `--json` into a scratch directory and a time limit, so the suite
always stops by itself. Then the results become PNG plots in docs/benchmarks/ and tables
in the generated blocks of docs/benchmarks.md; the prose around them is left alone.

`--quick` is for checking that everything works: it runs the scripts' quick modes and
writes the document and plots into a fresh temporary directory (printed at the end), not
into docs/, unless --doc / --plots say otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _analysis
import _common as common
import _doc
import _plots
import _stores_report as stores_report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass(frozen=True)
class Script:
    """One benchmark script and how to run it in each mode."""

    name: str
    file: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    limit_full: float  # seconds before it is stopped
    limit_quick: float


SCRIPTS = (
    Script("core", "bench_core.py", (), ("--quick",), 300, 180),
    Script("checker", "bench_checker.py", (), ("--quick",), 480, 300),
    Script("local", "bench_local.py", (), ("--quick",), 540, 300),
    # Options the HTTP and instance scripts take, having no --quick of their own.
    Script(
        "http",
        "bench_http.py",
        ("--seconds", "2.5", "--rounds", "3", "--sms-per-run", "600"),
        ("--seconds", "0.5", "--rounds", "2", "--sms-per-run", "150"),
        420,
        300,
    ),
    Script("http_profile", "bench_http_profile.py", (), ("--quick",), 180, 120),
    Script(
        "instances",
        "bench_instances.py",
        ("--seconds", "60"),  # its other defaults; six runs of at most a minute each
        ("--flows", "40", "--rounds", "1"),
        480,
        180,
    ),
    Script("stores", "bench_stores.py", (), ("--quick",), 600, 240),
)


def accepts(path: Path, flag: str) -> bool:
    """Whether a script's --help lists an option (scripts others keep grow new ones)."""
    try:
        done = subprocess.run(
            [sys.executable, str(path), "--help"], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and flag in done.stdout


def arguments(s: Script, path: Path, quick: bool) -> list[str]:
    if not quick:
        return list(s.full)
    if s.quick != ("--quick",) and accepts(path, "--quick"):
        return ["--quick"]
    return list(s.quick)


def run_script(
    s: Script, quick: bool, work: Path, out: common.Printer
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Run one script with a time limit; its JSON document (or None) and how it went."""
    path = HERE / s.file
    status: dict[str, Any] = {"script": s.file}
    if not path.exists():
        status.update(rc=None, seconds=0.0, why="script not present")
        return None, status
    result = work / f"{s.name}.json"
    log = work / f"{s.name}.log"
    args = arguments(s, path, quick)
    status["args"] = args
    limit = s.limit_quick if quick else s.limit_full
    out.line(f"[{s.name}] {s.file} {' '.join(args)} (limit {limit:.0f} s)…")
    t0 = time.perf_counter()
    with log.open("w", encoding="utf-8") as fh:
        process = subprocess.Popen(
            [sys.executable, str(path), *args, "--json", str(result)],
            cwd=ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: servers it starts stop with it
        )
        try:
            rc = process.wait(timeout=limit)
            why = "ok" if rc == 0 else "failed"
        except subprocess.TimeoutExpired:
            stop_group(process)
            rc, why = process.returncode, f"stopped after the {limit:.0f} s limit"
    status.update(rc=rc, seconds=time.perf_counter() - t0, why=why, log=str(log))
    out.line(f"[{s.name}] {why} in {status['seconds']:.0f} s (log: {log})")
    if rc != 0 or not result.exists():
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        out.line("\n".join(f"    {line}" for line in tail))
        if not result.exists():
            return None, status
    doc: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
    return doc, status


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the script's process group (it cleans up), then SIGKILL what is left."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


# ------------------------------------------------------------------ targets


def collect_targets(docs: dict[str, dict[str, Any]]) -> list[tuple[str, common.Target]]:
    """Every target from the issues that this run measured, with its verdict."""
    found: list[tuple[str, common.Target]] = []
    for area in ("core", "checker", "local"):
        for t in docs.get(area, {}).get("targets", []):
            found.append(
                (
                    area,
                    common.Target(
                        t["name"], t["measured"], t["limit"], t["higher_is_better"], t["unit"]
                    ),
                )
            )
    for r in docs.get("http", {}).get("rows", []):
        if r["scenario"] == "sessions.authenticate" and r.get("ratio") is not None:
            level = r["concurrency"]
            found.append(
                (
                    "http",
                    common.Target(
                        f"`sessions.authenticate` req/s ÷ bare Starlette, "
                        f"{level} client{'s' * (level != 1)} (median of rounds)",
                        r["ratio"],
                        0.4,
                        True,
                        "x",
                    ),
                )
            )
    stores = docs.get("stores")
    if stores:
        try:
            found += [("stores", common.Target(*t)) for t in stores_report.targets(stores)]
        except (KeyError, TypeError, ValueError) as exc:  # the script changed its JSON
            print(f"stores targets not read: {type(exc).__name__} {exc}", file=sys.stderr)
    return found


# ------------------------------------------------------------------ the document


def command_line(quick: bool, only: Sequence[str] | None) -> str:
    """The command as a reader would type it, without any path of this machine."""
    python = "python"
    try:
        rel = Path(sys.executable).relative_to(ROOT)
        python = str(rel)
    except ValueError:
        pass
    cmd = f"{python} benchmarks/run_all.py"
    if quick:
        cmd += " --quick"
    if only:
        cmd += f" --only {','.join(only)}"
    return cmd


def psi(r: dict[str, Any]) -> str:
    found: dict[str, float] = r.get("psi_some_avg60", {})
    return " / ".join(f"{found[k]:.1f}%" for k in ("cpu", "io") if k in found) or "n/a"


def machine_block(
    docs: dict[str, dict[str, Any]],
    statuses: dict[str, dict[str, Any]],
    meta: dict[str, Any],
) -> str:
    info: dict[str, Any] = {}
    for name in ("instances", "stores", "http", "checker", "local", "core"):  # later ones win
        info.update(docs.get(name, {}).get("machine", {}))
    libs = ", ".join(
        f"{k.replace('_', '-')} {info[k]}"
        for k in ("pydantic", "transitions", "python_statemachine", "bcrypt")
        if k in info
    )
    servers = ", ".join(f"{k} {info[k]}" for k in ("postgresql", "redis") if k in info)
    rows = [
        ["CPU", str(info.get("cpu", "?"))],
        ["`nproc`", str(info.get("nproc", "?"))],
        ["memory", str(info.get("memory", "?"))],
        ["OS", str(info.get("platform", "?"))],
        ["Python", f"{info.get('python', '?')} ({info.get('implementation', '')})"],
        ["SQLite", str(info.get("sqlite", "?"))],
        ["temp files on", str(info.get("temp_dir_filesystem", "?"))],
        ["libraries", libs],
        ["servers", servers or "—"],
        ["commit", meta.get("commit", "?")],
        [
            "sources digest (`mfa_fsm` + `mfa_fsm_local`)",
            str(info.get("sources", info.get("mfa_fsm_sources", "?"))),
        ],
        [
            "load",
            f"1-minute load average {meta['before']['loadavg_1min']:.2f} before the run, "
            f"{meta['after']['loadavg_1min']:.2f} after; CPU / I/O pressure (PSI some avg60) "
            f"before {psi(meta['before'])}, after {psi(meta['after'])} (shared machine)",
        ],
    ]
    runs = [
        [
            f"`{st['script']}`",
            " ".join(st.get("args", [])) or "(defaults)",
            f"{st.get('seconds', 0):.0f} s",
            str(st.get("why", "")),
        ]
        for st in statuses.values()
    ]
    return "\n".join(
        [
            "| | |",
            "|---|---|",
            *(f"| {k} | {v} |" for k, v in rows),
            "",
            "Command, from the repository root "
            f"({'quick' if meta['quick'] else 'full'} mode; the whole suite took "
            f"{meta['seconds'] / 60:.1f} min):",
            "",
            "```",
            meta["command"],
            "```",
            "",
            _doc.table(["script", "options", "time", "outcome"], runs, "llrl"),
        ]
    )


def stores_section(link: Callable[[str], str | None]) -> Callable[[dict[str, Any]], str]:
    """The stores block, written by the stores' own report module."""

    def make(doc: dict[str, Any]) -> str:
        links = {"tiers": link("stores_tiers"), "memory": link("stores_memory")}
        return stores_report.section(doc, links)

    return make


# Sections for blocks that came after the document was written, placed before ANCHOR.
NEW_SECTIONS = {
    "instances": (
        "Several instances",
        "`bench_instances.py` runs complete logins (import a bcrypt hash, password login with "
        "MFA required, send an SMS code, answer it, authenticate the session) through the "
        "Stytch-compatible server: one process on a fresh SQLite file, and two processes on one "
        "routed store (PostgreSQL for records and logs, Redis for flow state) with every step "
        "of a login going to the other process than the one before. The same load client "
        "drives both in the same run, the order alternating between rounds.",
    ),
}
ANCHOR = "\n## Why targets are missed"


def with_sections(text: str) -> str:
    """Add a section with an empty block for each new block the document lacks, before the
    analysis; without that heading, `_doc.replace_blocks` appends the block at the end."""
    for name, (heading, intro) in NEW_SECTIONS.items():
        at = text.find(ANCHOR)
        if f"<!-- BEGIN GENERATED: {name} -->" in text or at < 0:
            continue
        section = f"## {heading}\n\n{textwrap.fill(intro, 92, break_on_hyphens=False)}\n\n"
        section += f"<!-- BEGIN GENERATED: {name} -->\n<!-- END GENERATED: {name} -->\n\n"
        text = text[: at + 1] + section + text[at + 1 :]
    return text


def build_blocks(
    docs: dict[str, dict[str, Any]],
    statuses: dict[str, dict[str, Any]],
    plots: dict[str, Path | None],
    doc_path: Path,
    meta: dict[str, Any],
) -> dict[str, str]:
    def link(key: str) -> str | None:
        p = plots.get(key)
        return os.path.relpath(p, doc_path.parent) if p else None

    blocks = {
        "machine": machine_block(docs, statuses, meta),
        "targets": _doc.targets(collect_targets(docs)),
        "profiles": _doc.profiles(docs.get("core"), docs.get("local"), docs.get("http_profile")),
        "analysis": _analysis.findings(docs, {"stores": stores_report.findings}),
    }
    makers: dict[str, Callable[[dict[str, Any]], str]] = {
        "core": lambda d: _doc.core(d, link("core")),
        "checker": lambda d: _doc.checker(d, link("checker")),
        "local": lambda d: _doc.local(
            d, {"members": link("local_members"), "latency": link("local_latency")}
        ),
        "http": lambda d: _doc.http(d, link("http")),
        "instances": lambda d: _doc.instances(d, link("instances")),
        "stores": stores_section(link),
    }
    for name, make in makers.items():
        doc = docs.get(name)
        try:
            blocks[name] = make(doc) if doc else _doc.missing(name, statuses.get(name))
        except (KeyError, TypeError, ValueError) as exc:  # a script changed its JSON
            blocks[name] = f"_Results of `{name}` could not be read: {type(exc).__name__} {exc}._"
    return blocks


def draw(docs: dict[str, dict[str, Any]], folder: Path) -> dict[str, Path | None]:
    folder.mkdir(parents=True, exist_ok=True)
    jobs: dict[str, Callable[[dict[str, Any]], Path | None]] = {
        "core": lambda d: _plots.core_per_event(d, folder / "core_per_event.png"),
        "checker": lambda d: _plots.checker(d, folder / "checker_depth_rules.png"),
        "local_members": lambda d: _plots.local_members(
            d, folder / "local_flows_vs_members.png", 1000.0
        ),
        "local_latency": lambda d: _plots.local_latency(d, folder / "local_latency.png"),
        "http": lambda d: _plots.http(d, folder / "http_concurrency.png"),
        "instances": lambda d: _plots.instances(d, folder / "instances.png"),
    }
    drawn: dict[str, Path | None] = {}
    for key, job in jobs.items():
        doc = docs.get(key.split("_")[0])
        try:
            drawn[key] = job(doc) if doc else None
        except (KeyError, TypeError, ValueError) as exc:
            print(f"plot {key} not drawn: {type(exc).__name__} {exc}", file=sys.stderr)
            drawn[key] = None
    stores = docs.get("stores")
    if stores:
        try:
            made = stores_report.plots(stores, folder)
            drawn.update({f"stores_{k}": v for k, v in made.items()})
        except (KeyError, TypeError, ValueError) as exc:
            print(f"stores plots not drawn: {type(exc).__name__} {exc}", file=sys.stderr)
    return drawn


def git_commit() -> str:
    """HEAD's short hash, and whether the working tree had changes (read-only git calls)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"`{head}`" + (" plus uncommitted changes" if dirty else "") if head else "unknown"


def run_suite(
    chosen: Sequence[Script],
    quick: bool,
    only: Sequence[str] | None,
    work: Path,
    out: common.Printer,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, Any]]:
    """Run the scripts one after another; their documents, how each went, and the run."""
    t0 = time.perf_counter()
    before = common.readings()
    out.line(f"benchmark suite, {'quick' if quick else 'full'} mode; {before}")
    docs: dict[str, dict[str, Any]] = {}
    statuses: dict[str, dict[str, Any]] = {}
    for s in chosen:
        doc, statuses[s.name] = run_script(s, quick, work, out)
        if doc is not None:
            docs[s.name] = doc
    meta = {
        "commit": git_commit(),
        "quick": quick,
        "command": command_line(quick, only),
        "seconds": time.perf_counter() - t0,
        "before": before,
        "after": common.readings(),
    }
    (work / "run.json").write_text(
        json.dumps({"meta": meta, "statuses": statuses}, indent=2), encoding="utf-8"
    )
    return docs, statuses, meta


def load_run(
    folder: Path,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, Any]]:
    """A finished run from a --keep directory."""
    run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    docs = {
        s.name: json.loads((folder / f"{s.name}.json").read_text(encoding="utf-8"))
        for s in SCRIPTS
        if (folder / f"{s.name}.json").exists()
    }
    return docs, run["statuses"], run["meta"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="the scripts' quick modes")
    parser.add_argument("--only", help="comma-separated: " + ",".join(s.name for s in SCRIPTS))
    parser.add_argument("--doc", type=Path, help="the Markdown file to rewrite")
    parser.add_argument("--plots", type=Path, help="where the PNG plots go")
    parser.add_argument("--keep", type=Path, help="keep the scripts' JSON and logs here")
    parser.add_argument(
        "--rerender",
        type=Path,
        metavar="DIR",
        help="redraw the plots and the document from a --keep directory, running nothing",
    )
    args = parser.parse_args(argv)
    only = [n.strip() for n in args.only.split(",")] if args.only else None
    chosen = [s for s in SCRIPTS if only is None or s.name in only]
    if only and len(chosen) != len(only):
        parser.error(f"--only takes {', '.join(s.name for s in SCRIPTS)}")
    out = common.Printer()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-run-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.rerender:
        docs, statuses, meta = load_run(args.rerender)
    else:
        docs, statuses, meta = run_suite(chosen, args.quick, only, work, out)
    scratch = Path(tempfile.mkdtemp(prefix="bench-quick-")) if meta["quick"] else None
    doc_path: Path = args.doc or (
        scratch / "benchmarks.md" if scratch else ROOT / "docs" / "benchmarks.md"
    )
    plot_dir: Path = args.plots or (
        scratch / "benchmarks" if scratch else ROOT / "docs" / "benchmarks"
    )
    source = ROOT / "docs" / "benchmarks.md"
    before, after = meta["before"], meta["after"]
    try:
        plots = draw(docs, plot_dir)
        text = (doc_path if doc_path.exists() else source).read_text(encoding="utf-8")
        text = with_sections(text)
        blocks = build_blocks(docs, statuses, plots, doc_path, meta)
        doc_path.parent.mkdir(parents=True, exist_ok=True)
        doc_path.write_text(_doc.replace_blocks(text, blocks), encoding="utf-8")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    out.line(f"load average before {before['loadavg_1min']}, after {after['loadavg_1min']}")
    for key, path in plots.items():
        out.line(f"plot {key}: {path or 'not drawn'}")
    out.line(f"wrote {doc_path}")
    failed = [n for n, st in statuses.items() if st.get("rc") not in (0, None)]
    for name, st in statuses.items():
        out.line(f"  {name}: {st.get('why')} ({st.get('seconds', 0):.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
