"""Bulk writers for the store benchmarks: a pass-through store that records what one member
created through the API consists of, and one writer per server that clones such members
straight into it (SQLite executemany, PostgreSQL COPY, Redis pipelines) and measures the
storage they take. Kept apart from the flows that use them: this is all server plumbing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, cast

import psycopg
import redis

from mfa_fsm_local._redis import RedisStore, encode_body
from mfa_fsm_local._routed import EPHEMERAL_COLLECTIONS
from mfa_fsm_local._store import Doc, LogEntry, Store

Row = tuple[str, str, str, float | None]  # collection, key, JSON, expires_at


class Recorder:
    """A store that passes every call through and notes the documents written: what one
    member created through the API consists of, to clone it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.written: dict[tuple[str, str], float | None] = {}
        self.appended = 0

    def get(self, collection: str, key: str) -> Doc | None:
        return self.store.get(collection, key)

    def put(
        self,
        collection: str,
        key: str,
        data: str,
        expected_version: int,
        expires_at: float | None = None,
    ) -> int:
        self.written[(collection, key)] = expires_at
        return self.store.put(collection, key, data, expected_version, expires_at)

    def delete(self, collection: str, key: str, expected_version: int) -> None:
        self.written.pop((collection, key), None)
        self.store.delete(collection, key, expected_version)

    def append(self, log: str, member_id: str | None, at: float, data: str) -> int:
        self.appended += 1
        return self.store.append(log, member_id, at, data)

    def read_log(
        self, log: str, member_id: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[LogEntry]:
        return self.store.read_log(log, member_id, after, limit)

    def unit(self) -> AbstractContextManager[None]:
        return self.store.unit()

    def purge_expired(self, now: float) -> int:
        return self.store.purge_expired(now)

    def close(self) -> None:
        pass


class Bulk(Protocol):
    """Writes cloned documents into one server and measures what it holds."""

    def insert(self, rows: Sequence[Row]) -> None: ...
    def finish(self) -> None: ...
    def snapshot(self, watched: Sequence[tuple[str, str]]) -> Any: ...
    def growth(self, before: Any) -> dict[str, int]: ...
    def member_bytes(
        self, sample: Sequence[tuple[str, str]], sampled: int, members: int
    ) -> dict[str, float]: ...
    def close(self) -> None: ...


class SqliteBulk:
    """executemany in one transaction per chunk; versions from `version_counter`."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)

    def insert(self, rows: Sequence[Row]) -> None:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            ((last,),) = c.execute("SELECT value FROM version_counter WHERE id = 1").fetchall()
            c.executemany(
                "INSERT INTO documents (collection, key, version, data, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(col, key, v, d, e) for v, (col, key, d, e) in enumerate(rows, last + 1)],
            )
            c.execute("UPDATE version_counter SET value = ? WHERE id = 1", (last + len(rows),))
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise

    def finish(self) -> None:
        """The WAL copied into the file, as after the server's own checkpoints."""
        self.size()

    def size(self) -> int:
        """Bytes of pages in use, after copying the WAL into the file."""
        busy, log, done = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy or log != done:
            raise RuntimeError("WAL checkpoint could not complete")
        ((pages,),) = self.conn.execute("PRAGMA page_count").fetchall()
        ((free,),) = self.conn.execute("PRAGMA freelist_count").fetchall()
        ((page,),) = self.conn.execute("PRAGMA page_size").fetchall()
        return int(pages - free) * int(page)

    def snapshot(self, watched: Sequence[tuple[str, str]]) -> int:
        return self.size()

    def growth(self, before: int) -> dict[str, int]:
        return {"sqlite": self.size() - before}

    def member_bytes(
        self, sample: Sequence[tuple[str, str]], sampled: int, members: int
    ) -> dict[str, float]:
        return {"sqlite": self.size() / members}

    def close(self) -> None:
        self.conn.close()


class PostgresBulk:
    """COPY in one transaction per chunk; versions reserved from `document_versions`."""

    def __init__(self, conninfo: str, schema: str) -> None:
        self.conn = psycopg.connect(conninfo, autocommit=True, options=f"-c search_path={schema}")

    def insert(self, rows: Sequence[Row]) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                "SELECT setval('document_versions', nextval('document_versions') + %s - 1)",
                (len(rows),),
            )
            (last,) = cast("tuple[int]", cur.fetchone())
            sql = "COPY documents (collection, key, version, data, expires_at) FROM STDIN"
            with cur.copy(sql) as copy:
                for v, (col, key, d, e) in enumerate(rows, last - len(rows) + 1):
                    copy.write_row((col, key, v, d, e))

    def finish(self) -> None:
        """Fresh planner statistics, as autovacuum would gather after a bulk load."""
        self.conn.execute("ANALYZE documents")

    def size(self) -> int:
        row = self.conn.execute(
            "SELECT pg_total_relation_size('documents') + pg_total_relation_size('logs')"
        ).fetchone()
        return int(cast("tuple[int]", row)[0])

    def snapshot(self, watched: Sequence[tuple[str, str]]) -> int:
        return self.size()

    def growth(self, before: int) -> dict[str, int]:
        return {"postgres": self.size() - before}

    def member_bytes(
        self, sample: Sequence[tuple[str, str]], sampled: int, members: int
    ) -> dict[str, float]:
        return {"postgres": self.size() / members}

    def close(self) -> None:
        self.conn.close()


