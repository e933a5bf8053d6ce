"""Where an HTTP `sessions.authenticate` spends its time: cProfile of the app in-process.

Run:  python benchmarks/bench_http_profile.py [--quick] [--json PATH]

The server's ASGI app (`mfa_fsm_server.create_app`) on a provider opened the way the server
opens it (`open_provider` on a fresh data directory: SQLite, default durability), called
in-process straight through the ASGI interface, so neither sockets, uvicorn nor an HTTP
client are in the profile. The app runs the provider call in a worker thread, which
cProfile does not follow, so the provider call is profiled on its own as well; a bare
Starlette endpoint that parses the same JSON body is profiled like the app, for
comparison. The numbers are taken under the profiler: they show shares, not speed.

Then both servers run for real, as `bench_http.py` runs them, and py-spy samples each from
outside under 16 keep-alive clients (`_live_profile.py`): the time each holds the GIL per
request, split by library. That view includes the HTTP parser, the event loop and where the
provider call runs, which the in-process profile cannot show.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import tempfile
import time
from collections.abc import Callable, MutableMapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import _common as common
import _live_profile
import _profile
import bcrypt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mfa_fsm_local.provider import LocalProvider

PROJECT_ID = "project-test-profile"
SECRET = "secret-test-profile-0123456789"
PASSWORD = "correct horse battery staple"
PATH = "/v1/b2b/sessions/authenticate"


def bare_app() -> Starlette:
    async def echo(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"status_code": 200, "ok": True, "keys": len(body)})

    return Starlette(routes=[Route(PATH, echo, methods=["POST"])])


def our_app(data_dir: Path) -> tuple[Starlette, LocalProvider, str]:
    """The server's app on a fresh provider, the provider, and a live session token."""
    from mfa_fsm_local.config import open_provider
    from mfa_fsm_server import create_app

    provider = open_provider(data_dir, project_id=PROJECT_ID, environ={})
    org = provider.organizations_create("Profile", "profile")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    member = provider.passwords_migrate(org.organization_id, "p@example.com", hashed, "bcrypt")
    login = provider.passwords_authenticate(org.organization_id, member.email_address, PASSWORD)
    if not login.session_token:
        raise RuntimeError("the login did not give a session")
    app = create_app(provider, project_id=PROJECT_ID, secret=SECRET)
    return app, provider, login.session_token


def drive(app: Starlette, token: str, n: int) -> float:
    """n requests straight through the ASGI interface, one after another (no HTTP client,
    so the profile holds the app alone); seconds per request, wall clock."""
    body = json.dumps({"session_token": token}).encode()
    auth = base64.b64encode(f"{PROJECT_ID}:{SECRET}".encode())
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"app"),
            (b"authorization", b"Basic " + auth),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }

    async def one() -> int:
        status = 0

        async def receive() -> MutableMapping[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])

        await app(dict(scope), receive, send)
        return status

    async def go() -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            status = await one()
            if status != 200:
                raise RuntimeError(f"status {status}")
        return (time.perf_counter() - t0) / n

    return asyncio.run(go())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    n = 100 if args.quick else 500
    out = common.Printer()
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-http-profile-") as tmp:
        ours, provider, token = our_app(Path(tmp))

        def call_provider(k: int) -> float:
            t0 = time.perf_counter()
            for _ in range(k):
                provider.sessions_authenticate(token)
            return (time.perf_counter() - t0) / k

        cases: dict[str, Callable[[int], float]] = {
            "sessions.authenticate, the app's event-loop thread": partial(drive, ours, token),
            "provider.sessions_authenticate (runs in the worker thread)": call_provider,
            "bare Starlette endpoint": partial(drive, bare_app(), token),
        }
        for name, run in cases.items():
            run(max(10, n // 10))  # warm-up
            with _profile.profiled() as prof:
                seconds = run(n)
            found[name] = {
                "n": n,
                "ms_per_request_under_profiler": seconds * 1e3,
                "top": _profile.top(prof, n, 15),
                "areas": _profile.areas(prof, n, AREAS),
            }
            out.table(
                f"cProfile, {name}: self time by area ({seconds * 1e3:.2f} ms per request "
                "under the profiler)",
                ["area", "self µs/request", "share"],
                _profile.rows_areas(found[name]),
            )
            out.table(
                f"cProfile, {name}: top functions by self time",
                ["function", "calls/request", "self µs/request", "cumulative µs/request"],
                _profile.rows_top(found[name]),
            )
    try:
        live = _live_profile.live(seconds=2 if args.quick else 4, clients=16)
    except (OSError, RuntimeError) as exc:  # py-spy may lack the right to read a process
        live = {"skipped": f"{type(exc).__name__}: {exc}"}
    print(_live_profile.section(live) or "py-spy profile: nothing recorded", flush=True)
    if args.json:
        common.write_json(
            args.json,
            {
                "script": "http_profile",
                "mode": "quick" if args.quick else "full",
                "machine": common.machine_info(),
                "profiles": found,
                "live": live,
            },
            out,
        )
    return 0


AREAS: _profile.Areas = (
    ("SQLite C calls (execute/fetch; includes fsync)", ("sqlite3.",)),
    ("RSA signing (cryptography)", ("RSAPrivateKey", "cryptography")),
    ("pydantic-core validate / serialize", ("pydantic_core",)),
    ("mfa_fsm_server (routes, auth, JSON)", ("mfa_fsm_server",)),
    ("mfa_fsm_local (provider, store)", ("mfa_fsm_local",)),
    ("mfa_fsm core", ("/mfa_fsm/",)),
    ("PyJWT (Python)", ("/jwt/",)),
    ("starlette", ("starlette",)),
    ("anyio (thread pool hand-off)", ("anyio", "sniffio", "threading", "concurrent")),
    ("asyncio", ("asyncio", "selectors", "select.")),
    ("json (stdlib)", ("/json/", "_json")),
    ("pydantic (Python)", ("pydantic",)),
)


if __name__ == "__main__":
    sys.exit(main())
