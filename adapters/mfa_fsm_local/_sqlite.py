"""`SqliteStore`: the default store, one SQLite file shared by threads and processes.

Durability — WAL with `synchronous=FULL` by default. WAL with NORMAL already keeps every
acknowledged write through a crash of the *process* (SIGKILL, OOM): a commit has handed its
WAL frames to the OS before `put` returns. What NORMAL can lose is the last commits on an OS
crash or power cut. Here a lost commit is a consumed one-time code, a used recovery code or a
lockout count coming back — a replay window — so FULL pays one fsync of the WAL per write
transaction to close it. Pass `synchronous="NORMAL"` where speed matters more (dev, demos).

Atomicity — every compare-and-set is one conditional statement (`UPDATE ... AND version=?`
checking `rowcount`, or `INSERT` failing on the primary key) inside `BEGIN IMMEDIATE`, which
takes SQLite's single write lock up front; other threads and processes wait up to `timeout`
(SQLite's busy_timeout) instead of failing on a lock upgrade.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ._memory import check_append, check_delete, check_limit, check_put
from ._store import Conflict, Doc, LogEntry, StoreUnavailable

__all__ = ["MIGRATIONS", "SqliteStore", "StoreUnavailable", "migrate"]


Migration = tuple[str, ...]

#: Numbered schema steps; step N is MIGRATIONS[N - 1]. Append only, never edit a released step.
MIGRATIONS: tuple[Migration, ...] = (
    (  # 1: documents and logs
        """CREATE TABLE documents (
            collection TEXT NOT NULL,
            key TEXT NOT NULL,
            version INTEGER NOT NULL,
            data TEXT NOT NULL,
            expires_at REAL,
            PRIMARY KEY (collection, key)
        )""",
        "CREATE INDEX documents_expires_at ON documents (expires_at)",
        """CREATE TABLE logs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            log TEXT NOT NULL,
            member_id TEXT,
            at REAL NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX logs_by_member ON logs (log, member_id, seq)",
        "CREATE INDEX logs_by_log ON logs (log, seq)",
    ),
    (  # 2: one store-wide version counter, so a re-created key never reuses a version (ABA)
        """CREATE TABLE version_counter (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            value INTEGER NOT NULL
        )""",
        "INSERT INTO version_counter (id, value)"
        " SELECT 1, COALESCE(MAX(version), 0) FROM documents",
    ),
)


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply the missing steps in one IMMEDIATE transaction; return the schema version.

    `conn` must be in autocommit mode (`isolation_level=None`). Processes opening a new file
    at once queue on the write lock; the first applies the steps, the rest find them applied.
    A database newer than this code is refused rather than half understood.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
        )
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
        current = int(row[0])
        if current > len(migrations):
            raise StoreUnavailable(
                f"database schema version {current} is newer than this code knows"
                f" ({len(migrations)}); upgrade mfa-fsm"
            )
        for number in range(current + 1, len(migrations) + 1):
            for sql in migrations[number - 1]:
                conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (number, time.time()))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return max(current, len(migrations))


@dataclass
class _Unit:
    """A thread's open unit: documents it has seen, and the last version it handed out."""

    docs: dict[tuple[str, str], Doc | None] = field(default_factory=dict)
    last_version: int = 0


