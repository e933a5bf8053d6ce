"""A store under test for the store benchmarks: its provider, its cloned member population
and the flows run on it, and the servers holding every store in fresh schemas, namespaces
and files. Separate from the measurements, which only drive these.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import bcrypt
import psycopg
import redis
from _local_db import OPS, PASSWORD, PHONES, STEP_SECONDS, CapturingSender, email_for
from _stores_bulk import Bulk, PostgresBulk, Recorder, RedisBulk, RoutedBulk, Row, SqliteBulk

from mfa_fsm_local._jwt import SessionSigner
from mfa_fsm_local._keys import Keyring
from mfa_fsm_local._ports import ManualClock
from mfa_fsm_local._redis import RedisStore
from mfa_fsm_local._routed import RoutedStore
from mfa_fsm_local._store import Store
from mfa_fsm_local.provider import AuthResult, LocalProvider
from mfa_fsm_local.stores import open_store

CHUNK = 25_000  # members per bulk transaction / pipeline flush
SAMPLE = 1_000  # members whose Redis keys are measured for bytes per member
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


@dataclass
class Target:
    """One store with its provider, its member population and its bulk writer."""

    name: str
    store: Store
    provider: LocalProvider
    sender: CapturingSender
    bulk: Bulk
    org_id: str = ""
    template: list[Row] = field(default_factory=list)
    template_ids: tuple[str, str, str] = ("", "", "")  # member id, password id, email
    member_ids: list[str] = field(default_factory=list)
    free: list[int] = field(default_factory=list)  # not yet enrolled, in random order
    phone: int = 0

    def setup(self) -> None:
        """The organization, and member 0 created by the API: the template to clone."""
        p = self.provider
        self.org_id = p.organizations_create(
            "Bench", "bench", mfa_policy="REQUIRED_FOR_ALL"
        ).organization_id
        recorder = Recorder(self.store)
        recording = LocalProvider(recorder, p.keyring, clock=p.clock, signer=p.signer)
        member = recording.passwords_migrate(self.org_id, email_for(0), HASH, "bcrypt")
        if recorder.appended:
            raise RuntimeError("member creation appended to a log: the clones would lack it")
        for (col, key), expires in recorder.written.items():
            doc = self.store.get(col, key)
            assert doc is not None
            self.template.append((col, key, doc.data, expires))
        self.template_ids = (member.member_id, member.member_password_id, email_for(0))
        self.member_ids.append(member.member_id)
        self.free.append(0)

    def clone(self, i: int, member_id: str) -> list[Row]:
        new = (member_id, f"member-password-{uuid.uuid4()}", email_for(i))
        rows = []
        for col, key, data, expires in self.template:
            for old, now in zip(self.template_ids, new, strict=True):
                key, data = key.replace(old, now), data.replace(old, now)
            rows.append((col, key, data, expires))
        return rows

    def keys_of(self, i: int) -> list[tuple[str, str]]:
        """(collection, key) of member i's documents."""
        new = (self.member_ids[i], "", email_for(i))
        keys = []
        for col, key, _, _ in self.template:
            for old, now in zip(self.template_ids, new, strict=True):
                key = key.replace(old, now) if now else key
            keys.append((col, key))
        return keys

    def populate(self, total: int, rng: random.Random) -> float:
        """Grow the population to `total` members; returns seconds."""
        t0 = time.perf_counter()
        start = len(self.member_ids)
        for lo in range(start, total, CHUNK):
            rows: list[Row] = []
            for i in range(lo, min(total, lo + CHUNK)):
                member_id = f"member-{uuid.uuid4()}"
                rows += self.clone(i, member_id)
                self.member_ids.append(member_id)
            self.bulk.insert(rows)
        self.bulk.finish()
        seconds = time.perf_counter() - t0
        self.free += range(start, total)
        rng.shuffle(self.free)
        for i in (start, total - 1):  # found by the provider as if created by the API
            found = self.provider.member_by_email(self.org_id, email_for(i))
            if found is None or found.member_id != self.member_ids[i]:
                raise RuntimeError(f"{self.name}: cloned member {i} not found by the provider")
        return seconds

    def login(self, i: int) -> tuple[str, str]:
        """Password login, then an SMS code sent: (IST, phone)."""
        p, clock = self.provider, cast("ManualClock", self.provider.clock)
        first: AuthResult = p.passwords_authenticate(self.org_id, email_for(i), PASSWORD)
        clock.t += STEP_SECONDS
        ist = first.intermediate_session_token
        if first.member_authenticated or not ist:
            raise RuntimeError(f"{self.name}: login of member {i} did not ask for MFA")
        return ist, PHONES[self.phone % len(PHONES)]

    def flows(self, n: int) -> dict[str, list[float]]:
        """n complete flows on members not yet enrolled: seconds per call, per operation."""
        p, clock, perf = self.provider, cast("ManualClock", self.provider.clock), time.perf_counter
        ops: dict[str, list[float]] = {op: [] for op in OPS}
        for _ in range(n):
            i = self.free.pop()
            member_id = self.member_ids[i]
            t0 = perf()
            ist, phone = self.login(i)
            t1 = perf()
            p.otps_sms_send(
                self.org_id, member_id, mfa_phone_number=phone, intermediate_session_token=ist
            )
            t2 = perf()
            clock.t += STEP_SECONDS
            self.phone += 1
            done = p.otps_sms_authenticate(
                self.org_id, member_id, self.sender.codes[phone], intermediate_session_token=ist
            )
            t3 = perf()
            clock.t += STEP_SECONDS
            if not (done.member_authenticated and done.session_jwt and done.session_token):
                raise RuntimeError(f"{self.name}: flow of member {i} did not end in a session")
            for op, dt in zip(OPS, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                ops[op].append(dt)
        return ops

    def pending(self, n: int, rng: random.Random) -> dict[str, int]:
        """n flows left waiting for the SMS code; bytes they added, per server."""
        if n > len(self.free):
            raise RuntimeError(f"{self.name}: {n} pending flows need as many unenrolled members")
        picks = rng.sample(self.free, n)
        before = self.bulk.snapshot([k for i in picks for k in self.keys_of(i)])
        for i in picks:
            ist, phone = self.login(i)
            self.provider.otps_sms_send(
                self.org_id,
                self.member_ids[i],
                mfa_phone_number=phone,
                intermediate_session_token=ist,
            )
            cast("ManualClock", self.provider.clock).t += STEP_SECONDS
            self.phone += 1
        return self.bulk.growth(before)

    def member_bytes(self, rng: random.Random) -> dict[str, float]:
        picks = rng.sample(range(len(self.member_ids)), min(SAMPLE, len(self.member_ids)))
        sample = [k for i in picks for k in self.keys_of(i)]
        return self.bulk.member_bytes(sample, len(picks), len(self.member_ids))


@dataclass
class Servers:
    """Fresh schemas, namespaces and files; every one removed by `close`."""

    postgres: str
    redis_url: str
    tmp: Path
    client: redis.Redis = field(init=False)
    schemas: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = redis.Redis.from_url(self.redis_url)

    def pg(self) -> tuple[str, str]:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        self.schemas.append(name)
        return f"{self.postgres}{'&' if '?' in self.postgres else '?'}schema={name}", name

    def rd(self) -> tuple[str, str]:
        name = f"bench-{uuid.uuid4().hex[:12]}"
        self.namespaces.append(name)
        return f"{self.redis_url}{'&' if '?' in self.redis_url else '?'}namespace={name}", name

    def drop(self, name: str) -> None:
        if name in self.schemas:
            with psycopg.connect(self.postgres, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            self.schemas.remove(name)
        if name in self.namespaces:
            batch: list[bytes] = []
            for key in cast("Iterator[bytes]", self.client.scan_iter(f"{name}:*", count=10_000)):
                batch.append(key)
                if len(batch) >= 5_000:
                    self.client.unlink(*batch)
                    batch = []
            if batch:
                self.client.unlink(*batch)
            self.namespaces.remove(name)

    def close(self) -> None:
        for name in [*self.schemas, *self.namespaces]:
            self.drop(name)

    def target(self, name: str, signer: SessionSigner) -> Target:
        if name == "sqlite":
            path = self.tmp / f"{uuid.uuid4().hex[:8]}.db"
            url: str = f"sqlite:///{path}"
        elif name == "postgres":
            url, schema = self.pg()
        elif name == "redis":
            url, _ = self.rd()
        else:
            (pg, schema), (rd, _) = self.pg(), self.rd()
            url = f"{pg}|{rd}"
        store = open_store(url)
        bulk: Bulk
        if name == "sqlite":
            bulk = SqliteBulk(path)
        elif name == "postgres":
            bulk = PostgresBulk(self.postgres, schema)
        elif name == "redis":
            bulk = RedisBulk(self.client, cast("RedisStore", store))
        else:
            routed = cast("RoutedStore", store)
            bulk = RoutedBulk(
                PostgresBulk(self.postgres, schema),
                RedisBulk(self.client, cast("RedisStore", routed.ephemeral)),
            )
        sender = CapturingSender()
        provider = LocalProvider(
            store,
            Keyring.from_master(os.urandom(32)),
            clock=ManualClock(time.time()),
            sms=sender,
            signer=signer,
        )
        t = Target(name, store, provider, sender, bulk)
        t.setup()
        return t


@contextmanager
def servers(postgres: str, redis_url: str) -> Iterator[Servers]:
    with tempfile.TemporaryDirectory() as tmp:
        found = Servers(postgres, redis_url, Path(tmp))
        try:
            yield found
        finally:
            found.close()
