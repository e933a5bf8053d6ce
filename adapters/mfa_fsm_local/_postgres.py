"""`PostgresStore`: the store port on PostgreSQL, shared by any number of processes and hosts.

Same tables as SQLite (documents keyed by (collection, key), an append-only `logs` table,
numbered steps in `schema_migrations`), in a schema of their own, so one database can hold
several stores (environments, parallel test runs) side by side.

Atomicity — every compare-and-set is one statement: `INSERT ... ON CONFLICT DO NOTHING` or
`UPDATE ... WHERE version = %s`, each taking its new version from one store-wide sequence
(`nextval`), so a re-created key never reuses a version (no ABA). Outside a unit each call
autocommits on its own; a `unit()` is one transaction on one pooled connection that the
thread holds until COMMIT. Row locks make a racing unit's compare-and-set wait for the
first to commit and then find the version changed: `Conflict`, never a lost update.

Failures — a lost connection, a closed pool, a deadlock or a timeout raise `StoreUnavailable`
(the transaction is rolled back by the server, so nothing of a unit is half-written). The
pool checks each connection as it hands it out and replaces dead ones, so after a server
restart or `pg_terminate_backend` the next call simply reconnects.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from ._memory import check_append, check_delete, check_limit, check_put
from ._store import Conflict, Doc, LogEntry, StoreUnavailable

__all__ = ["MIGRATIONS", "PostgresStore"]

#: Numbered schema steps, numbered as SQLite's so "schema version 2" means the same tables.
#: Append only, never edit a released step.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: documents and logs
        """CREATE TABLE documents (
            collection TEXT NOT NULL,
            key TEXT NOT NULL,
            version BIGINT NOT NULL,
            data TEXT NOT NULL,
            expires_at DOUBLE PRECISION,
            PRIMARY KEY (collection, key)
        )""",
        "CREATE INDEX documents_expires_at ON documents (expires_at) WHERE expires_at IS NOT NULL",
        """CREATE TABLE logs (
            seq BIGSERIAL PRIMARY KEY,
            log TEXT NOT NULL,
            member_id TEXT,
            at DOUBLE PRECISION NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX logs_by_member ON logs (log, member_id, seq)",
        "CREATE INDEX logs_by_log ON logs (log, seq)",
    ),
    (  # 2: one store-wide version counter, so a re-created key never reuses a version (ABA)
        "CREATE SEQUENCE document_versions",
        "SELECT setval('document_versions', COALESCE(MAX(version), 0) + 1, false) FROM documents",
    ),
)

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_OPTIONS = {"schema": str, "pool_min": int, "pool_max": int, "timeout": float}

_INSERT = (
    "INSERT INTO documents (collection, key, version, data, expires_at)"
    " VALUES (%s, %s, nextval('document_versions'), %s, %s)"
    " ON CONFLICT DO NOTHING RETURNING version"
)
_UPDATE = (
    "UPDATE documents SET version = nextval('document_versions'), data = %s, expires_at = %s"
    " WHERE collection = %s AND key = %s AND version = %s RETURNING version"
)


def split_url(url: str) -> tuple[str, dict[str, Any]]:
    """Take this store's own options (`schema`, `pool_min`, `pool_max`, `timeout`) out of a
    `postgresql://` URL; the rest is libpq's, passed through untouched."""
    parts = urlsplit(url)
    ours: dict[str, Any] = {}
    theirs = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in _OPTIONS:
            try:
                ours[name] = _OPTIONS[name](value)
            except ValueError:
                raise ValueError(f"bad value for {name} in the PostgreSQL URL: {value!r}") from None
        else:
            theirs.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(theirs))), ours