class SqliteStore:
    """The store port on one SQLite file: one connection per thread, WAL, durable commits."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        timeout: float = 5.0,
    ) -> None:
        if str(path) in ("", ":memory:"):
            raise ValueError("SqliteStore needs a file path; use MemoryStore for memory")
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be 'FULL' or 'NORMAL'")
        self.path = Path(path)
        self._synchronous = synchronous
        self._timeout = timeout
        self._local = threading.local()
        self._guard = threading.Lock()
        self._conns: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._closed = False
        self._pid = os.getpid()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the data directory: {exc}") from exc
        try:
            with self._errors("open"):
                conn = self._conn()
                self._enable_wal(conn)
                migrate(conn)
        except BaseException:
            self.close()
            raise

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """WAL is a property of the file; switching needs a moment alone with it, so retry."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
                continue
            if mode != "wal":
                raise StoreUnavailable(f"cannot use WAL on this file system (journal {mode!r})")
            return

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        return conn

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection. Only `close` and pruning touch another thread's one.

        `check_same_thread=False` exists for that alone: a connection whose thread has ended
        is closed by the next thread that opens one, so short-lived threads do not leak files.
        After a fork (a pre-forking web server) the inherited connections are abandoned, not
        used or closed: SQLite connections must not cross a fork.
        """
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not self._closed and self._pid == os.getpid():
            return conn
        with self._guard:
            if self._closed:
                raise StoreUnavailable("the store is closed")
            if self._pid != os.getpid():
                self._pid, self._conns, self._local = os.getpid(), [], threading.local()
            live = []
            for thread, other in self._conns:
                if thread.is_alive():
                    live.append((thread, other))
                else:
                    other.close()
            conn = self._connect()
            live.append((threading.current_thread(), conn))
            self._conns = live
        self._local.conn = conn
        return conn

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{action} failed on {self.path.name}: {exc}") from exc

    @contextmanager
    def unit(self) -> Iterator[None]:
        """One BEGIN IMMEDIATE ... COMMIT around a whole API call; nested units join it.

        The write lock is held for the unit, so its reads and compare-and-sets see no other
        writer; an exception (or a crash) leaves none of its writes behind. Holding the lock
        is also what makes the unit's shortcuts safe: documents read or written once are
        answered from memory, and versions are counted in memory and stored at the commit.
        """
        if getattr(self._local, "unit", None) is not None:
            yield
            return
        with self._errors("unit"):
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
        state = self._local.unit = _Unit()
        try:
            yield
            with self._errors("commit"):
                if state.last_version:
                    conn.execute(
                        "UPDATE version_counter SET value = ? WHERE id = 1", (state.last_version,)
                    )
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        finally:
            self._local.unit = None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (Conflict included).

        Inside a `unit` the statements join the unit's transaction instead, and a Conflict
        leaves the unit open: the failed compare-and-set wrote nothing the unit must undo
        (the version counter only ever has to grow).
        """
        conn = self._conn()
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def get(self, collection: str, key: str) -> Doc | None:
        """The document, or None; expired documents stay until `purge_expired`."""
        unit: _Unit | None = getattr(self._local, "unit", None)
        if unit is not None and (collection, key) in unit.docs:
            return unit.docs[(collection, key)]
        try:
            row = (
                self._conn()
                .execute(
                    "SELECT data, version FROM documents WHERE collection = ? AND key = ?",
                    (collection, key),
                )
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise self._unavailable("get", exc) from exc
        doc = None if row is None else Doc(row[0], row[1])
        if unit is not None:
            unit.docs[(collection, key)] = doc
        return doc

    def put(
        self,
        collection: str,
        key: str,
        data: str,
        expected_version: int,
        expires_at: float | None = None,
    ) -> int:
        """Write when the stored version is `expected_version` (0 = absent)."""
        check_put(collection, key, data, expected_version)
        unit: _Unit | None = getattr(self._local, "unit", None)
        try:
            with self._transaction() as conn:
                version = self._next_version(conn, unit)
                if expected_version == 0:
                    try:
                        conn.execute(
                            "INSERT INTO documents (collection, key, version, data, expires_at)"
                            " VALUES (?, ?, ?, ?, ?)",
                            (collection, key, version, data, expires_at),
                        )
                    except sqlite3.IntegrityError:
                        raise Conflict(f"{collection}/{key}: already exists") from None
                else:
                    cursor = conn.execute(
                        "UPDATE documents SET version = ?, data = ?, expires_at = ?"
                        " WHERE collection = ? AND key = ? AND version = ?",
                        (version, data, expires_at, collection, key, expected_version),
                    )
                    if cursor.rowcount != 1:
                        raise Conflict(f"{collection}/{key}: not at version {expected_version}")
        except sqlite3.Error as exc:
            raise self._unavailable("put", exc) from exc
        if unit is not None:
            unit.docs[(collection, key)] = Doc(data, version)
        return version

    @staticmethod
    def _next_version(conn: sqlite3.Connection, unit: _Unit | None) -> int:
        """The store-wide counter: one statement per write, or counted in memory in a unit."""
        if unit is None:
            ((value,),) = conn.execute(
                "UPDATE version_counter SET value = value + 1 WHERE id = 1 RETURNING value"
            ).fetchall()
            return int(value)
        if not unit.last_version:
            ((value,),) = conn.execute("SELECT value FROM version_counter WHERE id = 1")
            unit.last_version = int(value)
        unit.last_version += 1
        return unit.last_version

    def _unavailable(self, action: str, exc: sqlite3.Error) -> StoreUnavailable:
        return StoreUnavailable(f"{action} failed on {self.path.name}: {exc}")

    def delete(self, collection: str, key: str, expected_version: int) -> None:
        """Delete when the stored version is `expected_version`: one atomic statement."""
        check_delete(expected_version)
        with self._errors("delete"):
            cursor = self._conn().execute(
                "DELETE FROM documents WHERE collection = ? AND key = ? AND version = ?",
                (collection, key, expected_version),
            )
        if cursor.rowcount != 1:
            raise Conflict(f"{collection}/{key}: not at version {expected_version}")
        unit: _Unit | None = getattr(self._local, "unit", None)
        if unit is not None:
            unit.docs[(collection, key)] = None

    def append(self, log: str, member_id: str | None, at: float, data: str) -> int:
        """Append; AUTOINCREMENT keeps sequence numbers increasing and never reused."""
        check_append(log, member_id, data)
        with self._errors("append"):
            cursor = self._conn().execute(
                "INSERT INTO logs (log, member_id, at, data) VALUES (?, ?, ?, ?)",
                (log, member_id, at, data),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def read_log(
        self, log: str, member_id: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[LogEntry]:
        """Entries oldest first, optionally one member's, with `seq > after`."""
        check_limit(limit)
        sql = "SELECT seq, member_id, at, data FROM logs WHERE log = ? AND seq > ?"
        params: list[object] = [log, after]
        if member_id is not None:
            sql += " AND member_id = ?"
            params.append(member_id)
        params.append(limit)
        with self._errors("read_log"):
            rows = self._conn().execute(sql + " ORDER BY seq LIMIT ?", params).fetchall()
        return [LogEntry(seq, member, at, data) for seq, member, at, data in rows]

    def purge_expired(self, now: float) -> int:
        """Drop documents whose `expires_at` is strictly before `now`."""
        with self._errors("purge_expired"):
            cursor = self._conn().execute("DELETE FROM documents WHERE expires_at < ?", (now,))
        unit: _Unit | None = getattr(self._local, "unit", None)
        if unit is not None:
            unit.docs.clear()
        return cursor.rowcount

    def close(self) -> None:
        """Close every thread's connection; later calls raise `StoreUnavailable`."""
        with self._guard:
            self._closed = True
            conns, self._conns = self._conns, []
        for _, conn in conns:
            with suppress(sqlite3.Error):
                conn.close()
