"""Several instances: complete logins per second, one process on SQLite against two on
PostgreSQL + Redis, the same load client in the same run.

Run:  python benchmarks/bench_instances.py [--flows 300] [--concurrency 8] [--rounds 3]
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
hits both alike. Reported per setup: complete logins/s and each call's p50/p99, as the
median over rounds with the min-max of the rounds, and errors over all rounds (any
non-2xx; must be 0). The JSON keeps every round under `rounds`.
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
from _common import (
    free_port,
    load_1min,
    machine_info,
    percentile,
    rotated,
    start_process,
    stop_process,
    summary,
    write_json,
)
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
    """One instance; ready once it answers its OpenAPI document."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mfa_fsm_cli.serve", "--port", str(port), "--db", db]
    process = start_process(cmd, env, lambda: answers(base_url + "/openapi.json"), cwd=workdir)
    return process, base_url


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


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
            stop_process(process)


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
    parser.add_argument("--rounds", type=int, default=3, help="runs per setup, alternated")
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
                    found = measure(name, db, count, args, env, inbox, workdir)
                    rounds[label].append({"round": r + 1, **found})
    finally:
        inbox.close()
    results = [combine_rounds(label, runs) for label, runs in rounds.items()]
    print_results(results, args)
    if args.json:
        config = {k: v for k, v in vars(args).items() if k != "json"}
        doc = {"machine": machine_info(), "args": config, "results": results, "rounds": rounds}
        write_json(args.json, doc)
    return 0


def combine_rounds(label: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A setup over its rounds: medians, each with its min-max in `spread`; counts summed."""
    kinds: dict[str, int] = {}
    for r in runs:
        for kind, n in r["error_kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + n

    def per_call(key: str) -> dict[str, dict[str, Any]]:
        found = {c: [r[key][c] for r in runs if r[key][c] == r[key][c]] for c in CALLS}
        return {c: summary(v) for c, v in found.items() if v}  # NaN: no call measured

    spread = {
        "flows_per_s": summary([r["flows_per_s"] for r in runs]),
        "p50_ms": per_call("p50_ms"),
        "p99_ms": per_call("p99_ms"),
    }
    return {
        "setup": label,
        "instances": runs[0]["instances"],
        "rounds": len(runs),
        "flows": sum(r["flows"] for r in runs),
        "seconds": round(sum(r["seconds"] for r in runs), 3),
        "errors": sum(r["errors"] for r in runs),
        "error_kinds": kinds,
        "flows_per_s": spread["flows_per_s"]["median"],
        "p50_ms": {c: s["median"] for c, s in spread["p50_ms"].items()},
        "p99_ms": {c: s["median"] for c, s in spread["p99_ms"].items()},
        "spread": spread,
    }


def spread_cell(s: dict[str, Any] | None, digits: int = 1) -> str:
    if s is None:
        return "-"
    return f"{s['median']:,.{digits}f} ({s['min']:,.{digits}f}-{s['max']:,.{digits}f})"


def print_results(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    info = machine_info()
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}, Python {info['python']}")
    print(f"flows per setup and round: {args.flows}, rounds: {args.rounds}, "
          f"concurrency: {args.concurrency}, "
          f"load average at the end: {load_1min():.1f}\n")  # fmt: skip
    print("| setup | instances | logins, all rounds | logins/s, median (min-max) | errors |")
    print("|---|---|---|---|---|")
    for r in results:
        fps = spread_cell(r["spread"]["flows_per_s"])
        print(f"| {r['setup']} | {r['instances']} | {r['flows']} | {fps} | {r['errors']} |")
    heads = [f"{r['setup']} {q} ms" for r in results for q in ("p50", "p99")]
    print("\n| call | " + " | ".join(heads) + " |")
    print("|---|" + "---|" * len(heads))
    for call in CALLS:
        cells = [
            spread_cell(r["spread"][q].get(call), 2) for r in results for q in ("p50_ms", "p99_ms")
        ]
        print(f"| `{call}` | " + " | ".join(cells) + " |")
    for r in results:
        if r["error_kinds"]:
            print(f"errors on {r['setup']}: {r['error_kinds']}")


if __name__ == "__main__":
    sys.exit(main())