class PostgresStore:
    """The store port on PostgreSQL through a psycopg connection pool."""

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = "mfa_fsm",
        pool_min: int = 1,
        pool_max: int = 10,
        timeout: float = 10.0,
    ) -> None:
        if not _SCHEMA.fullmatch(schema):
            raise ValueError(f"schema must match {_SCHEMA.pattern}, got {schema!r}")
        if not 0 <= pool_min <= pool_max or pool_max < 1:
            raise ValueError("need 0 <= pool_min <= pool_max and pool_max >= 1")
        self.schema = schema
        self._local = threading.local()
        try:
            given = conninfo_to_dict(conninfo).get("options")  # libpq options: kept
        except psycopg.Error as exc:
            raise ValueError(f"not a valid PostgreSQL URL or conninfo: {exc}") from None
        settings: dict[str, Any] = {
            "autocommit": True,
            "options": f"{given or ''} -c search_path={schema}".strip(),
            "connect_timeout": max(1, round(timeout)),
        }
        self._pool_args: dict[str, Any] = {
            "conninfo": conninfo,
            "min_size": pool_min,
            "max_size": pool_max,
            "timeout": timeout,
            "kwargs": settings,
            "check": ConnectionPool.check_connection,
            "name": f"mfa-fsm-{schema}",
        }
        self._pid = os.getpid()
        self._closed = False
        self._pool: ConnectionPool[Any] = ConnectionPool(open=False, **self._pool_args)
        try:
            with self._errors("open"):
                # One plain connection first: a wrong password or database fails at once,
                # with the server's own message, instead of after the pool's retries.
                with psycopg.connect(conninfo, **settings) as conn:
                    self._migrate(conn)
                self._pool.open(wait=False)
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        """`postgresql://user@host:5432/db?schema=mfa&pool_max=20` (see `split_url`)."""
        conninfo, options = split_url(url)
        return cls(conninfo, **options)

    def _migrate(self, conn: psycopg.Connection[Any]) -> int:
        """Apply missing steps under an advisory lock, so processes starting at once queue.

        An up-to-date schema (every start but the first) is seen with one unlocked read.
        """
        try:
            row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        except psycopg.errors.UndefinedTable:
            row = None
        if row is not None and row[0] == len(MIGRATIONS):
            return len(MIGRATIONS)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"mfa-fsm:{self.schema}",))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
            )
            row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
            current = int(row[0]) if row else 0
            if current > len(MIGRATIONS):
                raise StoreUnavailable(
                    f"database schema version {current} is newer than this code knows"
                    f" ({len(MIGRATIONS)}); upgrade mfa-fsm"
                )
            for number in range(current + 1, len(MIGRATIONS) + 1):
                for statement in MIGRATIONS[number - 1]:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (number, time.time()))
        return max(current, len(MIGRATIONS))

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            raise StoreUnavailable(f"{action} failed on PostgreSQL: {exc}") from exc

    def _pooled(self) -> ConnectionPool[Any]:
        """The pool of this process. After a fork (a pre-forking web server) the parent's
        pool is abandoned, not closed: its sockets are the parent's, and closing them here
        would end the parent's sessions. The child opens a pool of its own."""
        if self._pid != os.getpid() and not self._closed:
            self._pid = os.getpid()
            self._local = threading.local()
            self._pool = ConnectionPool(open=False, **self._pool_args)
            self._pool.open(wait=False)
        return self._pool

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        """The unit's connection when inside one, else a pooled one for this call alone."""
        pool = self._pooled()
        held: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        with pool.connection() as conn:
            yield conn

    @contextmanager
    def unit(self) -> Iterator[None]:
        """One transaction on one pooled connection for the whole unit; nested units join it."""
        pool = self._pooled()
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self._errors("unit"), pool.connection() as conn, conn.transaction():
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    def get(self, collection: str, key: str) -> Doc | None:
        """The document, or None; expired documents stay until `purge_expired`."""
        with self._errors("get"), self._conn() as conn:
            row = conn.execute(
                "SELECT data, version FROM documents WHERE collection = %s AND key = %s",
                (collection, key),
            ).fetchone()
        return None if row is None else Doc(row[0], int(row[1]))

    def put(
        self,
        collection: str,
        key: str,
        data: str,
        expected_version: int,
        expires_at: float | None = None,
    ) -> int:
        """Write when the stored version is `expected_version` (0 = absent): one statement."""
        check_put(collection, key, data, expected_version)
        with self._errors("put"), self._conn() as conn:
            if expected_version == 0:
                row = conn.execute(_INSERT, (collection, key, data, expires_at)).fetchone()
            else:
                row = conn.execute(
                    _UPDATE, (data, expires_at, collection, key, expected_version)
                ).fetchone()
        if row is None:
            raise Conflict(f"{collection}/{key}: not at version {expected_version}")
        return int(row[0])

    def delete(self, collection: str, key: str, expected_version: int) -> None:
        """Delete when the stored version is `expected_version`: one statement."""
        check_delete(expected_version)
        with self._errors("delete"), self._conn() as conn:
            cursor = conn.execute(
                "DELETE FROM documents WHERE collection = %s AND key = %s AND version = %s",
                (collection, key, expected_version),
            )
        if cursor.rowcount != 1:
            raise Conflict(f"{collection}/{key}: not at version {expected_version}")

    def append(self, log: str, member_id: str | None, at: float, data: str) -> int:
        """Append; BIGSERIAL numbers entries in the order their inserts ran.

        Under concurrent units a larger number can commit before a smaller one, so a reader
        paging with `after` may see a gap fill in later; read whole logs (the provider does).
        """
        check_append(log, member_id, data)
        with self._errors("append"), self._conn() as conn:
            row = conn.execute(
                "INSERT INTO logs (log, member_id, at, data) VALUES (%s, %s, %s, %s) RETURNING seq",
                (log, member_id, at, data),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def read_log(
        self, log: str, member_id: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[LogEntry]:
        """Entries oldest first, optionally one member's, with `seq > after`."""
        check_limit(limit)
        sql = "SELECT seq, member_id, at, data FROM logs WHERE log = %s AND seq > %s"
        params: list[object] = [log, after]
        if member_id is not None:
            sql += " AND member_id = %s"
            params.append(member_id)
        params.append(limit)
        with self._errors("read_log"), self._conn() as conn:
            rows = conn.execute(sql + " ORDER BY seq LIMIT %s", params).fetchall()
        return [LogEntry(int(seq), member, at, data) for seq, member, at, data in rows]

    def purge_expired(self, now: float) -> int:
        """Drop documents whose `expires_at` is strictly before `now`."""
        with self._errors("purge_expired"), self._conn() as conn:
            cursor = conn.execute("DELETE FROM documents WHERE expires_at < %s", (now,))
        return cursor.rowcount

    def close(self) -> None:
        """Close the pool; later calls raise `StoreUnavailable`."""
        self._closed = True
        if self._pid == os.getpid():
            self._pool.close()
