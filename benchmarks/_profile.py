"""cProfile over untimed runs: where the time goes, by function and by library.

The benchmark scripts profile a missed target with this after the timed rounds, so the
figures they report are never taken under the profiler.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Areas = Sequence[tuple[str, tuple[str, ...]]]

AREAS: Areas = (
    # (area, substrings of the function's file or built-in name); the first match wins
    ("SQLite C calls (execute/fetch; includes fsync)", ("sqlite3.",)),
    ("bcrypt.checkpw", ("bcrypt",)),
    ("RSA signing (cryptography)", ("RSAPrivateKey", "cryptography")),
    ("pydantic-core validate / serialize", ("pydantic_core",)),
    ("HMAC / hashlib / secrets", ("_hashlib", "hmac", "secrets", "random")),
    ("PyJWT (Python)", ("/jwt/",)),
    ("phonenumbers", ("phonenumbers",)),
    ("json (stdlib)", ("/json/", "_json")),
    ("mfa_fsm_local (provider, driver, store code)", ("mfa_fsm_local",)),
    ("mfa_fsm core (engine, flow, effects)", ("/mfa_fsm/",)),
    ("pydantic (Python)", ("pydantic",)),
    ("transitions", ("transitions",)),
    ("benchmark loop and inputs", ("/benchmarks/",)),
)


@contextmanager
def profiled() -> Iterator[cProfile.Profile]:
    prof = cProfile.Profile()
    prof.enable()
    try:
        yield prof
    finally:
        prof.disable()


def short_name(func: tuple[str, int, str]) -> str:
    """A function's name without this machine's paths."""
    filename, line, name = func
    if filename == "~":
        return name  # a built-in: "{method 'execute' of 'sqlite3.Connection' objects}"
    parts = Path(filename).parts
    for anchor in ("site-packages", "adapters", "benchmarks", "lib"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1 :]
            break
    else:
        parts = parts[-2:]
    return f"{'/'.join(parts)}:{line}({name})"


def _raw(prof: cProfile.Profile) -> dict[Any, Any]:
    stats: dict[Any, Any] = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    return stats


def top(prof: cProfile.Profile, per: int, n: int) -> list[dict[str, Any]]:
    """The n functions with the most self time: self and cumulative ms per unit of work."""
    rows = sorted(_raw(prof).items(), key=lambda kv: kv[1][2], reverse=True)[:n]
    return [
        {
            "function": short_name(f),
            "calls": v[1] / per,
            "self_ms": v[2] / per * 1e3,
            "cum_ms": v[3] / per * 1e3,
        }
        for f, v in rows
    ]


def areas(prof: cProfile.Profile, per: int, table: Areas = AREAS) -> list[dict[str, Any]]:
    """Self time per unit of work, grouped by library or package, largest first."""
    totals: dict[str, float] = {}
    for (filename, _, name), v in _raw(prof).items():
        where = name if filename == "~" else filename.replace(os.sep, "/")
        area = next(
            (a for a, needles in table if any(n in where for n in needles)),
            "other Python (stdlib, glue)",
        )
        totals[area] = totals.get(area, 0.0) + v[2]
    found = [{"area": a, "self_ms": t / per * 1e3} for a, t in totals.items()]
    return sorted(found, key=lambda r: -float(r["self_ms"]))


def profile(run: Callable[[int], Any], n: int, top_n: int = 15) -> dict[str, Any]:
    """Profile `run(n)` once (after a short warm-up): top functions and areas, per unit."""
    run(max(1, n // 20))
    with profiled() as prof:
        run(n)
    return {"n": n, "top": top(prof, n, top_n), "areas": areas(prof, n)}


def rows_top(found: dict[str, Any]) -> list[list[str]]:
    return [
        [
            r["function"],
            f"{r['calls']:g}",
            f"{r['self_ms'] * 1e3:,.2f}",
            f"{r['cum_ms'] * 1e3:,.2f}",
        ]
        for r in found["top"]
    ]


def rows_areas(found: dict[str, Any]) -> list[list[str]]:
    total = sum(float(r["self_ms"]) for r in found["areas"]) or 1.0
    return [
        [r["area"], f"{r['self_ms'] * 1e3:,.2f}", f"{r['self_ms'] / total * 100:.1f}%"]
        for r in found["areas"]
    ]


# ------------------------------------------------------------------ py-spy, sampled

SAMPLE_RATE = 1000  # per second


#: py-spy sees Python frames only: a C call (SQLite, pydantic-core, RSA) counts for the
#: Python frame that made it, so areas are named for the code that calls into C.
def _at(*paths: str) -> tuple[str, ...]:
    """py-spy writes a file relative to its sys.path entry ("(json/encoder.py:258)") or in
    full: match either form."""
    return tuple(p for path in paths for p in (f"({path}", f"/{path}"))


SAMPLED_AREAS: Areas = (
    ("SQLite statements, commits, fsync (the store's execute lines)", ("/_sqlite.py",)),
    ("bcrypt", _at("bcrypt/")),
    ("JWT signing (PyJWT, RSA)", _at("jwt/", "cryptography/")),
    ("pydantic (validation, serialisation)", _at("pydantic/", "pydantic_core/")),
    ("HMAC / hashlib / secrets", _at("hmac.py", "secrets.py", "random.py", "hashlib.py")),
    ("phonenumbers", _at("phonenumbers/")),
    ("json (stdlib)", _at("json/")),
    ("mfa_fsm_local (provider, driver, store code)", _at("mfa_fsm_local/")),
    ("mfa_fsm core (engine, flow, effects)", _at("mfa_fsm/")),
    ("transitions", _at("transitions/")),
    ("benchmark loop and inputs", _at("bench_", "_core_", "_local_")),
)


def py_spy() -> str | None:
    """py-spy from this environment's scripts, or from PATH."""
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def sampled(run: Callable[[], Any], per: int, table: Areas = SAMPLED_AREAS) -> dict[str, Any]:
    """py-spy samples this process from a child (`--nonblocking`: never paused, `--idle`:
    waits in SQLite or fsync count too) while `run()` does `per` units of work; time per unit
    by area (innermost frame that matches) and by innermost function, each sample standing
    for an equal share of the wall time. No profiler runs in this process, so, unlike
    cProfile, Python-level costs are not inflated."""
    spy = py_spy()
    if spy is None:
        return {"skipped": "py-spy is not installed"}
    with tempfile.TemporaryDirectory(prefix="bench-py-spy-") as tmp:
        raw = Path(tmp) / "samples.txt"
        cmd = [spy, "record", "--pid", str(os.getpid()), "--rate", str(SAMPLE_RATE)]
        cmd += ["--format", "raw", "--nonblocking", "--idle", "--output", str(raw)]
        recorder = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # py-spy attaches before the work starts
        started = time.perf_counter()
        run()
        seconds = time.perf_counter() - started
        recorder.send_signal(signal.SIGINT)  # py-spy writes its samples and exits
        try:
            _, err = recorder.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            recorder.kill()
            return {"skipped": "py-spy did not finish"}
        if not raw.exists():
            return {"skipped": f"py-spy failed: {err.decode(errors='replace').strip()[-200:]}"}
        text = raw.read_text(encoding="utf-8")
    return _summarize(text, per, seconds, table)