class RedisBulk:
    """SET in pipelines, each value as the store's Lua script writes it; versions by INCRBY."""

    def __init__(self, client: redis.Redis, store: RedisStore) -> None:
        self.client, self.store, self.ns = client, store, store.namespace
        self.population: tuple[str, ...] = ()  # key prefixes of the cloned collections

    def key(self, collection: str, key: str) -> str:
        return self.store._doc_key(collection, key)

    def insert(self, rows: Sequence[Row]) -> None:
        self.population = tuple({*self.population, *(self.key(r[0], "") for r in rows)})
        last = int(cast("int", self.client.incrby(f"{self.ns}:v", len(rows))))
        pipe = self.client.pipeline(transaction=False)
        for v, (col, key, data, expires) in enumerate(rows, last - len(rows) + 1):
            if expires is not None:
                raise ValueError("cloned documents with an expiry would need a TTL")
            pipe.set(self.key(col, key), f"{v} - ".encode() + encode_body(data))
            if len(pipe) >= 10_000:
                pipe.execute()
        pipe.execute()

    def finish(self) -> None:
        pass

    def usage(self, keys: Sequence[str | bytes]) -> int:
        total = 0
        for lo in range(0, len(keys), 10_000):
            pipe = self.client.pipeline(transaction=False)
            for k in keys[lo : lo + 10_000]:
                pipe.memory_usage(k, samples=0)
            total += sum(int(x or 0) for x in pipe.execute())
        return total

    def _kept(self) -> list[bytes]:
        """Every key of the namespace but the population's documents."""
        pop = tuple(p.encode() for p in self.population)
        found = self.client.scan_iter(match=f"{self.ns}:*", count=10_000)
        return [k for k in cast("Iterator[bytes]", found) if not pop or not k.startswith(pop)]

    def snapshot(self, watched: Sequence[tuple[str, str]]) -> tuple[list[str], int]:
        members = [self.key(c, k) for c, k in watched]
        return members, self.usage([*self._kept(), *members])

    def growth(self, before: tuple[list[str], int]) -> dict[str, int]:
        members, used = before
        return {"redis": self.usage([*self._kept(), *members]) - used}

    def member_bytes(
        self, sample: Sequence[tuple[str, str]], sampled: int, members: int
    ) -> dict[str, float]:
        """`sample`: every document of `sampled` members picked at random."""
        return {"redis": self.usage([self.key(c, k) for c, k in sample]) / sampled}

    def close(self) -> None:
        pass


class RoutedBulk:
    """Each document to the server its collection is routed to, as `RoutedStore` does."""

    def __init__(self, durable: PostgresBulk, ephemeral: RedisBulk) -> None:
        self.durable, self.ephemeral = durable, ephemeral

    def _split(self, items: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        short = [x for x in items if x[0] in EPHEMERAL_COLLECTIONS]
        return [x for x in items if x[0] not in EPHEMERAL_COLLECTIONS], short

    def insert(self, rows: Sequence[Row]) -> None:
        durable, ephemeral = self._split(rows)
        self.durable.insert(durable)
        if ephemeral:
            self.ephemeral.insert(ephemeral)

    def finish(self) -> None:
        self.durable.finish()
        self.ephemeral.finish()

    def snapshot(self, watched: Sequence[tuple[str, str]]) -> tuple[Any, Any]:
        durable, ephemeral = self._split(watched)
        return self.durable.snapshot(durable), self.ephemeral.snapshot(ephemeral)

    def growth(self, before: tuple[Any, Any]) -> dict[str, int]:
        return self.durable.growth(before[0]) | self.ephemeral.growth(before[1])

    def member_bytes(
        self, sample: Sequence[tuple[str, str]], sampled: int, members: int
    ) -> dict[str, float]:
        durable, ephemeral = self._split(sample)
        found = self.durable.member_bytes(durable, sampled, members)
        if ephemeral:
            found |= self.ephemeral.member_bytes(ephemeral, sampled, members)
        return found

    def close(self) -> None:
        self.durable.close()
