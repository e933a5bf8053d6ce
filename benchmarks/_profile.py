"""cProfile over untimed runs: where the time goes, by function and by library.

The benchmark scripts profile a missed target with this after the timed rounds, so the
figures they report are never taken under the profiler.
"""

from __future__ import annotations

import cProfile
import os
import pstats
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
