"""Several instances: complete logins per second, one process on SQLite against two on
PostgreSQL + Redis, the same load client in the same run.

Run:  python benchmarks/bench_instances.py [--flows 300] [--concurrency 8] [--rounds 2]
      [--seconds 120] [--json PATH]

Setups, each `python -m mfa_fsm_cli.serve` with the same keys and credentials:

- sqlite: one process on a fresh SQLite file (default durability);
- routed: two processes on one routed store (`postgresql://…|redis://…`; a fresh schema and
  key namespace, dropped afterwards); the client alternates between them.

One asyncio/httpx load client runs `--flows` complete logins per setup, `--concurrency` at
a time, and stops after `--seconds` at most. A login: import a member's bcrypt hash
(`passwords.migrate`), `passwords.authenticate` (MFA required: an IST), `otps.sms.send`,
`otps.sms.authenticate` with the code, `sessions.authenticate`. On the routed setup every
step goes to the other instance than the one before. SMS codes reach the client through
`MFA_FSM_SMS_WEBHOOK`, a receiver on loopback in this process (like an SMS gateway).

Each setup runs `--rounds` times, the order alternating so load drift from other processes
hits both alike; the round with the median logins/s is reported per setup: complete
logins/s, p50/p99 per call, and errors over all rounds (any non-2xx; must be 0).
PostgreSQL and Redis come from `MFA_FSM_TEST_POSTGRES_URL` / `MFA_FSM_TEST_REDIS_URL`
(defaults: `postgresql://postgres@127.0.0.1:5432/test`, `redis://127.0.0.1:6379/0`).
This is a script, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import psycopg
import redis
from _common import load_1min, machine_info, percentile, rotated, write_json
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

POSTGRES_URL = os.environ.get(
    "MFA_FSM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("MFA_FSM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "correct horse battery staple"
CALLS = ("migrate", "password", "sms_send", "sms_auth", "session_auth")


# ---------------------------------------------------------------- SMS webhook receiver


class SmsInbox:
    """The SMS gateway stand-in: the servers POST each message here; codes kept by phone."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                found = re.search(r"\b(\d{6})\b", body.get("body", ""))
                if found:
                    inbox.codes[body["to"]] = found.group(1)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def shared_environment(directory: Path, webhook: str) -> dict[str, str]:
    """One deployment's credentials and keys, the same for every instance."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = directory / "signing-key.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {
        **os.environ,
        "MFA_FSM_PROJECT_ID": "project-test-bench",
        "MFA_FSM_SECRET": f"secret-test-{uuid.uuid4().hex}",
        "MFA_FSM_KEY": base64.b64encode(os.urandom(32)).decode(),
        "MFA_FSM_SIGNING_KEY_FILE": str(pem),
        "MFA_FSM_SMS_WEBHOOK": webhook,
    }


def start_server(
    db: str, env: dict[str, str], workdir: Path
) -> tuple[subprocess.Popen[bytes], str]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [sys.executable, "-m", "mfa_fsm_cli.serve", "--port", str(port), "--db", db]
    process = subprocess.Popen(
        cmd, env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {' '.join(cmd[:4])}")
        try:
            if httpx.get(base_url + "/openapi.json", timeout=1).status_code == 200:
                return process, base_url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not start")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def servers(db: str, count: int, env: dict[str, str], workdir: Path) -> Iterator[list[str]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        urls = []
        for n in range(count):
            process, url = start_server(db, env, workdir / f"instance-{n}")
            started.append(process)
            urls.append(url)
        yield urls
    finally:
        for process in started:
            stop_server(process)


@contextmanager
def routed_store() -> Iterator[str]:
    """A fresh schema and key namespace as one routed URL; both dropped afterwards."""
    schema, namespace = f"bench_{uuid.uuid4().hex[:12]}", f"bench-{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in POSTGRES_URL else "?"
    rsep = "&" if "?" in REDIS_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}schema={schema}|{REDIS_URL}{rsep}namespace={namespace}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        with redis.Redis.from_url(REDIS_URL) as client:
            keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
            for start in range(0, len(keys), 1000):
                client.unlink(*keys[start : start + 1000])


# ---------------------------------------------------------------- the load client


@dataclass
class Run:
    """What one setup's load run measured."""

    flows_done: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CALLS})
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "flows": self.flows_done,
            "seconds": round(self.seconds, 3),
            "flows_per_s": round(self.flows_done / self.seconds, 2) if self.seconds else 0.0,
            "errors": self.errors,
            "error_kinds": self.error_kinds,
            "p50_ms": {c: round(percentile(v, 50) * 1000, 2) for c, v in self.latencies.items()},
            "p99_ms": {c: round(percentile(v, 99) * 1000, 2) for c, v in self.latencies.items()},
        }


