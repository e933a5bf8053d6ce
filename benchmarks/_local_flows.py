"""Running provider flows on the benchmark database: variants, timed batches, rounds."""

from __future__ import annotations

import gc
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import _common as common
import bcrypt
from _local_db import (
    OPS,
    PASSWORD,
    PHONES,
    STEP_SECONDS,
    SYNCS,
    T0,
    Db,
    StoreKind,
    Sync,
    TimedStore,
    email_for,
)
from cryptography.hazmat.primitives.asymmetric import rsa

from mfa_fsm import AuthenticationFactor
from mfa_fsm_local._jwt import SessionSigner
from mfa_fsm_local._records import Member
from mfa_fsm_local._sqlite import SqliteStore
from mfa_fsm_local.provider import AuthResult, LocalProvider

# ------------------------------------------------------------------ the flow


Login = Literal["password", "direct", "ist"]
LOGIN_LABELS: dict[str, str] = {
    "password": "complete flow with password login",
    "direct": "complete flow, login without password hashing",
    "ist": "from an existing IST: SMS send → authenticate → session",
}


@dataclass(frozen=True)
class Variant:
    """How a batch's flows run: the login, the durability, and what is instrumented.

    `login`: "password" is `passwords_authenticate` (bcrypt); "direct" the same reads and
    `begin_mfa` without the bcrypt check; "ist" logs in (directly) before the timing starts,
    so a timed flow is only SMS send → authenticate → session, from an existing IST.
    """

    key: str
    label: str
    sync: Sync
    login: Login
    timed_store: bool = False
    autocheckpoint: bool = True

    @property
    def kind(self) -> StoreKind:
        return StoreKind(self.sync, self.timed_store, self.autocheckpoint)


def login(p: LocalProvider, org_id: str, email: str, how: Login) -> AuthResult:
    if how == "password":
        return p.passwords_authenticate(org_id, email, PASSWORD)
    # passwords_authenticate minus the bcrypt check: the same reads, factor and begin_mfa,
    # in one unit of work as the API call would be
    with p.units():
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


def _ist(first: AuthResult, j: int) -> str:
    ist = first.intermediate_session_token
    if first.member_authenticated or not ist or first.mfa_required is None:
        raise AssertionError(f"flow {j}: login did not ask for MFA enrollment")
    return ist


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
    org_id, ids, codes, clock = db.org_id, db.member_ids, db.sender.codes, db.clock
    how = v.login
    ready: list[str] = []
    if how == "ist":  # untimed: the ISTs the timed flows start from
        for j, i in enumerate(indices):
            ready.append(_ist(login(p, org_id, email_for(i), "direct"), j))
            clock.t += STEP_SECONDS
        db.checkpoint("PASSIVE")
    signer.reset()
    if isinstance(store, TimedStore):
        store.reset()
    ops: dict[str, list[float]] = {op: [] for op in OPS}
    t_login, t_send, t_auth = ops["login"], ops["sms_send"], ops["sms_authenticate"]
    if collect:
        gc.collect()
    perf = time.perf_counter
    c0, start = time.thread_time(), perf()
    for j, i in enumerate(indices):
        member_id = ids[i]
        phone = PHONES[(phone0 + j) % len(PHONES)]
        t1 = perf()
        if how == "ist":
            ist = ready[j]
        else:
            ist = _ist(login(p, org_id, email_for(i), how), j)
            t0, t1 = t1, perf()
            t_login.append(t1 - t0)
            clock.t += STEP_SECONDS
        p.otps_sms_send(org_id, member_id, mfa_phone_number=phone, intermediate_session_token=ist)
        t2 = perf()
        t_send.append(t2 - t1)
        clock.t += STEP_SECONDS
        if pending:
            continue
        code = codes[phone]
        t2 = perf()
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
        return [common.percentile(b.op_seconds[op], q) for b in self.batches]


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

    def disk_fsync(k: int) -> None:
        # The disk alone: rewrite one 4 KiB page of a file in the same directory and fsync
        fd = os.open(root / "fsync.bin", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            for _ in range(k):
                os.pwrite(fd, page, 0)
                os.fsync(fd)
        finally:
            os.close(fd)

    page = os.urandom(4096)
    cases: list[tuple[Micro, Callable[[int], None], int]] = [
        (Micro("os.fsync after a 4 KiB write (the disk alone)"), disk_fsync, max(20, n // 10)),
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
