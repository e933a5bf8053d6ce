"""Local provider benchmarks: complete MFA flows through `LocalProvider` on a real SQLite file.

Run:  python benchmarks/bench_local.py [--quick] [--json PATH]

Everything is measured in one process run, in one thread, on SQLite files in a fresh temporary
directory (deleted at the end). The flow, as the seeds' required enrollment by SMS:

    passwords_authenticate (bcrypt, rounds=4)  -> IST, mfa_required, no second factor yet
    otps_sms_send(new phone, IST)              -> code to a capturing in-memory sender
    otps_sms_authenticate(code, IST)           -> session token + session JWT (RS256)

on an organization with `REQUIRED_FOR_ALL` and members who have no second factor. A second
variant logs in without password hashing (`organizations_get` + `member_by_email` +
`begin_mfa`, which is what `passwords_authenticate` does after the bcrypt check), so the MFA
flow itself is measured apart from bcrypt.

Parts:
1. Throughput and per-operation latency, `SqliteStore(synchronous="FULL")` (the default)
   and "NORMAL" side by side: two stores open on the same file, interleaved rounds whose
   order rotates, so drift hits every variant alike. Medians over rounds, with min-max.
2. JWT signing share (a `SessionSigner` subclass times `sign_session`), and where the rest
   goes: a `SqliteStore` subclass times get / put / append / delete inside the same flows.
3. Bytes per pending flow (IST issued, SMS sent, not authenticated): database growth after
   `PRAGMA wal_checkpoint(TRUNCATE)`, divided by N, and the bytes per collection.
4. Throughput from 1k to 1M stored members. Members are bulk-inserted straight into the
   `documents` table in one transaction, as `members_create` + `passwords_migrate` would
   store them (`Member.model_dump_json()`, the `members` and `member_emails` collections,
   versions taken from the store's `version_counter`).

What-if variants, for the suggestions in the report: `wal_autocheckpoint=0` on the request
connection (checkpoints between batches, untimed), and a PROTOTYPE store that runs each API
call in one write transaction (`UnitOfWorkStore`, not product code). When the target is
missed (or with --profile), cProfile runs over untimed flows and the top costs are printed.

Members are recycled: after each timed batch (untimed) the batch's members are reset to
"no second factor" with fresh versions and their `member_sessions` index is dropped, so
every timed flow does the same work and a population of N members stays N members. Flows,
ISTs, sessions and audit lines of finished flows stay in the database, as they would.

This is a script, not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import json
import os
import platform
import pstats
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import bcrypt
import pydantic
from cryptography.hazmat.primitives.asymmetric import rsa

import mfa_fsm
import mfa_fsm_local
from mfa_fsm import AuthenticationFactor
from mfa_fsm_local._driver import member_key
from mfa_fsm_local._jwt import SessionSigner
from mfa_fsm_local._keys import Keyring
from mfa_fsm_local._ports import ManualClock, Message
from mfa_fsm_local._records import Member
from mfa_fsm_local._sqlite import SqliteStore
from mfa_fsm_local._store import Doc
from mfa_fsm_local.provider import AuthResult, LocalProvider

Sync = Literal["FULL", "NORMAL"]
SYNCS: tuple[Sync, ...] = ("FULL", "NORMAL")
PASSWORD = "correct horse battery staple"
T0 = 1_700_000_000.0
STEP_SECONDS = 0.01  # the manual clock moves this much per operation
PHONES = [f"+1415555{k:04d}" for k in range(10_000)]  # all valid E.164 (checked at start)
OPS = ("login", "sms_send", "sms_authenticate")
RESET = {
    "mfa_enrolled": False,
    "mfa_phone_number": "",
    "mfa_phone_number_verified": False,
    "default_mfa_method": "",
    "failed_attempts": 0,
    "lock_created_at": None,
    "lock_expires_at": None,
}
POPULATE_CHUNK = 50_000
TARGET_FLOWS_PER_SECOND = 1_000.0


def email_for(i: int) -> str:
    return f"user{i:07d}@example.com"


# ------------------------------------------------------------------ instrumented ports


class CapturingSender:
    """The SMS port: keeps the last code per phone number in memory, nothing else."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}

    def send(self, message: Message) -> None:
        if message.code is not None:
            self.codes[message.to] = message.code