class LoadClient:
    """Complete logins against a list of instances, `concurrency` at a time."""

    def __init__(
        self, urls: list[str], env: dict[str, str], inbox: SmsInbox, run: Run, label: str
    ) -> None:
        self.urls = urls
        self.inbox = inbox
        self.run = run
        self.label = label
        self.auth = (env["MFA_FSM_PROJECT_ID"], env["MFA_FSM_SECRET"])
        self.hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        self.org_id = ""

    async def call(
        self, client: httpx.AsyncClient, name: str, n: int, path: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """POST to instance `n` (mod the count); timed; a non-200 raises."""
        url = self.urls[n % len(self.urls)] + path
        started = time.perf_counter()
        response = await client.post(url, json=body)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            kind = f"{name}: {response.status_code} {response.json().get('error_type')}"
            raise RuntimeError(kind)
        if name in self.run.latencies:
            self.run.latencies[name].append(elapsed)
        data: dict[str, Any] = response.json()
        return data

    async def login(self, client: httpx.AsyncClient, i: int) -> None:
        org, n = self.org_id, i  # flow i starts on instance i, each step on the next
        email = f"{self.label}-{i}@example.com"
        phone = f"+1415{200 + i // 10_000:03d}{i % 10_000:04d}"
        migrate = {"email_address": email, "hash": self.hash, "hash_type": "bcrypt"}
        member = await self.call(
            client, "migrate", n, "/v1/b2b/passwords/migrate", {**migrate, "organization_id": org}
        )
        member_id = member["member_id"]
        login = await self.call(
            client, "password", n + 1, "/v1/b2b/passwords/authenticate",
            {"organization_id": org, "email_address": email, "password": PASSWORD},
        )  # fmt: skip
        ist = login["intermediate_session_token"]
        ids = {"organization_id": org, "member_id": member_id, "intermediate_session_token": ist}
        await self.call(
            client, "sms_send", n + 2, "/v1/b2b/otps/sms/send", {**ids, "mfa_phone_number": phone}
        )
        code = self.inbox.codes.pop(phone)
        done = await self.call(
            client, "sms_auth", n + 3, "/v1/b2b/otps/sms/authenticate", {**ids, "code": code}
        )
        await self.call(
            client, "session_auth", n + 4, "/v1/b2b/sessions/authenticate",
            {"session_token": done["session_token"]},
        )  # fmt: skip

    async def drive(self, flows: int, concurrency: int, seconds: float) -> None:
        limits = httpx.Limits(max_connections=concurrency * 2)
        async with httpx.AsyncClient(auth=self.auth, timeout=30, limits=limits) as client:
            slug = f"{self.label}-{uuid.uuid4().hex[:8]}"
            created = await self.call(
                client, "setup", 0, "/v1/b2b/organizations",
                {"organization_name": slug, "organization_slug": slug,
                 "mfa_policy": "REQUIRED_FOR_ALL"},
            )  # fmt: skip
            self.org_id = created["organization"]["organization_id"]
            queue = iter(range(flows))
            deadline = time.monotonic() + seconds
            started = time.perf_counter()

            async def worker() -> None:
                for i in queue:
                    if time.monotonic() > deadline:
                        return
                    try:
                        await self.login(client, i)
                        self.run.flows_done += 1
                    except (RuntimeError, httpx.HTTPError, KeyError) as exc:
                        self.run.errors += 1
                        kind = str(exc) or type(exc).__name__
                        self.run.error_kinds[kind] = self.run.error_kinds.get(kind, 0) + 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            self.run.seconds = time.perf_counter() - started


# ---------------------------------------------------------------- main


def measure(
    label: str, db: str, count: int, args: argparse.Namespace, env: dict[str, str],
    inbox: SmsInbox, workdir: Path,
) -> dict[str, Any]:  # fmt: skip
    run = Run()
    with servers(db, count, env, workdir / label) as urls:
        client = LoadClient(urls, env, inbox, run, label)
        asyncio.run(client.drive(args.flows, args.concurrency, args.seconds))
    return {"setup": label, "instances": count, **run.summary()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=300, help="logins per setup")
    parser.add_argument("--concurrency", type=int, default=8, help="logins in flight")
    parser.add_argument("--seconds", type=float, default=120, help="time limit per setup")
    parser.add_argument("--rounds", type=int, default=2, help="runs per setup, alternated")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    inbox = SmsInbox()
    rounds: dict[str, list[dict[str, Any]]] = {"sqlite": [], "routed": []}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-instances-") as tmp, routed_store() as url:
            workdir = Path(tmp)
            env = shared_environment(workdir, inbox.url)
            setups = {"sqlite": (str(workdir / "sqlite" / "mfa.db"), 1), "routed": (url, 2)}
            for r in range(args.rounds):  # alternate the order so load drift hits both alike
                for label in rotated(list(setups), r):
                    db, count = setups[label]
                    name = f"{label}{r}"
                    rounds[label].append(measure(name, db, count, args, env, inbox, workdir))
    finally:
        inbox.close()
    results = [median_round(label, runs) for label, runs in rounds.items()]
    print_results(results, args)
    if args.json:
        doc = {"machine": machine_info(), "args": vars(args), "results": results, "rounds": rounds}
        write_json(args.json, doc)
    return 0


def median_round(label: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median logins/s, with every round's logins/s beside it."""
    ordered = sorted(runs, key=lambda r: float(r["flows_per_s"]))
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen.update(
        setup=label,
        flows=sum(r["flows"] for r in runs),
        errors=sum(r["errors"] for r in runs),
        every_round=[r["flows_per_s"] for r in runs],
    )
    return chosen


def print_results(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    info = machine_info()
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}, Python {info['python']}")
    print(f"flows per setup and round: {args.flows}, rounds: {args.rounds}, "
          f"concurrency: {args.concurrency}, "
          f"load average at the end: {load_1min():.1f}\n")  # fmt: skip
    head = "| setup | instances | logins, all rounds | logins/s, median round | every round |"
    print(head + " errors |")
    print("|---|---|---|---|---|---|")
    for r in results:
        every = ", ".join(str(x) for x in r["every_round"])
        row = [r["setup"], r["instances"], r["flows"], r["flows_per_s"], every, r["errors"]]
        print("| " + " | ".join(str(x) for x in row) + " |")
    print("\n| call | " + " | ".join(f"{r['setup']} p50 / p99 ms" for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for call in CALLS:
        cells = [f"{r['p50_ms'][call]} / {r['p99_ms'][call]}" for r in results]
        print(f"| `{call}` | " + " | ".join(cells) + " |")
    for r in results:
        if r["error_kinds"]:
            print(f"errors on {r['setup']}: {r['error_kinds']}")


if __name__ == "__main__":
    sys.exit(main())
