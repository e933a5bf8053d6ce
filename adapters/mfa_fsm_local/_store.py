"""The store port: versioned JSON documents with compare-and-set, plus append-only logs.

Every provider write goes through `put` with the version it read, so two concurrent
submissions of one code can never both succeed: the second write finds a newer version
and gets `Conflict`. Implementations: `MemoryStore` (tests) and `SqliteStore` (default);
PostgreSQL and Redis implement the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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

    def purge_expired(self, now: float) -> int:
        """Drop documents whose `expires_at` is before `now`; returns how many."""

    def close(self) -> None:
        """Release connections and files."""
