"""HTTP benchmark: the Stytch-compatible server against a bare Starlette JSON endpoint.

Run:  python benchmarks/bench_http.py [--seconds 4] [--concurrency 1 16 64] [--rounds 3]
      [--json PATH]

Two uvicorn server processes with the same settings (one worker, the same loop and HTTP
implementation, no access log from uvicorn, lifespan off, stderr discarded):

- ours: `python -m mfa_fsm_cli.serve` on a fresh SQLite file (default durability);
- bare: a Starlette app whose one route parses the JSON body and answers a small JSON object.

One asyncio load client (this process; HTTP/1.1 over asyncio streams) drives both with the
same code, at each concurrency level for a bounded time, each worker on its own keep-alive
connection:

- `otps.sms.authenticate`: every request answers a fresh SMS code (each needs its own member,
  IST and code; they are written in-process to the same database just before each run);
- `sessions.authenticate`: each worker re-authenticates its own session token;
- `bare`: the bare endpoint, same request shape (Basic auth header, small JSON body).

Every level runs `--rounds` times, interleaved, the scenario order rotating between rounds
so load drift from other processes hits all alike. Reported per scenario and level: the
median over rounds of req/s, p50 and p99 latency, each with its min-max over rounds;
requests and errors (non-2xx) summed over rounds; and the ratio to the bare endpoint,
taken within each round (the server's req/s over the bare endpoint's in the same round)
and then reduced to its median and min-max. The JSON keeps every round under `rounds`.

This is a script, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import httpx
from _common import (
    free_port,
    machine_info,
    port_open,
    readings,
    start_process,
    stop_process,
    summary,
    write_json,
)

PROJECT_ID = "project-test-bench"
SECRET = "secret-test-bench-0123456789"
PASSWORD = "correct horse battery staple"
UVICORN_SETTINGS: dict[str, Any] = {
    "log_config": None,
    "access_log": False,
    "lifespan": "off",
    "timeout_graceful_shutdown": 5,
}


# ---------------------------------------------------------------- the bare endpoint


def bare_app() -> Any:
    """The baseline: Starlette, one POST route, JSON in and out, nothing else."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"status_code": 200, "ok": True, "keys": len(body)})

    return Starlette(routes=[Route("/bare", echo, methods=["POST"])])


def serve_bare(port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app(), host="127.0.0.1", port=port, **UVICORN_SETTINGS)


def server_env() -> dict[str, str]:
    """Both servers' environment: this project's credentials, development keys in the
    server's data directory (shared with the in-process preparer)."""
    env = {**os.environ, "MFA_FSM_PROJECT_ID": PROJECT_ID, "MFA_FSM_SECRET": SECRET}
    env.pop("MFA_FSM_KEY", None)
    env.pop("MFA_FSM_SIGNING_KEY_FILE", None)
    return env


def ours_command(work: Path, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mfa_fsm_cli.serve",
        "--port",
        str(port),
        "--db",
        str(work / "mfa.db"),
    ]


def bare_command(port: int) -> list[str]:
    return [sys.executable, __file__, "--serve-bare", str(port)]


# ---------------------------------------------------------------- preparing inputs


