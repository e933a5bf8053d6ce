"""py-spy samples of the real servers under load: where their CPU goes per request.

cProfile inside one process cannot see a uvicorn server as the load client sees it: the
HTTP parser, the event loop and the worker thread that runs the provider all share one GIL.
Here both servers of `bench_http.py` (ours on SQLite, the bare Starlette endpoint) run as
separate processes under the same load client, and `py-spy record` samples each from the
outside (`--nonblocking`: the process is never paused; `--gil`: only the thread holding the
GIL, which is the one doing Python work). Samples divided by the requests answered while
sampling give the GIL-holding time per request, split by library.
"""

from __future__ import annotations

import asyncio
import functools
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import _profile
from _common import free_port, port_open, start_process, stop_process

RATE = 400  # samples per second per thread

# Innermost functions that mean "waiting", not working (few show: only the GIL holder is
# sampled, and a wait releases the GIL).
IDLE = frozenset(
    {"EpollSelector.select", "Condition.wait", "Queue.get", "Thread._wait_for_tstate_lock"}
)

# (area, substrings of a frame "function (file:line)"); the first match wins, innermost first.
AREAS: _profile.Areas = (
    ("provider and stores (mfa_fsm_local)", ("mfa_fsm_local/",)),
    ("engine (mfa_fsm)", ("(mfa_fsm/", "/mfa_fsm/")),  # py-spy may shorten the path
    ("server routes, auth, wire format (mfa_fsm_server)", ("mfa_fsm_server/",)),
    ("pydantic", ("pydantic",)),
    ("access log (logging)", ("logging/",)),
    ("thread hand-off (anyio, threading, queue)", ("anyio/", "threading.py", "queue.py")),
    ("starlette (routing, middleware, responses)", ("starlette/",)),
    ("HTTP/1.1 (uvicorn, h11)", ("uvicorn/", "h11/")),
    ("asyncio event loop and sockets", ("asyncio/", "selectors.py")),
)


def _waiting(frames: list[str]) -> bool:
    return frames[-1].split(" (", 1)[0] in IDLE


def sample(pid: int, seconds: int, drive: Any) -> tuple[str, Any]:
    """Record `pid` with py-spy while `drive()` runs; the raw samples and drive's result."""
    spy = _profile.py_spy()
    assert spy is not None
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as out:
        recorder = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--duration",
                f"{seconds:g}",
                "--rate",
                str(RATE),
                "--format",
                "raw",
                "--nonblocking",
                "--gil",
                "--output",
                out.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        result = drive()
        _, err = recorder.communicate(timeout=seconds + 60)
        if recorder.returncode != 0:
            raise RuntimeError(f"py-spy failed: {err.decode(errors='replace').strip()[-300:]}")
        return Path(out.name).read_text(encoding="utf-8"), result


def live(seconds: int = 4, clients: int = 16) -> dict[str, Any]:
    """Both servers under `clients` keep-alive connections for `seconds` each, sampled."""
    if _profile.py_spy() is None:
        return {"skipped": "py-spy is not installed"}
    import bench_http  # the same servers, inputs and load client as the HTTP benchmark

    found: dict[str, Any] = {"clients": clients, "seconds": seconds, "rate": RATE}
    with tempfile.TemporaryDirectory(prefix="bench-http-live-") as tmp:
        work = Path(tmp)
        preparer = bench_http.Preparer(work)
        tokens = preparer.sessions(clients)
        preparer.close()
        env = bench_http.server_env()
        ours_port, bare_port = free_port(), free_port()
        servers = {
            "sessions.authenticate": (
                bench_http.ours_command(work, ours_port),
                ours_port,
                "/v1/b2b/sessions/authenticate",
            ),
            "bare": (bench_http.bare_command(bare_port), bare_port, "/bare"),
        }

        def body(worker: int, n: int) -> dict[str, Any]:
            return {"session_token": tokens[worker % len(tokens)]}

        for name, (cmd, port, path) in servers.items():
            process = start_process(cmd, env, functools.partial(port_open, port))
            try:
                url = f"http://127.0.0.1:{port}"
                bench_http.warm_up(url, path, body(0, 0))

                def drive(url: str = url, path: str = path, name: str = name) -> Any:
                    return asyncio.run(bench_http.drive(url, path, body, clients, seconds, name))

                raw, result = sample(process.pid, seconds, drive)
            finally:
                stop_process(process)
            found[name] = summarize(raw, result)
    return found


def summarize(raw: str, result: Any) -> dict[str, Any]:
    """CPU µs per request by area and by innermost function, from the busy samples."""
    areas, leaves, busy, idle = _profile.read_samples(raw, AREAS, _waiting)
    per_sample_us = 1e6 / RATE
    requests = max(1, int(result.requests))
    scale = per_sample_us / requests
    return {
        "requests": result.requests,
        "rps": round(result.rps, 1),
        "errors": result.errors,
        "busy_samples": busy,
        "idle_samples": idle,
        "gil_us_per_request": round(busy * scale, 1),
        "areas": [{"area": a, "us": round(n * scale, 1)} for a, n in areas.most_common()],
        "top": [{"function": f, "us": round(n * scale, 1)} for f, n in leaves.most_common(12)],
    }


def section(live: dict[str, Any] | None) -> str:
    """Markdown: GIL-holding time per request by library, ours beside the bare endpoint."""
    if not live:
        return ""
    if "skipped" in live:
        return f"py-spy profile of the live servers: skipped ({live['skipped']}).\n"
    ours, bare = live.get("sessions.authenticate"), live.get("bare")
    if not ours or not bare:
        return ""
    ours_by = {a["area"]: a["us"] for a in ours["areas"]}
    bare_by = {a["area"]: a["us"] for a in bare["areas"]}
    names = list(ours_by) + [n for n in bare_by if n not in ours_by]
    rows = [f"| {n} | {ours_by.get(n, 0.0):,.1f} | {bare_by.get(n, 0.0):,.1f} |" for n in names]
    top = [f"| `{t['function']}` | {t['us']:,.1f} |" for t in ours["top"][:10]]
    return "\n".join(
        [
            f"py-spy, the live servers under {live['clients']} keep-alive clients for "
            f"{live['seconds']:g} s each, sampled {live['rate']} times a second from outside "
            "(`--gil --nonblocking`): time holding the GIL per request, by library. "
            f"`sessions.authenticate` answered {ours['rps']:,.0f} req/s while sampled and held "
            f"the GIL {ours['gil_us_per_request']:,.1f} µs per request; the bare endpoint "
            f"{bare['rps']:,.0f} req/s and {bare['gil_us_per_request']:,.1f} µs.",
            "",
            "| area | `sessions.authenticate` µs/request | bare µs/request |",
            "|---|---:|---:|",
            *rows,
            f"| **total** | **{ours['gil_us_per_request']:,.1f}** | "
            f"**{bare['gil_us_per_request']:,.1f}** |",
            "",
            "| `sessions.authenticate`: innermost functions | µs/request |",
            "|---|---:|",
            *top,
            "",
        ]
    )
