"""What only the SQLite store promises: its file settings, migrations, errors, and URLs."""

from __future__ import annotations

import multiprocessing
import sqlite3
import sys
import threading
from multiprocessing.queues import Queue
from pathlib import Path

import pytest

from mfa_fsm_local._sqlite import MIGRATIONS, SqliteStore, StoreUnavailable, migrate
from mfa_fsm_local._store import Doc
from mfa_fsm_local.stores import MemoryStore, open_store


def _versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]


def test_file_is_wal_with_durable_commits(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "deep" / "er" / "mfa.db")
    assert store.path.exists(), "parent directories are created"
    conn = store._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,), "FULL by default"
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    store.close()
    fast = SqliteStore(tmp_path / "deep" / "er" / "mfa.db", synchronous="NORMAL", timeout=1)
    assert fast._conn().execute("PRAGMA synchronous").fetchone() == (1,)
    fast.close()


def test_reopening_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "mfa.db"
    store = SqliteStore(path)
    v1 = store.put("c", "k", "{}", 0)
    store.close()
    store = SqliteStore(path)
    assert _versions(path) == list(range(1, len(MIGRATIONS) + 1))
    assert store.get("c", "k") == Doc("{}", v1)
    assert store.put("c", "k", "[]", v1) > v1
    store.close()


def test_an_old_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, MIGRATIONS[:1]) == 1
    conn.execute("INSERT INTO documents VALUES ('c', 'a', 7, '\"seven\"', NULL)")
    conn.execute("INSERT INTO documents VALUES ('c', 'b', 3, '\"three\"', 10.0)")
    conn.execute("INSERT INTO logs (log, member_id, at, data) VALUES ('audit', 'm', 1.0, '{}')")
    conn.close()

    store = SqliteStore(path)
    assert _versions(path) == [1, 2]
    assert store.get("c", "a") == Doc('"seven"', 7)
    store.delete("c", "b", 3)
    assert store.put("c", "b", '"again"', 0) > 7, "the new counter starts above old versions"
    assert store.put("c", "a", '"eight"', 7) > 7
    assert [e.seq for e in store.read_log("audit")] == [1]
    assert store.append("audit", None, 2.0, "{}") == 2
    store.close()


def test_a_failed_migration_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "mfa.db"
    SqliteStore(path).close()
    broken = (*MIGRATIONS, ("CREATE TABLE half (a)", "CREATE TABLE oops ("))
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, broken)
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'half'").fetchall()
    conn.close()
    assert _versions(path) == [1, 2]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mfa.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (99, 0)")
    with pytest.raises(StoreUnavailable, match="newer"):
        SqliteStore(path)


@pytest.mark.parametrize("content", [b"this is not a database" * 100, None])
def test_unusable_files_raise_store_unavailable(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "mfa.db"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(StoreUnavailable):
        SqliteStore(path)


def test_a_lock_held_too_long_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "mfa.db"
    store = SqliteStore(path, timeout=0.1)
    v = store.put("c", "k", "{}", 0)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(StoreUnavailable, match="locked") as info:
        store.put("c", "k", "[]", v)
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    other.execute("ROLLBACK")
    other.close()
    assert store.put("c", "k", "[]", v) > v, "the failed write was rolled back cleanly"
    store.close()


def test_closed_store_raises_store_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "mfa.db")
    store.close()
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.get("c", "k")


def test_connections_of_finished_threads_are_closed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "mfa.db")
    for _ in range(20):
        thread = threading.Thread(target=store.get, args=("c", "k"))
        thread.start()
        thread.join()
    assert len(store._conns) <= 2
    store.close()


def test_open_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert isinstance(open_store("memory://"), MemoryStore)
    relative = open_store("sqlite:///data/rel.db")
    assert isinstance(relative, SqliteStore) and (tmp_path / "data" / "rel.db").is_file()
    absolute = open_store(f"sqlite:///{tmp_path / 'abs.db'}")
    assert isinstance(absolute, SqliteStore) and absolute.path == tmp_path / "abs.db"
    plain = open_store("plain.db")
    assert isinstance(plain, SqliteStore) and (tmp_path / "plain.db").is_file()
    for store in (relative, absolute, plain):
        store.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "unknown store URL scheme"),
        ("memory://somewhere", "nothing after"),
        ("sqlite://", "sqlite:///"),
        ("sqlite://host/mfa.db", "sqlite:///"),
        ("", "not a store URL"),
        (":memory:", "memory://"),
    ],
)
def test_open_store_refuses_clearly(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(url)


def _forked_put(store: SqliteStore, inherited: int, out: Queue[str]) -> None:
    fresh = id(store._conn()) != inherited
    out.put(f"{fresh} {store.put('c', 'forked', '{}', 0)}")


@pytest.mark.skipif(sys.platform == "win32", reason="no fork")
def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "mfa.db")
    ctx = multiprocessing.get_context("fork")
    out: Queue[str] = ctx.Queue()
    child = ctx.Process(target=_forked_put, args=(store, id(store._conn()), out))
    child.start()
    fresh, version = out.get(timeout=60).split()
    child.join(timeout=60)
    assert fresh == "True" and child.exitcode == 0
    assert store.get("c", "forked") == Doc("{}", int(version))
    store.close()