class CapturingSender:
    """Keeps the last code per phone number, in memory."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}

    def send(self, message: Any) -> None:
        if message.code:
            self.codes[message.to] = message.code


class Preparer:
    """Writes benchmark inputs straight to the server's database, through the provider.

    SMS answers are made just before each run that uses them (untimed, the server idle):
    a code lives two minutes, so a stock made up front would expire.
    """

    def __init__(self, data_dir: Path) -> None:
        from mfa_fsm_local._jwt import dev_signer
        from mfa_fsm_local._keys import dev_keyring
        from mfa_fsm_local.provider import LocalProvider
        from mfa_fsm_local.stores import open_store

        self.store = open_store(f"sqlite:///{(data_dir / 'mfa.db').resolve()}")
        self.sms = CapturingSender()
        self.provider = LocalProvider(
            self.store,
            dev_keyring(data_dir),
            sms=self.sms,
            email=self.sms,
            signer=dev_signer(data_dir),
            project_id=PROJECT_ID,
        )
        self.hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        p = self.provider
        self.required = p.organizations_create("Bench", "bench", mfa_policy="REQUIRED_FOR_ALL")
        self.optional = p.organizations_create("Bench open", "bench-open")
        self.members = 0

    def _member(self, org_id: str) -> str:
        self.members += 1
        email = f"m{self.members}@example.com"
        self.provider.passwords_migrate(org_id, email, self.hashed, "bcrypt")
        return email

    def sms_answers(self, count: int) -> list[dict[str, str]]:
        """`count` members, each logged in with an SMS code sent to a new phone."""
        p, org_id, out = self.provider, self.required.organization_id, []
        for _ in range(count):
            login = p.passwords_authenticate(org_id, self._member(org_id), PASSWORD)
            n = self.members
            phone = f"+1415{200 + n // 10_000:03d}{n % 10_000:04d}"
            ist = login.intermediate_session_token
            p.otps_sms_send(
                org_id, login.member.member_id, mfa_phone_number=phone,
                intermediate_session_token=ist,
            )  # fmt: skip
            out.append(
                {
                    "organization_id": org_id,
                    "member_id": login.member.member_id,
                    "code": self.sms.codes[phone],
                    "intermediate_session_token": ist,
                }
            )
        return out

    def sessions(self, count: int) -> list[str]:
        """`count` live session tokens (OPTIONAL organization: a session at login)."""
        org_id = self.optional.organization_id
        return [
            self.provider.passwords_authenticate(
                org_id, self._member(org_id), PASSWORD
            ).session_token
            for _ in range(count)
        ]

    def close(self) -> None:
        self.store.close()  # type: ignore[attr-defined,unused-ignore]


# ---------------------------------------------------------------- the load client


@dataclass
class Result:
    scenario: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def row(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "concurrency": self.concurrency,
            "requests": self.requests,
            "errors": self.errors,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.percentile(0.50), 2),
            "p99_ms": round(self.percentile(0.99), 2),
        }


async def drive(
    base_url: str,
    path: str,
    body_for: Callable[[int, int], dict[str, Any] | None],
    concurrency: int,
    seconds: float,
    scenario: str,
) -> Result:
    """`concurrency` workers, one keep-alive connection each, until time or inputs run out.

    The client speaks HTTP/1.1 over asyncio streams itself: a general-purpose client
    (httpx) costs more per request than the bare endpoint and would hide the servers'
    differences, worst at 64 connections. Both servers get exactly the same client.
    """
    url = httpx.URL(base_url)
    host, port = url.host, url.port or 80
    auth = base64.b64encode(f"{PROJECT_ID}:{SECRET}".encode()).decode()
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Basic {auth}\r\n"
    head += "Content-Type: application/json\r\n"
    latencies: list[float] = []
    errors = 0
    counter = iter(range(10**9))
    connections = [await asyncio.open_connection(host, port) for _ in range(concurrency)]

    async def worker(index: int) -> None:
        nonlocal errors
        reader, writer = connections[index]
        while time.perf_counter() < deadline:
            body = body_for(index, next(counter))
            if body is None:
                return
            payload = json.dumps(body).encode()
            request = f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload
            t0 = time.perf_counter()
            writer.write(request)
            status, _ = await read_response(reader)
            latencies.append((time.perf_counter() - t0) * 1000)
            if not 200 <= status < 300:
                errors += 1

    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    finally:
        elapsed = time.perf_counter() - started
        for _, writer in connections:
            writer.close()
    return Result(scenario, concurrency, len(latencies), errors, elapsed, latencies)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length (Starlette always sends one)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


def warm_up(base_url: str, path: str, body: dict[str, Any]) -> None:
    with httpx.Client(base_url=base_url, auth=(PROJECT_ID, SECRET)) as client:
        for _ in range(50):
            client.post(path, json=body)


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seconds", type=float, default=4.0, help="per scenario and level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median")
    parser.add_argument("--sms-per-run", type=int, default=1500, help="prepared SMS answers")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0

    signal.signal(signal.SIGTERM, _interrupted)  # stop the servers and clean up on SIGTERM too
    work = Path(tempfile.mkdtemp(prefix="bench-http-"))
    try:
        return run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace, work: Path) -> int:
    levels: list[int] = args.concurrency
    print("machine:", json.dumps(machine_info()), flush=True)
    before = readings()
    preparer = Preparer(work)
    sessions = preparer.sessions(max(levels))
    env = server_env()
    ours_port, bare_port = free_port(), free_port()
    ours_cmd, bare_cmd = ours_command(work, ours_port), bare_command(bare_port)
    ours_url, bare_url = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{bare_port}"
    started: list[subprocess.Popen[bytes]] = []
    per_round: list[dict[str, Any]] = []
    try:
        for cmd, port in ((ours_cmd, ours_port), (bare_cmd, bare_port)):
            started.append(start_process(cmd, env, functools.partial(port_open, port)))
        warm_up(ours_url, "/v1/b2b/sessions/authenticate", {"session_token": sessions[0]})
        warm_up(bare_url, "/bare", {"session_token": sessions[0]})
        sms_queue: Iterator[dict[str, str]] = iter(())

        def sms_body(worker: int, n: int) -> dict[str, Any] | None:
            return next(sms_queue, None)

        def session_body(worker: int, n: int) -> dict[str, Any]:
            return {"session_token": sessions[worker % len(sessions)]}

        scenarios = [
            ("bare", bare_url, "/bare", session_body),
            ("sessions.authenticate", ours_url, "/v1/b2b/sessions/authenticate", session_body),
            ("otps.sms.authenticate", ours_url, "/v1/b2b/otps/sms/authenticate", sms_body),
        ]
        for round_no in range(args.rounds):
            for level in levels:
                shift = (round_no + level) % len(scenarios)  # rotate the order: fair drift
                done: dict[str, Result] = {}
                for name, url, path, body in scenarios[shift:] + scenarios[:shift]:
                    if body is sms_body:
                        sms_queue = iter(preparer.sms_answers(args.sms_per_run))
                    done[name] = asyncio.run(drive(url, path, body, level, args.seconds, name))
                bare_rps = done["bare"].rps
                for name, *_ in scenarios:  # the ratio to bare within the same round
                    row = {"round": round_no + 1, **done[name].row()}
                    row["ratio"] = round(done[name].rps / bare_rps, 4) if bare_rps else None
                    per_round.append(row)
                    print(f"round {round_no + 1}:", json.dumps(row), flush=True)
    finally:
        for process in started:
            stop_process(process)
    rows = combine(per_round)
    print()
    print(table(rows))
    preparer.close()
    parts = breakdown(work, sessions[0])
    print()
    print("sessions.authenticate, in-process, ms per call:", json.dumps(parts))
    if args.json:
        report = {
            "machine": machine_info(),
            "config": {k: v for k, v in vars(args).items() if k not in ("json", "serve_bare")},
            "readings": {"before": before, "after": readings()},
            "rows": rows,
            "rounds": per_round,
            "breakdown_ms": parts,
        }
        write_json(args.json, report)
    return 0


SPREAD = ("rps", "p50_ms", "p99_ms", "ratio")


def combine(per_round: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (scenario, clients): medians over rounds, each with its min-max in
    `spread`; requests and errors summed over the rounds."""
    grouped: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for r in per_round:
        grouped.setdefault((r["concurrency"], r["scenario"]), []).append(r)
    rows = []
    for (level, name), runs in grouped.items():
        spread = {
            key: summary(values)
            for key in SPREAD
            if (values := [r[key] for r in runs if r[key] is not None and r[key] == r[key]])
        }
        row: dict[str, Any] = {
            "scenario": name,
            "concurrency": level,
            "rounds": len(runs),
            "requests": sum(r["requests"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
        }
        row.update({key: s["median"] for key, s in spread.items()})
        row["spread"] = spread
        rows.append(row)
    return rows


def breakdown(data_dir: Path, session_token: str, n: int = 300) -> dict[str, float]:
    """Where a `sessions.authenticate` goes, in-process on the benchmark's database (ms):
    the provider call, its JWT signature alone, and the whole app without HTTP (ASGI)."""
    from mfa_fsm_local.config import open_provider
    from mfa_fsm_server import create_app

    provider = open_provider(data_dir, project_id=PROJECT_ID, environ={})
    session, _ = provider.sessions_authenticate(session_token)
    org = provider.organizations_get(session.organization_id)
    member = provider.members_get(session.organization_id, session.member_id)

    def per_call(fn: Callable[[], object]) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n * 1000

    app = create_app(provider, project_id=PROJECT_ID, secret=SECRET)

    async def through_app() -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://app", auth=(PROJECT_ID, SECRET)
        ) as client:
            t0 = time.perf_counter()
            for _ in range(n):
                await client.post(
                    "/v1/b2b/sessions/authenticate", json={"session_token": session_token}
                )
            return (time.perf_counter() - t0) / n * 1000

    out = {
        "provider.sessions_authenticate": per_call(
            lambda: provider.sessions_authenticate(session_token)
        ),
        "of which JWT signing (RS256)": per_call(
            lambda: provider.session_jwt(session, org, member)
        ),
        "app in-process (ASGI, no HTTP)": asyncio.run(through_app()),
    }
    provider.repo.store.close()  # type: ignore[attr-defined,unused-ignore]
    return {k: round(v, 3) for k, v in out.items()}


def table(rows: list[dict[str, Any]]) -> str:
    """The console summary: medians over rounds, min-max in brackets."""

    def cell(r: dict[str, Any], key: str, digits: int) -> str:
        s = r["spread"].get(key)
        if s is None:
            return ""
        return f"{s['median']:,.{digits}f} ({s['min']:,.{digits}f}-{s['max']:,.{digits}f})"

    lines = [
        "| scenario | clients | requests | errors | req/s | p50 ms | p99 ms | ÷ bare |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['scenario']}` | {r['concurrency']} | {r['requests']} | {r['errors']} | "
            f"{cell(r, 'rps', 0)} | {cell(r, 'p50_ms', 2)} | {cell(r, 'p99_ms', 2)} | "
            f"{cell(r, 'ratio', 2)} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
