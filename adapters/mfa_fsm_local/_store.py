"""The store port: versioned JSON documents with compare-and-set, plus append-only logs.

Every provider write goes through `put` with the version it read, so two concurrent
submissions of one code can never both succeed: the second write finds a newer version
and gets `Conflict`. Implementations: `MemoryStore` (tests), `SqliteStore` (default),
`PostgresStore`, `RedisStore`, and `RoutedStore` (durable records in one, short-lived
flow state in another).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol


class StoreUnavailable(Exception):
    """The database cannot be used: locked too long, corrupt, closed, newer schema, disk error.

    Raised in place of a backend's own errors (sqlite3, psycopg, redis), so callers catch
    one documented type.
    """


class Conflict(Exception):
    """The document changed (or appeared, or vanished) since it was read."""


@dataclass(frozen=True)
class Doc:
    """A stored document: its JSON text and the version that must be named to replace it."""

    data: str
    version: int


@dataclass(frozen=True)
class LogEntry:
    """One appended record of a log (audit, outbox), oldest first by `seq`."""

    seq: int
    member_id: str | None
    at: float
    data: str


class Store(Protocol):
    """Documents live in named collections ("members", "flows", "sms_codes", ...)."""

    def get(self, collection: str, key: str) -> Doc | None:
        """The document, or None when absent. Expiry is the provider's to judge, by its clock."""

    def put(
        self,
        collection: str,
        key: str,
        data: str,
        expected_version: int,
        expires_at: float | None = None,
    ) -> int:
        """Write if the stored version equals `expected_version` (0 = must not exist).

        `expires_at` is a clean-up hint (a TTL for Redis, `purge_expired` elsewhere).
        Returns the new version; raises `Conflict` otherwise.
        """

    def delete(self, collection: str, key: str, expected_version: int) -> None:
        """Delete if the stored version equals `expected_version`; raise `Conflict` otherwise."""

    def append(self, log: str, member_id: str | None, at: float, data: str) -> int:
        """Append to a log; returns the entry's sequence number."""

    def read_log(
        self, log: str, member_id: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[LogEntry]:
        """Entries oldest first, optionally only one member's, after a sequence number."""

    def unit(self) -> AbstractContextManager[None]:
        """Group this thread's calls into one unit of work: one commit, one fsync.

        Each API call of the provider runs in one unit. Inside it, writes are still
        compare-and-set, so correctness never rests on the unit. What the unit adds is
        speed (one durable commit per call instead of one per write) and, where the
        backend can, atomicity: SQLite and PostgreSQL keep all of a unit or none of it
        when it raises or the process dies; a unit nested in another joins the outer.
        A backend without multi-key transactions may run each write on its own.
        """

    def purge_expired(self, now: float) -> int:
        """Drop documents whose `expires_at` is before `now`; returns how many."""

    def close(self) -> None:
        """Release connections and files."""
