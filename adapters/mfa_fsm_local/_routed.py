"""`RoutedStore`: durable records on one store, short-lived flow state on another.

Organizations, members, factors, sessions and every log (audit, outbox) belong on a durable
database (PostgreSQL); flows, intermediate sessions and one-time codes live minutes and are
read and written on every step, which suits Redis with its TTLs. The provider sees one store.

A unit is the durable store's unit: its writes commit together; ephemeral writes made
inside it apply at once, each on its own. Versions come from two counters, which is safe:
a document lives in exactly one of the stores, so its versions still never repeat.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from ._store import Doc, LogEntry, Store

__all__ = ["EPHEMERAL_COLLECTIONS", "RoutedStore"]

#: The provider's short-lived collections: each record carries an expiry of minutes to hours.
EPHEMERAL_COLLECTIONS = frozenset({"flows", "ists", "sms_codes", "magic_links", "session_flows"})


class RoutedStore:
    """Sends each collection to `ephemeral` or `durable`; logs always go to `durable`."""

    def __init__(
        self,
        durable: Store,
        ephemeral: Store,
        ephemeral_collections: frozenset[str] = EPHEMERAL_COLLECTIONS,
    ) -> None:
        self.durable = durable
        self.ephemeral = ephemeral
        self.ephemeral_collections = ephemeral_collections

    def _for(self, collection: str) -> Store:
        return self.ephemeral if collection in self.ephemeral_collections else self.durable

    def unit(self) -> AbstractContextManager[None]:
        """The durable store's unit (see the module docstring)."""
        return self.durable.unit()

    def get(self, collection: str, key: str) -> Doc | None:
        """The document from the store its collection lives in."""
        return self._for(collection).get(collection, key)

    def put(
        self,
        collection: str,
        key: str,
        data: str,
        expected_version: int,
        expires_at: float | None = None,
    ) -> int:
        """Compare-and-set on the store its collection lives in."""
        return self._for(collection).put(collection, key, data, expected_version, expires_at)

    def delete(self, collection: str, key: str, expected_version: int) -> None:
        """Compare-and-delete on the store its collection lives in."""
        self._for(collection).delete(collection, key, expected_version)

    def append(self, log: str, member_id: str | None, at: float, data: str) -> int:
        """Logs are records: always durable."""
        return self.durable.append(log, member_id, at, data)

    def read_log(
        self, log: str, member_id: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[LogEntry]:
        """From the durable store, where every log lives."""
        return self.durable.read_log(log, member_id, after, limit)

    def purge_expired(self, now: float) -> int:
        """Purge both stores."""
        return self.durable.purge_expired(now) + self.ephemeral.purge_expired(now)

    def close(self) -> None:
        """Close both stores, the durable one even if the other fails."""
        try:
            self.ephemeral.close()
        finally:
            self.durable.close()
