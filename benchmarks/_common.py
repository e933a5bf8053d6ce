"""What every benchmark script shares: the machine, load readings, summaries, tables, JSON.

Each script imports this module from its own directory, so `python benchmarks/<script>.py`
works from anywhere without installing anything extra.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

T = TypeVar("T")


# ------------------------------------------------------------------ the machine


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_total() -> str:
    """Physical memory (MemTotal), as GiB."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


def filesystem_of(path: Path) -> str:
    """The file system type and device a path lives on (the longest matching mount)."""
    best, found = "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as fh:
            for line in fh:
                dev, mnt, kind, *_ = line.split()
                if str(path).startswith(mnt) and len(mnt) > len(best):
                    best, found = mnt, f"{kind} on {dev.rsplit('/', 1)[-1]}"
    except OSError:
        pass
    return found


def nproc() -> int:
    """CPUs this process may run on (what `nproc` prints)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_info(temp_dir: Path | None = None, **libraries: str) -> dict[str, str]:
    """What a reader needs to compare figures across machines, plus library versions."""
    info = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "nproc": str(nproc()),
        "cpu": cpu_model(),
        "memory": memory_total(),
        "platform": platform.platform(),
    }
    if temp_dir is not None:
        info["temp_dir_filesystem"] = filesystem_of(temp_dir)
    info.update(libraries)
    return info


def source_digest(*packages: ModuleType) -> str:
    """A short digest of the packages' sources: which code a result belongs to."""
    h = hashlib.sha256()
    for package in packages:
        root = Path(package.__file__ or "").parent
        for path in sorted(root.glob("*.py")):
            h.update(f"{package.__name__}/{path.name}".encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


# ------------------------------------------------------------------ load


def load_1min() -> float:
    """The 1-minute load average: how busy the shared machine was."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def pressure() -> dict[str, float]:
    """Linux PSI: share (%) of the last 60 s some task waited for CPU / I/O."""
    found: dict[str, float] = {}
    for kind in ("cpu", "io"):
        try:
            with open(f"/proc/pressure/{kind}", encoding="utf-8") as fh:
                some = fh.readline().split()
            found[kind] = float(some[2].split("=")[1])
        except (OSError, IndexError, ValueError):
            pass
    return found


def readings() -> dict[str, Any]:
    """Load average and pressure now, for a before/after pair around the timing."""
    return {"loadavg_1min": round(load_1min(), 2), "psi_some_avg60": pressure()}


def describe_readings(r: dict[str, Any]) -> str:
    psi = ", ".join(f"{k} {v:.1f}%" for k, v in r.get("psi_some_avg60", {}).items())
    return f"load {r['loadavg_1min']:.2f}" + (f" (PSI some avg60: {psi})" if psi else "")


# ------------------------------------------------------------------ statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in 0..100."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Median and min-max of several runs, with the runs themselves."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": list(values),
    }


def rotated(items: Sequence[T], r: int) -> list[T]:
    """Round r's order: rotate so no contender always runs first or last."""
    k = r % len(items) if items else 0
    return [*items[k:], *items[:k]]


def span(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    """'min-max' of values × scale."""
    return f"{min(values) * scale:,.{digits}f}-{max(values) * scale:,.{digits}f}"


# ------------------------------------------------------------------ server processes


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on loopback at `port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def start_process(
    cmd: Sequence[str],
    env: dict[str, str],
    ready: Callable[[], bool],
    *,
    cwd: Path | None = None,
    timeout: float = 30.0,
) -> subprocess.Popen[bytes]:
    """Start a server (output discarded) and wait until `ready()`; raise if it dies or stalls."""
    process = subprocess.Popen(
        list(cmd), env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {' '.join(cmd[:4])}")
        if ready():
            return process
        time.sleep(0.05)
    stop_process(process)
    raise RuntimeError(f"server did not start: {' '.join(cmd[:4])}")


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM (a graceful shutdown), then SIGKILL if it is still running after `grace`."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ------------------------------------------------------------------ targets


@dataclass(frozen=True)
class Target:
    """A figure the project promised, and whether a measurement meets it."""

    name: str
    measured: float
    limit: float
    higher_is_better: bool
    unit: str

    @property
    def met(self) -> bool:
        if self.higher_is_better:
            return self.measured >= self.limit
        return self.measured <= self.limit

    @property
    def factor(self) -> float:
        """How far from the limit: > 1 is better than the target, < 1 short of it."""
        if self.measured == 0 or self.limit == 0:
            return float("inf") if self.met else 0.0
        if self.higher_is_better:
            return self.measured / self.limit
        return self.limit / self.measured

    def verdict(self) -> str:
        if self.met:
            return f"met, {self.factor:.2f}× margin"
        return f"missed: needs {1 / self.factor:.2f}× better"

    def show(self, value: float) -> str:
        if self.unit == "x":
            return f"{value:.2f}×"
        if self.unit == "s":
            return f"{value:,.1f} s"
        return f"{value:,.0f} {self.unit}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured": self.measured,
            "limit": self.limit,
            "higher_is_better": self.higher_is_better,
            "unit": self.unit,
            "met": self.met,
            "verdict": self.verdict(),
        }


# ------------------------------------------------------------------ output


class Printer:
    """rich tables when rich is installed, plain aligned text otherwise."""

    def __init__(self, width: int = 160) -> None:
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            self.console: Any = None
            self.table_cls: Any = None
        else:
            self.console = Console(width=None if sys.stdout.isatty() else width)
            self.table_cls = Table

    def line(self, text: str = "") -> None:
        if self.console is not None:
            self.console.print(text, markup=False, highlight=False)
        else:
            print(text, flush=True)

    def table(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        if self.table_cls is not None:
            t = self.table_cls(title=title, title_justify="left")
            for i, h in enumerate(headers):
                t.add_column(h, justify="left" if i == 0 else "right", overflow="fold")
            for row in rows:
                t.add_row(*row)
            self.console.print(t)
            return
        widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
        print(title)
        print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
        print("  ".join("-" * w for w in widths))
        for row in rows:
            print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))
        print(flush=True)


def write_json(path: str | Path, doc: dict[str, Any], out: Printer | None = None) -> None:
    """Write a result document; NaN and infinity become null so any JSON reader takes it."""
    Path(path).write_text(json.dumps(_finite(doc), indent=2) + "\n", encoding="utf-8")
    if out is not None:
        out.line(f"wrote {path}")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
