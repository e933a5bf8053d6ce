"""`MemoryStore`: the store port in a dict, for tests and single-process demos.

It is also the reference for the contract: the argument checks below live here and every
other store imports them, so all stores refuse exactly the same inputs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ._store import Conflict, Doc, LogEntry

__all__ = ["MemoryStore"]


def check_text(value: str, what: str) -> None:
    """Refuse text no durable backend can hold (PostgreSQL rejects NUL; all need UTF-8).

    Checked in every store, so a test against `MemoryStore` fails the same way production does.
    """
    if "\x00" in value:
        raise ValueError(f"{what} must not contain NUL characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{what} is not valid Unicode text (lone surrogate?)") from exc


def check_put(collection: str, key: str, data: str, expected_version: int) -> None:
    """Validate `put` arguments; a negative version is a bug, not a conflict."""
    if expected_version < 0:
        raise ValueError("expected_version must be >= 0 (0 = must not exist)")
    check_text(collection, "collection")
    check_text(key, "key")
    check_text(data, "data")


def check_delete(expected_version: int) -> None:
    """Deleting needs the version that was read: 0 never names a stored document."""
    if expected_version < 1:
        raise ValueError("expected_version must be >= 1: delete names the version read")


def check_append(log: str, member_id: str | None, data: str) -> None:
    """Validate `append` arguments like document text."""
    check_text(log, "log")
    if member_id is not None:
        check_text(member_id, "member_id")
    check_text(data, "data")


def check_limit(limit: int) -> None:
    """A negative limit is a bug (SQL would read it as "no limit")."""
    if limit < 0:
        raise ValueError("limit must be >= 0")


@dataclass(frozen=True)
class _Row:
    data: str
    version: int
    expires_at: float | None


class MemoryStore:
    """All state in dicts behind one lock, so threads see the same atomic CAS as SQLite.

    Versions come from one store-wide counter, so a key that is deleted and created again
    never reuses a version a stale reader may still hold (no ABA).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._units = threading.RLock()  # one unit at a time, as SQLite's write lock
        self._local = threading.local()
        self._docs: dict[tuple[str, str], _Row] = {}
        self._logs: list[tuple[str, LogEntry]] = []
        self._version = 0
        self._seq = 0

    @contextmanager
    def unit(self) -> Iterator[None]:
        """Serialise units and undo all of one that raises, as a database rollback would."""
        undo: dict[tuple[str, str], _Row | None] | None = getattr(self._local, "undo", None)
        if undo is not None:  # nested: join the outer unit
            yield
            return
        with self._units:
            self._local.undo = undo = {}
            logs_before = len(self._logs)
            try:
                yield
            except BaseException:
                with self._lock:
                    for k, row in undo.items():
                        if row is None:
                            self._docs.pop(k, None)
                        else:
                            self._docs[k] = row
                    del self._logs[logs_before:]
                raise
            finally:
                self._local.undo = None

    def _remember(self, k: tuple[str, str]) -> None:
        """Inside a unit, keep a document's first seen state for a rollback."""
        undo: dict[tuple[str, str], _Row | None] | None = getattr(self._local, "undo", None)
        if undo is not None and k not in undo:
            undo[k] = self._docs.get(k)

    def get(self, collection: str, key: str) -> Doc | None:
        """The document, or None; expired documents stay until `purge_expired`."""
        with self._lock:
            row = self._docs.get((collection, key))
        return None if row is None else Doc(row.data, row.version)

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
        with self._lock:
            row = self._docs.get((collection, key))
            current = 0 if row is None else row.version
            if current != expected_version:
                raise Conflict(f"{collection}/{key}: version {current}, not {expected_version}")
            self._version += 1
            self._remember((collection, key))
            self._docs[(collection, key)] = _Row(data, self._version, expires_at)
            return self._version

    def delete(self, collection: str, key: str, expected_version: int) -> None:
        """Delete when the stored version is `expected_version`."""
        check_delete(expected_version)
        with self._lock:
            row = self._docs.get((collection, key))
            if row is None or row.version != expected_version:
                raise Conflict(f"{collection}/{key}: not at version {expected_version}")
            self._remember((collection, key))
            del self._docs[(collection, key)]

    def append(self, log: str, member_id: str | None, at: float, data: str) -> int:
        """Append; sequence numbers are store-wide and strictly increasing."""
        check_append(log, member_id, data)
        with self._lock:
            self._seq += 1
            self._logs.append((log, LogEntry(self._seq, member_id, at, data)))
            return self._seq

    def read_log(
        self, log: str, member_id: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[LogEntry]:
        """Entries oldest first, optionally one member's, with `seq > after`."""
        check_limit(limit)
        found: list[LogEntry] = []
        with self._lock:
            for name, entry in self._logs:
                if len(found) >= limit:
                    break
                mine = member_id is None or entry.member_id == member_id
                if name == log and entry.seq > after and mine:
                    found.append(entry)
        return found

    def purge_expired(self, now: float) -> int:
        """Drop documents whose `expires_at` is strictly before `now`."""
        with self._lock:
            gone = [
                k for k, r in self._docs.items() if r.expires_at is not None and r.expires_at < now
            ]
            for k in gone:
                del self._docs[k]
            return len(gone)

    def close(self) -> None:
        """Nothing to release; the data lives as long as the object."""