class TimedSigner(SessionSigner):
    """A `SessionSigner` that adds up the wall time spent in `sign_session`."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        super().__init__(private_key)
        self.seconds = 0.0
        self.calls = 0

    def sign_session(self, **kw: Any) -> str:
        t0 = time.perf_counter()
        try:
            return super().sign_session(**kw)
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1

    def reset(self) -> None:
        self.seconds, self.calls = 0.0, 0


class TimedStore(SqliteStore):
    """A `SqliteStore` that adds up the wall time of each store call, per method."""

    METHODS = ("get", "put", "append", "delete")

    def __init__(self, path: Path, *, synchronous: Sync) -> None:
        super().__init__(path, synchronous=synchronous)
        self.seconds: dict[str, float] = dict.fromkeys(self.METHODS, 0.0)
        self.calls: dict[str, int] = dict.fromkeys(self.METHODS, 0)
        self.by_collection: dict[str, int] = {}  # "put flows" -> calls

    def reset(self) -> None:
        self.seconds = dict.fromkeys(self.METHODS, 0.0)
        self.calls = dict.fromkeys(self.METHODS, 0)
        self.by_collection = {}

    def _add(self, name: str, t0: float, collection: str) -> None:
        self.seconds[name] += time.perf_counter() - t0
        self.calls[name] += 1
        what = f"{name} {collection}"
        self.by_collection[what] = self.by_collection.get(what, 0) + 1

    def get(self, collection: str, key: str) -> Doc | None:
        t0 = time.perf_counter()
        try:
            return super().get(collection, key)
        finally:
            self._add("get", t0, collection)

    def put(
        self,
        collection: str,
        key: str,
        data: str,
        expected_version: int,
        expires_at: float | None = None,
    ) -> int:
        t0 = time.perf_counter()
        try:
            return super().put(collection, key, data, expected_version, expires_at)
        finally:
            self._add("put", t0, collection)

    def append(self, log: str, member_id: str | None, at: float, data: str) -> int:
        t0 = time.perf_counter()
        try:
            return super().append(log, member_id, at, data)
        finally:
            self._add("append", t0, log)

    def delete(self, collection: str, key: str, expected_version: int) -> None:
        t0 = time.perf_counter()
        try:
            super().delete(collection, key, expected_version)
        finally:
            self._add("delete", t0, collection)


class UnitOfWorkStore(SqliteStore):
    """PROTOTYPE, not the product: one write transaction per API call instead of per write.

    `request()` opens BEGIN IMMEDIATE ... COMMIT around a whole provider call; inside it,
    `put` runs its compare-and-set statements in that transaction (no BEGIN/COMMIT of its
    own) and `append` / `delete` join it too, so a flow commits (and fsyncs) 3 times instead
    of once per write. It overrides the private `_transaction`: a what-if measurement for
    the report, holding the write lock for the whole call (bcrypt and RSA signing included).
    """

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        if conn.in_transaction:  # inside request(): join it
            yield conn
            return
        with super()._transaction() as joined:
            yield joined

    @contextmanager
    def request(self) -> Iterator[None]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


# ------------------------------------------------------------------ the database fixture


class StoreKind(NamedTuple):
    """How a store on the shared file is opened."""

    sync: Sync
    timed: bool = False  # a TimedStore: every store call timed
    autocheckpoint: bool = True  # False: PRAGMA wal_autocheckpoint = 0 on its connection
    unit_of_work: bool = False  # a UnitOfWorkStore (prototype): one commit per API call


@dataclass
class Db:
    """One SQLite file with one REQUIRED_FOR_ALL org and a bulk-inserted member population.

    Several stores (FULL / NORMAL, plain / timed) are open on the same file: `synchronous`
    is a per-connection setting, so they see the same data and differ only in durability.
    """

    path: Path
    admin: sqlite3.Connection  # raw connection for bulk inserts, resets and size queries
    clock: ManualClock
    sender: CapturingSender
    keyring: Keyring
    key: rsa.RSAPrivateKey
    org_id: str = ""
    member_ids: list[str] = field(default_factory=list)
    password_hash: str = ""
    stores: dict[StoreKind, SqliteStore] = field(default_factory=dict)
    providers: dict[StoreKind, LocalProvider] = field(default_factory=dict)
    signers: dict[StoreKind, TimedSigner] = field(default_factory=dict)

    @classmethod
    def create(cls, path: Path, key: rsa.RSAPrivateKey, password_hash: str) -> Db:
        first = SqliteStore(path)  # creates the file, WAL and the schema (migrations)
        clock = ManualClock(T0)
        db = cls(
            path=path,
            admin=sqlite3.connect(path, isolation_level=None),
            clock=clock,
            sender=CapturingSender(),
            keyring=Keyring.from_master(b"b" * 32),
            key=key,
            password_hash=password_hash,
        )
        db.admin.execute("PRAGMA synchronous = NORMAL")
        db.stores[StoreKind("FULL")] = first
        provider = db.provider(StoreKind("FULL"))
        db.org_id = provider.organizations_create(
            "Bench", "bench", mfa_policy="REQUIRED_FOR_ALL"
        ).organization_id
        return db

    def provider(self, k: StoreKind) -> LocalProvider:
        if k not in self.providers:
            if k not in self.stores:
                store = (
                    TimedStore(self.path, synchronous=k.sync)
                    if k.timed
                    else UnitOfWorkStore(self.path, synchronous=k.sync)
                    if k.unit_of_work
                    else SqliteStore(self.path, synchronous=k.sync)
                )
                if not k.autocheckpoint:
                    # this thread's connection: the one every call of this store uses here
                    store._conn().execute("PRAGMA wal_autocheckpoint = 0")
                self.stores[k] = store
            self.signers[k] = TimedSigner(self.key)
            self.providers[k] = LocalProvider(
                self.stores[k],
                self.keyring,
                clock=self.clock,
                sms=self.sender,
                email=self.sender,
                signer=self.signers[k],
            )
        return self.providers[k]

    def close(self) -> None:
        for store in self.stores.values():
            store.close()
        self.admin.close()

    # -------------------------------------------------------------- bulk members

    def populate(self, total: int) -> float:
        """Grow the population to `total` members in one transaction; returns seconds."""
        t0 = time.perf_counter()
        start = len(self.member_ids)
        conn = self.admin
        now = self.clock.now()
        conn.execute("BEGIN IMMEDIATE")
        try:
            ((version,),) = conn.execute(
                "SELECT value FROM version_counter WHERE id = 1"
            ).fetchall()
            for lo in range(start, total, POPULATE_CHUNK):
                rows: list[tuple[str, str, int, str, None]] = []
                for i in range(lo, min(total, lo + POPULATE_CHUNK)):
                    member = Member(
                        organization_id=self.org_id,
                        member_id=f"member-{uuid.uuid4()}",
                        email_address=email_for(i),
                        password_hash=self.password_hash,
                        member_password_id=f"member-password-{uuid.uuid4()}",
                        created_at=now,
                        updated_at=now,
                    )
                    # as members_create: the email index first, then the member
                    version += 1
                    rows.append(
                        (
                            "member_emails",
                            f"{self.org_id}/{member.email_address}",
                            version,
                            json.dumps(member.member_id),
                            None,
                        )
                    )
                    version += 1
                    rows.append(
                        (
                            "members",
                            member_key(self.org_id, member.member_id),
                            version,
                            member.model_dump_json(),
                            None,
                        )
                    )
                    self.member_ids.append(member.member_id)
                conn.executemany(
                    "INSERT INTO documents (collection, key, version, data, expires_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
            conn.execute("UPDATE version_counter SET value = ? WHERE id = 1", (version,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            del self.member_ids[start:]
            raise
        self.checkpoint()
        seconds = time.perf_counter() - t0
        # The provider must find them exactly as if created through the API.
        p = self.provider(StoreKind("NORMAL"))
        for i in (start, total - 1):
            found = p.member_by_email(self.org_id, email_for(i))
            assert found is not None and found.member_id == self.member_ids[i]
        return seconds

    def recycle(self, indices: Sequence[int]) -> None:
        """Reset members to "no second factor" (fresh versions); drop their session index."""
        conn = self.admin
        conn.execute("BEGIN IMMEDIATE")
        try:
            ((version,),) = conn.execute(
                "SELECT value FROM version_counter WHERE id = 1"
            ).fetchall()
            updates: list[tuple[int, str, str]] = []
            keys: list[tuple[str]] = []
            for i in indices:
                mkey = member_key(self.org_id, self.member_ids[i])
                ((data,),) = conn.execute(
                    "SELECT data FROM documents WHERE collection = 'members' AND key = ?",
                    (mkey,),
                ).fetchall()
                member = Member.model_validate_json(data).model_copy(update=RESET)
                version += 1
                updates.append((version, member.model_dump_json(), mkey))
                keys.append((mkey,))
            conn.executemany(
                "UPDATE documents SET version = ?, data = ?"
                " WHERE collection = 'members' AND key = ?",
                updates,
            )
            conn.executemany(
                "DELETE FROM documents WHERE collection = 'member_sessions' AND key = ?", keys
            )
            conn.execute("UPDATE version_counter SET value = ? WHERE id = 1", (version,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -------------------------------------------------------------- sizes

    def checkpoint(self, mode: Literal["PASSIVE", "TRUNCATE"] = "TRUNCATE") -> None:
        """Copy the WAL into the database. PASSIVE keeps the WAL file's size, so the next
        writer reuses it from the start, as in steady state; TRUNCATE empties it (sizes)."""
        busy, log, done = self.admin.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        if busy or log != done:
            raise RuntimeError("WAL checkpoint could not complete")

    def size(self) -> dict[str, int]:
        """Sizes after a TRUNCATE checkpoint: pages in use and bytes on disk (db + WAL)."""
        self.checkpoint()
        (page_count,) = self.admin.execute("PRAGMA page_count").fetchone()
        (page_size,) = self.admin.execute("PRAGMA page_size").fetchone()
        (free,) = self.admin.execute("PRAGMA freelist_count").fetchone()
        wal = Path(f"{self.path}-wal")
        return {
            "page_bytes": int(page_count) * int(page_size),
            "free_page_bytes": int(free) * int(page_size),
            "file_bytes": self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0),
        }

    def btrees(self) -> dict[str, int]:
        """Bytes of pages per table and index (SQLite's dbstat), or {} when not compiled in."""
        try:
            rows = self.admin.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
            return {str(name): int(size) for name, size in rows}
        except sqlite3.OperationalError:
            return {}

    def contents(self) -> dict[str, tuple[int, int, int]]:
        """Per collection (documents) and per log (`log:` prefix): rows, key bytes, data bytes."""
        out: dict[str, tuple[int, int, int]] = {}
        for name, n, k, d in self.admin.execute(
            "SELECT collection, COUNT(*), SUM(LENGTH(CAST(key AS BLOB))),"
            " SUM(LENGTH(CAST(data AS BLOB))) FROM documents GROUP BY collection"
        ):
            out[name] = (int(n), int(k), int(d))
        for name, n, d in self.admin.execute(
            "SELECT log, COUNT(*), SUM(LENGTH(CAST(data AS BLOB))) FROM logs GROUP BY log"
        ):
            out[f"log:{name}"] = (int(n), 0, int(d))
        return out


# ------------------------------------------------------------------ the flow


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    sync: Sync
    password: bool  # passwords_authenticate (bcrypt) or login without password hashing
    timed_store: bool = False
    autocheckpoint: bool = True
    unit_of_work: bool = False

    @property
    def kind(self) -> StoreKind:
        return StoreKind(self.sync, self.timed_store, self.autocheckpoint, self.unit_of_work)


def login(p: LocalProvider, org_id: str, email: str, password: bool) -> AuthResult:
    if password:
        return p.passwords_authenticate(org_id, email, PASSWORD)
    # passwords_authenticate minus the bcrypt check: the same reads, factor and begin_mfa
    org = p.organizations_get(org_id)
    member = p.member_by_email(org.organization_id, email)
    assert member is not None
    factor = AuthenticationFactor(
        type="password", delivery_method="knowledge", last_authenticated_at=p.clock.now()
    )
    return p.begin_mfa(org, member, factor, "")


@dataclass
class Batch:
    """One timed batch of flows."""

    n: int
    seconds: float
    cpu_seconds: float
    op_seconds: dict[str, list[float]]  # per flow, per operation
    sign_seconds: float
    sign_calls: int
    store_seconds: dict[str, float] = field(default_factory=dict)
    store_calls: dict[str, int] = field(default_factory=dict)
    store_by_collection: dict[str, int] = field(default_factory=dict)


def run_flows(
    db: Db,
    v: Variant,
    indices: Sequence[int],
    *,
    pending: bool = False,
    phone0: int = 0,
    collect: bool = True,
) -> Batch:
    """Run one flow per member index; `pending` stops after the SMS send."""
    p = db.provider(v.kind)
    signer = db.signers[v.kind]
    store = db.stores[v.kind]
    signer.reset()
    if isinstance(store, TimedStore):
        store.reset()
    org_id, ids, codes, clock = db.org_id, db.member_ids, db.sender.codes, db.clock
    password = v.password
    request: Callable[[], AbstractContextManager[None]] = (
        store.request if isinstance(store, UnitOfWorkStore) else nullcontext
    )
    ops: dict[str, list[float]] = {op: [] for op in OPS}
    t_login, t_send, t_auth = ops["login"], ops["sms_send"], ops["sms_authenticate"]
    if collect:
        gc.collect()
    perf = time.perf_counter
    c0, start = time.thread_time(), perf()
    for j, i in enumerate(indices):
        member_id = ids[i]
        phone = PHONES[(phone0 + j) % len(PHONES)]
        t0 = perf()
        with request():
            first = login(p, org_id, email_for(i), password)
        t1 = perf()
        clock.t += STEP_SECONDS
        ist = first.intermediate_session_token
        if first.member_authenticated or not ist or first.mfa_required is None:
            raise AssertionError(f"flow {j}: login did not ask for MFA enrollment")
        with request():
            p.otps_sms_send(
                org_id, member_id, mfa_phone_number=phone, intermediate_session_token=ist
            )
        t2 = perf()
        t_login.append(t1 - t0)
        t_send.append(t2 - t1)
        clock.t += STEP_SECONDS
        if pending:
            continue
        code = codes[phone]
        t2 = perf()
        with request():
            done = p.otps_sms_authenticate(org_id, member_id, code, intermediate_session_token=ist)
        t3 = perf()
        t_auth.append(t3 - t2)
        clock.t += STEP_SECONDS
        if not (done.member_authenticated and done.session_jwt and done.session_token):
            raise AssertionError(f"flow {j} did not end in a session")
    seconds, cpu = perf() - start, time.thread_time() - c0
    batch = Batch(len(indices), seconds, cpu, ops, signer.seconds, signer.calls)
    if isinstance(store, TimedStore):
        batch.store_seconds, batch.store_calls = dict(store.seconds), dict(store.calls)
        batch.store_by_collection = dict(store.by_collection)
    return batch


@dataclass
class Series:
    """A variant's batches over the rounds."""

    variant: Variant
    n: int
    batches: list[Batch] = field(default_factory=list)

    def per_flow(self) -> list[float]:
        return [b.seconds / b.n for b in self.batches]

    def flows_per_second(self) -> list[float]:
        return [b.n / b.seconds for b in self.batches]

    def cpu_per_flow(self) -> list[float]:
        return [b.cpu_seconds / b.n for b in self.batches]

    def sign_per_flow(self) -> list[float]:
        return [b.sign_seconds / b.n for b in self.batches]

    def sign_share(self) -> list[float]:
        return [b.sign_seconds / b.seconds for b in self.batches]

    def op_mean(self, op: str) -> list[float]:
        return [statistics.fmean(b.op_seconds[op]) for b in self.batches]

    def op_pct(self, op: str, q: float) -> list[float]:
        return [percentile(b.op_seconds[op], q) for b in self.batches]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def run_rounds(
    db: Db,
    series: Sequence[Series],
    rounds: int,
    rng: random.Random,
    log: Callable[[str], None],
    label: str,
) -> None:
    """Interleaved rounds; the order rotates so no variant always runs first or last."""
    pop = len(db.member_ids)
    for s in series:  # warm-up: statement caches, pydantic schemas, page cache
        warm = rng.sample(range(pop), min(10, pop))
        run_flows(db, s.variant, warm)
        db.recycle(warm)
        db.checkpoint("PASSIVE")
    phone0 = 0
    for r in range(rounds):
        k = r % len(series)
        for s in [*series[k:], *series[:k]]:
            members = rng.sample(range(pop), min(s.n, pop))
            s.batches.append(run_flows(db, s.variant, members, phone0=phone0))
            phone0 += len(members)
            db.recycle(members)
            db.checkpoint("PASSIVE")  # every batch starts on a fully checkpointed WAL
        log(f"  {label}: round {r + 1}/{rounds} done")


# ------------------------------------------------------------------ single calls


@dataclass
class Micro:
    label: str
    seconds: list[float] = field(default_factory=list)  # per call, per repeat

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def micro_benchmarks(
    root: Path, key: rsa.RSAPrivateKey, password_hash: str, repeats: int, n: int
) -> list[Micro]:
    """The per-call costs a flow is made of, on a separate small file."""
    path = root / "micro.db"
    stores = {sync: SqliteStore(path, synchronous=sync) for sync in SYNCS}
    signer = SessionSigner(key)
    data = Member(
        organization_id="organization-x",
        member_id="member-x",
        email_address="x@example.com",
        created_at=T0,
        updated_at=T0,
    ).model_dump_json()
    counter = iter(range(10**9))

    def put(sync: Sync) -> Callable[[int], None]:
        store = stores[sync]

        def run(k: int) -> None:
            for _ in range(k):
                store.put("micro", f"k{next(counter)}", data, 0)

        return run

    def get(k: int) -> None:
        store = stores["NORMAL"]
        for _ in range(k):
            store.get("micro", "k1")

    def sign(k: int) -> None:
        for _ in range(k):
            signer.sign_session(
                project_id="project-test-local",
                member_id="member-x",
                organization_id="organization-x",
                organization_slug="bench",
                session_id="member-session-x",
                started_at=T0,
                last_accessed_at=T0,
                session_expires_at=T0 + 3600,
                authentication_factors=[],
                roles=[],
                now=T0,
            )

    def check_password(k: int) -> None:
        pw, hashed = PASSWORD.encode(), password_hash.encode()
        for _ in range(k):
            bcrypt.checkpw(pw, hashed)

    cases: list[tuple[Micro, Callable[[int], None], int]] = [
        (Micro('store.put, insert (synchronous="FULL")'), put("FULL"), max(20, n // 10)),
        (Micro('store.put, insert (synchronous="NORMAL")'), put("NORMAL"), n),
        (Micro("store.get (hit)"), get, n * 4),
        (Micro("SessionSigner.sign_session (RS256, 2048-bit)"), sign, max(20, n // 4)),
        (Micro("bcrypt.checkpw, rounds=4"), check_password, max(20, n // 4)),
    ]
    for _, run, k in cases:
        run(max(5, k // 10))
    for r in range(repeats):
        for m, run, k in cases[r % len(cases) :] + cases[: r % len(cases)]:
            gc.collect()
            t0 = time.perf_counter()
            run(k)
            m.seconds.append((time.perf_counter() - t0) / k)
    for store in stores.values():
        store.close()
    return [m for m, _, _ in cases]


# ------------------------------------------------------------------ profile


@contextmanager
def profiled() -> Iterator[cProfile.Profile]:
    prof = cProfile.Profile()
    prof.enable()
    try:
        yield prof
    finally:
        prof.disable()


def short_name(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":
        return name  # a built-in: "{method 'execute' of 'sqlite3.Connection' objects}"
    parts = Path(filename).parts
    for anchor in ("site-packages", "adapters", "lib"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1 :]
            break
    else:
        parts = parts[-2:]
    return f"{'/'.join(parts)}:{line}({name})"


def profile_top(prof: cProfile.Profile, flows: int, top: int) -> list[tuple[str, float, float]]:
    """(function, self ms per flow, cumulative ms per flow) by self time."""
    stats = pstats.Stats(prof)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    return [(short_name(f), v[2] / flows * 1e3, v[3] / flows * 1e3) for f, v in rows]


AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # (area, substrings of the function's file or built-in name), first match wins
    ("SQLite C calls (execute/fetch; includes fsync)", ("sqlite3.",)),
    ("bcrypt.checkpw (rounds=4)", ("bcrypt",)),
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
)


def profile_areas(prof: cProfile.Profile, flows: int) -> list[tuple[str, float]]:
    """Self time per flow grouped by area (library or package), largest first."""
    stats = pstats.Stats(prof)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    for (filename, _, name), v in raw.items():
        where = name if filename == "~" else filename.replace(os.sep, "/")
        area = next(
            (a for a, needles in AREAS if any(n in where for n in needles)),
            "other Python (stdlib, glue)",
        )
        totals[area] = totals.get(area, 0.0) + v[2]
    return sorted(((a, t / flows * 1e3) for a, t in totals.items()), key=lambda r: -r[1])


# ------------------------------------------------------------------ report helpers


def source_digest() -> str:
    """A short digest of the core's and the local provider's sources: which code ran."""
    h = hashlib.sha256()
    for package in (mfa_fsm, mfa_fsm_local):
        root = Path(package.__file__ or "").parent
        for path in sorted(root.glob("*.py")):
            h.update(f"{package.__name__}/{path.name}".encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


SOURCE_DIGEST = source_digest()  # taken at import time: the code this run actually runs


def machine_info(root: Path) -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    fs = "unknown"
    try:
        best = ""
        with open("/proc/mounts", encoding="utf-8") as fh:
            for line in fh:
                dev, mnt, kind, *_ = line.split()
                if str(root).startswith(mnt) and len(mnt) > len(best):
                    best, fs = mnt, f"{kind} on {dev.rsplit('/', 1)[-1]}"
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "nproc": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"),
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "temp_dir_filesystem": fs,
        "mfa_fsm": getattr(mfa_fsm, "__version__", "dev"),
        "sources_sha256": SOURCE_DIGEST,
        "pydantic": pydantic.VERSION,
        "bcrypt": getattr(bcrypt, "__version__", "?"),
    }


def pressure() -> str:
    """Linux PSI: share of the last 60 s some task waited for CPU / I/O (contention)."""
    found = []
    for kind in ("cpu", "io"):
        try:
            with open(f"/proc/pressure/{kind}", encoding="utf-8") as fh:
                some = fh.readline().split()
            found.append(f"{kind} {some[2].split('=')[1]}%")
        except (OSError, IndexError):
            pass
    return ", ".join(found) or "n/a"


def med(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f}"


def ms_range(values: Sequence[float]) -> str:
    return f"{min(values) * 1e3:,.2f}-{max(values) * 1e3:,.2f}"


def rate_range(values: Sequence[float]) -> str:
    return f"{min(values):,.0f}-{max(values):,.0f}"


def pct_range(values: Sequence[float]) -> str:
    return f"{min(values) * 100:.1f}-{max(values) * 100:.1f}"


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


class Printer:
    """rich when installed, plain aligned text otherwise."""

    def __init__(self) -> None:
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            self.console: Any = None
            self.table_cls: Any = None
        else:
            self.console = Console(width=None if sys.stdout.isatty() else 170)
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
        print()


# ------------------------------------------------------------------ main


@dataclass
class Config:
    rounds: int
    n: dict[Sync, int]  # flows per batch
    pop: int  # members in part 1's database
    pending: int  # part 3's N
    tiers: tuple[int, ...]
    tier_rounds: int
    tier_n: dict[Sync, int]
    micro_repeats: int
    micro_n: int
    profile_flows: int
    max_populate_seconds: float


FULL_CONFIG = Config(
    rounds=7,
    n={"FULL": 100, "NORMAL": 400},
    pop=10_000,
    pending=10_000,
    tiers=(1_000, 10_000, 100_000, 1_000_000),
    tier_rounds=5,
    tier_n={"FULL": 100, "NORMAL": 300},
    micro_repeats=7,
    micro_n=400,
    profile_flows=300,
    max_populate_seconds=180.0,
)
QUICK_CONFIG = Config(
    rounds=3,
    n={"FULL": 25, "NORMAL": 60},
    pop=2_000,
    pending=1_000,
    tiers=(1_000, 10_000, 100_000),
    tier_rounds=2,
    tier_n={"FULL": 20, "NORMAL": 50},
    micro_repeats=3,
    micro_n=100,
    profile_flows=60,
    max_populate_seconds=30.0,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer flows, rounds and tiers")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print the cProfile top costs even when the target is met",
    )
    args = parser.parse_args(argv)
    cfg = QUICK_CONFIG if args.quick else FULL_CONFIG
    out = Printer()
    rng = random.Random(20240601)
    wall0 = time.perf_counter()

    from mfa_fsm_local._codes import normalize_phone

    assert all(normalize_phone(p) == p for p in PHONES[:: len(PHONES) // 50])
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()

    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp:
        root = Path(tmp)
        info = machine_info(root)
        out.line(
            f"mfa-fsm local provider benchmarks — Python {info['python']} on {info['cpu']} "
            f"(nproc {info['nproc']}), SQLite {info['sqlite']}, temp dir on "
            f"{info['temp_dir_filesystem']}; {'quick' if args.quick else 'full'} mode; "
            f"mfa_fsm + mfa_fsm_local sources sha256 {info['sources_sha256']}"
        )
        load_before, psi_before = os.getloadavg()[0], pressure()
        results: dict[str, Any] = {"mode": "quick" if args.quick else "full", "machine": info}

        # ---------------------------------------------------------- part 1 + 2
        out.line(f"part 1: {cfg.pop:,} members, {cfg.rounds} interleaved rounds…")
        db = Db.create(root / "flows.db", key, password_hash)
        pop_seconds = db.populate(cfg.pop)
        out.line(f"  populated {cfg.pop:,} members in {pop_seconds:.1f} s")
        variants = [
            Variant(
                "full_pw",
                'complete flow, password login, synchronous="FULL" (default)',
                "FULL",
                True,
            ),
            Variant(
                "normal_pw", 'complete flow, password login, synchronous="NORMAL"', "NORMAL", True
            ),
            Variant("full_mfa", 'MFA flow, login without password hashing, "FULL"', "FULL", False),
            Variant(
                "normal_mfa", 'MFA flow, login without password hashing, "NORMAL"', "NORMAL", False
            ),
            Variant(
                "full_pw_timed", 'complete flow, "FULL", store calls timed', "FULL", True, True
            ),
            Variant(
                "normal_pw_timed",
                'complete flow, "NORMAL", store calls timed',
                "NORMAL",
                True,
                True,
            ),
            Variant(
                "full_pw_nockpt",
                'complete flow, "FULL", wal_autocheckpoint=0 (checkpoint between batches)',
                "FULL",
                True,
                autocheckpoint=False,
            ),
            Variant(
                "normal_pw_nockpt",
                'complete flow, "NORMAL", wal_autocheckpoint=0 (checkpoint between batches)',
                "NORMAL",
                True,
                autocheckpoint=False,
            ),
            Variant(
                "full_pw_uow",
                'complete flow, "FULL", PROTOTYPE one transaction per API call',
                "FULL",
                True,
                unit_of_work=True,
            ),
            Variant(
                "normal_pw_uow",
                'complete flow, "NORMAL", PROTOTYPE one transaction per API call',
                "NORMAL",
                True,
                unit_of_work=True,
            ),
        ]
        series = [Series(v, cfg.n[v.sync]) for v in variants]
        run_rounds(db, series, cfg.rounds, rng, out.line, "part 1")
        by = {s.variant.key: s for s in series}
        db_size_after = db.size()
        db.close()

        # ---------------------------------------------------------- single calls
        out.line("single calls…")
        micro = micro_benchmarks(root, key, password_hash, cfg.micro_repeats, cfg.micro_n)

        # ---------------------------------------------------------- part 3
        out.line(f"part 3: {cfg.pending:,} pending flows…")
        pdb = Db.create(root / "pending.db", key, password_hash)
        pdb.populate(cfg.pending)
        size0, contents0, btrees0 = pdb.size(), pdb.contents(), pdb.btrees()
        pv = Variant("pending", "pending", "NORMAL", True)
        t0 = time.perf_counter()
        pending_batch = run_flows(pdb, pv, range(cfg.pending), pending=True)
        pending_seconds = time.perf_counter() - t0
        size1, contents1, btrees1 = pdb.size(), pdb.contents(), pdb.btrees()
        pdb.close()
        n_pending = cfg.pending
        growth = {k: (size1[k] - size0[k]) / n_pending for k in size0}
        per_btree = sorted(
            ((name, (btrees1.get(name, 0) - btrees0.get(name, 0)) / n_pending) for name in btrees1),
            key=lambda r: -r[1],
        )
        per_collection: list[tuple[str, float, float, float]] = []
        for name in sorted(set(contents0) | set(contents1)):
            r0 = contents0.get(name, (0, 0, 0))
            r1 = contents1.get(name, (0, 0, 0))
            rows_d, key_d, data_d = (r1[i] - r0[i] for i in range(3))
            if rows_d or key_d or data_d:
                per_collection.append(
                    (name, rows_d / n_pending, key_d / n_pending, data_d / n_pending)
                )

        # ---------------------------------------------------------- part 4
        out.line(f"part 4: stored members {', '.join(f'{t:,}' for t in cfg.tiers)}…")
        sdb = Db.create(root / "scale.db", key, password_hash)
        tiers: list[dict[str, Any]] = []
        skipped: list[tuple[int, float]] = []
        rate: float | None = None  # seconds per member at the last populate
        for tier in cfg.tiers:
            todo = tier - len(sdb.member_ids)
            if rate is not None and todo * rate > cfg.max_populate_seconds:
                skipped.append((tier, todo * rate))
                out.line(
                    f"  skip {tier:,}: populating {todo:,} more members would take about "
                    f"{todo * rate:,.0f} s (> {cfg.max_populate_seconds:.0f} s)"
                )
                break
            seconds = sdb.populate(tier)
            rate = seconds / todo
            size = sdb.size()
            out.line(f"  {tier:,} members: +{todo:,} in {seconds:.1f} s, {mib(size['file_bytes'])}")
            tier_series = [
                Series(Variant(f"tier_{sync}", sync, sync, True), cfg.tier_n[sync])
                for sync in SYNCS
            ]
            run_rounds(sdb, tier_series, cfg.tier_rounds, rng, out.line, f"{tier:,} members")
            tiers.append(
                {
                    "members": tier,
                    "added": todo,
                    "populate_seconds": seconds,
                    "size_before_flows": size,
                    "series": {s.variant.sync: s for s in tier_series},
                }
            )
        sdb.close()

        # ---------------------------------------------------------- profile
        headline = 1 / med(by["full_pw"].per_flow())
        missed = headline < TARGET_FLOWS_PER_SECOND
        profiles: dict[str, list[tuple[str, float, float]]] = {}
        areas: dict[str, list[tuple[str, float]]] = {}
        profile_seconds: dict[str, float] = {}
        if missed or args.profile:
            out.line("profiling (cProfile, untimed)…")
            prdb = Db.create(root / "profile.db", key, password_hash)
            prdb.populate(cfg.profile_flows * 2)
            for sync in SYNCS:
                v = Variant(f"profile_{sync}", sync, sync, True)
                members = rng.sample(range(len(prdb.member_ids)), cfg.profile_flows)
                run_flows(prdb, v, members[:10])
                prdb.recycle(members[:10])
                prdb.checkpoint("PASSIVE")
                gc.collect()
                with profiled() as prof:
                    b = run_flows(prdb, v, members, collect=False)
                prdb.recycle(members)
                profile_seconds[sync] = b.seconds / b.n
                profiles[sync] = profile_top(prof, len(members), 16)
                areas[sync] = profile_areas(prof, len(members))
            prdb.close()
        load_after, psi_after = os.getloadavg()[0], pressure()

    # ============================================================== report
    out.line(
        f"1-minute load average: {load_before:.2f} before, {load_after:.2f} after "
        f"(nproc {info['nproc']}); pressure (PSI some avg60) before: {psi_before}, after: "
        f"{psi_after}; total run {time.perf_counter() - wall0:.0f} s"
    )
    rows: list[list[str]] = []
    for s in series:
        fps = s.flows_per_second()
        rows.append(
            [
                s.variant.label,
                f"{med(fps):,.0f}",
                rate_range(fps),
                ms(med(s.per_flow())),
                ms_range(s.per_flow()),
                ms(med(s.cpu_per_flow())),
                ms(med(s.sign_per_flow())),
                f"{med(s.sign_share()) * 100:.1f}% ({pct_range(s.sign_share())})",
            ]
        )
    out.table(
        f"Part 1-2: complete flows, one thread, {cfg.pop:,} members; {cfg.rounds} rounds "
        f"(FULL {cfg.n['FULL']} / NORMAL {cfg.n['NORMAL']} flows per round); wall clock, "
        "CPU = thread CPU time",
        [
            "variant",
            "flows/s median",
            "flows/s min-max",
            "ms/flow",
            "ms/flow min-max",
            "CPU ms/flow",
            "JWT sign ms/flow",
            "JWT sign % of flow",
        ],
        rows,
    )
    lat_rows: list[list[str]] = []
    for s in [s for s in series if not s.variant.timed_store]:
        for op in OPS:
            p50, p99 = s.op_pct(op, 50), s.op_pct(op, 99)
            lat_rows.append(
                [
                    f"{s.variant.key}: {op}",
                    ms(med(s.op_mean(op))),
                    ms(med(p50)),
                    ms_range(p50),
                    ms(med(p99)),
                    ms_range(p99),
                ]
            )
    out.table(
        "Latency per operation, ms (per-round p50 / p99, nearest rank; median over rounds and "
        "min-max)",
        ["variant: operation", "mean", "p50", "p50 min-max", "p99", "p99 min-max"],
        lat_rows,
    )
    split_rows: list[list[str]] = []
    for key_ in ("full_pw_timed", "normal_pw_timed"):
        s = by[key_]
        flow = med(s.per_flow())
        parts: dict[str, list[float]] = {
            f"store.{m}": [b.store_seconds[m] / b.n for b in s.batches] for m in TimedStore.METHODS
        }
        parts["JWT sign_session"] = s.sign_per_flow()
        calls = {
            f"store.{m}": s.batches[0].store_calls[m] / s.batches[0].n for m in TimedStore.METHODS
        }
        calls["JWT sign_session"] = s.batches[0].sign_calls / s.batches[0].n
        accounted = [sum(v[i] for v in parts.values()) for i in range(len(s.batches))]
        parts["everything else"] = [
            b.seconds / b.n - a for b, a in zip(s.batches, accounted, strict=True)
        ]
        calls["everything else"] = float("nan")
        for name, vals in parts.items():
            c = calls[name]
            split_rows.append(
                [
                    f"{s.variant.sync}: {name}",
                    "" if c != c else f"{c:.0f}",
                    ms(med(vals)),
                    ms_range(vals),
                    f"{med(vals) / flow * 100:.1f}%",
                ]
            )
    out.table(
        "Where a complete flow's time goes (store calls timed by a SqliteStore subclass; "
        "put/append/delete are one write transaction each, fsync'd under FULL)",
        ["sync: part", "calls/flow", "ms/flow", "ms/flow min-max", "% of flow"],
        split_rows,
    )
    first = by["normal_pw_timed"].batches[0]
    out.table(
        "Store calls per complete flow, by method and collection (first timed batch)",
        ["call", "calls/flow"],
        [
            [what, f"{n / first.n:g}"]
            for what, n in sorted(
                first.store_by_collection.items(), key=lambda kv: (kv[0].split()[0], -kv[1])
            )
        ],
    )
    out.table(
        "Single calls (median over repeats; min-max)",
        ["call", "µs/call", "µs/call min-max"],
        [
            [
                m.label,
                f"{m.median * 1e6:,.1f}",
                f"{min(m.seconds) * 1e6:,.1f}-{max(m.seconds) * 1e6:,.1f}",
            ]
            for m in micro
        ],
    )
    out.table(
        f"Part 3: bytes per pending flow (N = {n_pending:,} flows left after otps_sms_send; "
        f"distinct members; created in {pending_seconds:.1f} s on NORMAL)",
        ["measurement", "bytes per flow"],
        [
            [
                "page_count × page_size growth (after wal_checkpoint(TRUNCATE))",
                f"{growth['page_bytes']:,.0f}",
            ],
            [
                "file size growth, db + WAL (after wal_checkpoint(TRUNCATE))",
                f"{growth['file_bytes']:,.0f}",
            ],
            ["freelist growth", f"{growth['free_page_bytes']:,.0f}"],
        ],
    )
    out.table(
        "Part 3: what the pending flows added, per flow (documents by collection; logs by name)",
        ["collection", "rows/flow", "key bytes/flow", "data bytes/flow", "key+data bytes/flow"],
        [
            [name, f"{r:.2f}", f"{k:,.0f}", f"{d:,.0f}", f"{k + d:,.0f}"]
            for name, r, k, d in per_collection
        ],
    )
    if per_btree:
        out.table(
            "Part 3: page growth per flow by table and index (dbstat)",
            ["table / index", "bytes per flow"],
            [[name, f"{b:,.0f}"] for name, b in per_btree if b],
        )
    tier_rows: list[list[str]] = []
    for t in tiers:
        row = [
            f"{t['members']:,}",
            f"{t['populate_seconds']:.1f} s (+{t['added']:,})",
            mib(t["size_before_flows"]["file_bytes"]),
        ]
        for sync in SYNCS:
            s = t["series"][sync]
            fps = s.flows_per_second()
            row += [f"{med(fps):,.0f}", rate_range(fps)]
        full = t["series"]["FULL"]
        row.append(ms(med(full.op_pct("login", 50))))
        row.append(ms(med(t["series"]["NORMAL"].op_pct("login", 50))))
        tier_rows.append(row)
    out.table(
        f"Part 4: complete flows/s (password login) vs stored members; {cfg.tier_rounds} rounds "
        f"(FULL {cfg.tier_n['FULL']} / NORMAL {cfg.tier_n['NORMAL']} flows per round)",
        [
            "members",
            "populate time",
            "db size",
            "FULL flows/s",
            "FULL min-max",
            "NORMAL flows/s",
            "NORMAL min-max",
            "FULL login p50 ms",
            "NORMAL login p50 ms",
        ],
        tier_rows,
    )
    for tier, est in skipped:
        out.line(
            f"not measured: {tier:,} members (populating would take about {est:,.0f} s, over "
            f"the {cfg.max_populate_seconds:.0f} s limit of this mode)"
        )

    targets: list[list[str]] = []
    for s in [s for s in series if not s.variant.timed_store]:
        got = 1 / med(s.per_flow())
        verdict = (
            f"PASS ({got / TARGET_FLOWS_PER_SECOND:.2f}x the target)"
            if got >= TARGET_FLOWS_PER_SECOND
            else f"MISS (needs {TARGET_FLOWS_PER_SECOND / got:.2f}x faster)"
        )
        targets.append(
            [s.variant.label, f"{got:,.0f}", f"≥ {TARGET_FLOWS_PER_SECOND:,.0f}", verdict]
        )
    out.table(
        "Target: ≥ 1,000 complete flows/s on one core (headline: the first row)",
        ["variant", "flows/s (median)", "target", "verdict"],
        targets,
    )

    for mode, top in profiles.items():
        total = sum(t for _, t in areas[mode])
        out.table(
            f"cProfile, complete flows on {mode}, self time by area ({cfg.profile_flows} flows, "
            f"{profile_seconds[mode] * 1e3:.2f} ms/flow under the profiler, which inflates "
            "Python-level costs)",
            ["area", "self ms/flow", "% of profiled time"],
            [[a, f"{t:.3f}", f"{t / total * 100:.1f}%"] for a, t in areas[mode]],
        )
        out.table(
            f"cProfile, complete flows on {mode}, top functions by self time",
            ["function", "self ms/flow", "cumulative ms/flow"],
            [[name, f"{tt:.3f}", f"{ct:.3f}"] for name, tt, ct in top],
        )

    if args.json:

        def series_doc(s: Series) -> dict[str, Any]:
            return {
                "label": s.variant.label,
                "sync": s.variant.sync,
                "password_login": s.variant.password,
                "flows_per_batch": s.n,
                "flows_per_second": s.flows_per_second(),
                "seconds_per_flow": s.per_flow(),
                "cpu_seconds_per_flow": s.cpu_per_flow(),
                "sign_seconds_per_flow": s.sign_per_flow(),
                "sign_share": s.sign_share(),
                "ops": {
                    op: {
                        "mean": s.op_mean(op),
                        "p50": s.op_pct(op, 50),
                        "p99": s.op_pct(op, 99),
                    }
                    for op in OPS
                    if s.batches and s.batches[0].op_seconds[op]
                },
                "store_seconds_per_flow": [
                    {m: b.store_seconds[m] / b.n for m in b.store_seconds} for b in s.batches
                ],
                "store_calls_per_flow": [
                    {m: b.store_calls[m] / b.n for m in b.store_calls} for b in s.batches
                ],
                "store_calls_per_flow_by_collection": [
                    {m: n / b.n for m, n in b.store_by_collection.items()} for b in s.batches
                ],
            }

        results.update(
            {
                "loadavg_1min_before": load_before,
                "loadavg_1min_after": load_after,
                "psi_some_avg60_before": psi_before,
                "psi_some_avg60_after": psi_after,
                "config": {k: v for k, v in cfg.__dict__.items()},
                "part1_members": cfg.pop,
                "part1_db_size_after": db_size_after,
                "series": {s.variant.key: series_doc(s) for s in series},
                "single_calls": {m.label: m.seconds for m in micro},
                "pending": {
                    "n": n_pending,
                    "seconds": pending_seconds,
                    "login_send_seconds_per_flow": pending_batch.seconds / n_pending,
                    "btree_bytes_per_flow": dict(per_btree),
                    "size_before": size0,
                    "size_after": size1,
                    "bytes_per_flow": growth,
                    "per_collection": [
                        {"name": n, "rows": r, "key_bytes": k, "data_bytes": d}
                        for n, r, k, d in per_collection
                    ],
                },
                "tiers": [
                    {
                        "members": t["members"],
                        "added": t["added"],
                        "populate_seconds": t["populate_seconds"],
                        "size_before_flows": t["size_before_flows"],
                        "series": {k: series_doc(s) for k, s in t["series"].items()},
                    }
                    for t in tiers
                ],
                "skipped_tiers": [{"members": m, "estimated_seconds": e} for m, e in skipped],
                "target_flows_per_second": TARGET_FLOWS_PER_SECOND,
                "profiles": {
                    k: {
                        "ms_per_flow_under_profiler": profile_seconds[k] * 1e3,
                        "areas_self_ms": dict(areas[k]),
                        "top": [{"function": f, "self_ms": a, "cum_ms": b} for f, a, b in v],
                    }
                    for k, v in profiles.items()
                },
            }
        )
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
        out.line(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