def short_frame(frame: str) -> str:
    """py-spy's `function (file.py:line)` without this machine's paths."""
    return re.sub(r"\((?:[^()]*/)?([^/()]+:\d+)\)$", r"(\1)", frame)


def read_samples(
    text: str, table: Areas, skip: Callable[[list[str]], bool]
) -> tuple[Counter[str], Counter[str], int, int]:
    """py-spy's raw format ("frame;frame;... count" per line): samples by area (the innermost
    frame that matches `table`) and by innermost function, the samples kept, and those that
    `skip(frames)` left out."""
    areas: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    kept = skipped = 0
    for line in text.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        frames = [f for f in stack_text.split(";") if not f.startswith(("thread (", "process "))]
        count = int(count_text)
        if not frames or skip(frames):
            skipped += count
            continue
        kept += count
        area = next(
            (a for f in reversed(frames) for a, needles in table if any(n in f for n in needles)),
            "other Python (stdlib, glue)",
        )
        areas[area] += count
        leaves[short_frame(frames[-1])] += count
    return areas, leaves, kept, skipped


def _the_sampler(frames: list[str]) -> bool:
    """The sampler itself: the attach pause before the work, the wait after it."""
    return re.match(r"sampled \(.*_profile\.py:\d+\)$", frames[-1]) is not None


def _summarize(text: str, per: int, seconds: float, table: Areas) -> dict[str, Any]:
    areas, leaves, total, _ = read_samples(text, table, _the_sampler)
    # Each sample stands for an equal share of the wall time (py-spy drops a sample now and
    # then when it reads a process it does not pause, so counts alone would undershoot).
    scale = seconds / per * 1e3 / max(total, 1)  # ms per unit of work per sample
    return {
        "n": per,
        "samples": total,
        "rate": SAMPLE_RATE,
        "ms_per_unit_wall": seconds / per * 1e3,
        "areas": [{"area": a, "self_ms": c * scale} for a, c in areas.most_common()],
        "top": [{"function": f, "self_ms": c * scale} for f, c in leaves.most_common(12)],
    }
