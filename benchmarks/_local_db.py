"""The SQLite database the local benchmarks run on, and the instrumented ports around it.

One file holds one `REQUIRED_FOR_ALL` organization and a member population bulk-inserted
straight into `documents` (as `members_create` + `passwords_migrate` store them), so
populations up to a million members take seconds. Several stores are open on the same file
(`synchronous` is a per-connection setting), so variants see the same data.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from cryptography.hazmat.primitives.asymmetric import rsa

from mfa_fsm_local._driver import member_key
from mfa_fsm_local._jwt import SessionSigner
from mfa_fsm_local._keys import Keyring
from mfa_fsm_local._ports import ManualClock, Message
from mfa_fsm_local._records import Member
from mfa_fsm_local._sqlite import SqliteStore
from mfa_fsm_local._store import Doc
from mfa_fsm_local.provider import LocalProvider

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
    """A `SqliteStore` that adds up the wall time of each store call, per method.

    A provider call runs in one unit of work: `begin` is the BEGIN IMMEDIATE that opens it,
    `commit` the COMMIT (and, under FULL, the fsync) that closes it; `get`, `put`, `append`
    and `delete` are the statements inside it.
    """

    METHODS = ("get", "put", "append", "delete", "begin", "commit")

    def __init__(self, path: Path, *, synchronous: Sync) -> None:
        super().__init__(path, synchronous=synchronous)
        self.seconds: dict[str, float] = dict.fromkeys(self.METHODS, 0.0)
        self.calls: dict[str, int] = dict.fromkeys(self.METHODS, 0)
        self.by_collection: dict[str, int] = {}  # "put flows" -> calls
        self._depth = 0

    @contextmanager
    def unit(self) -> Iterator[None]:
        outer = self._depth == 0
        self._depth += 1
        try:
            t0 = time.perf_counter()
            with super().unit():
                if outer:
                    self._add("begin", t0, "unit")
                yield
                t1 = time.perf_counter()
            if outer:
                self._add("commit", t1, "unit")
        finally:
            self._depth -= 1

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


# ------------------------------------------------------------------ the database fixture


class StoreKind(NamedTuple):
    """How a store on the shared file is opened."""

    sync: Sync
    timed: bool = False  # a TimedStore: every store call timed
    autocheckpoint: bool = True  # False: PRAGMA wal_autocheckpoint = 0 on its connection


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
