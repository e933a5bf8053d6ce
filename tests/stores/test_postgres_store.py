"""PostgreSQL specifics: migrations, schemas, units as transactions, row locks."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.queues import Queue
from pathlib import Path

import psycopg
import pytest

from mfa_fsm_local._postgres import MIGRATIONS, PostgresStore
from mfa_fsm_local._sqlite import StoreUnavailable
from mfa_fsm_local._store import Conflict
from mfa_fsm_local.stores import open_store

from . import backends


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with backends.postgres(tmp_path) as found:
        yield found


def schema_of(url: str) -> str:
    return url.split("schema=")[1].split("&")[0]


def applied(schema: str) -> list[int]:
    with psycopg.connect(backends.POSTGRES_URL) as conn:
        rows = conn.execute(f"SELECT version FROM {schema}.schema_migrations ORDER BY 1")
        return [row[0] for row in rows]


def test_first_open_applies_every_step_once_even_when_many_open_at_once(url: str) -> None:
    def open_and_put(i: int) -> int:
        store = PostgresStore.from_url(url)
        try:
            return store.put("c", str(i), "{}", 0)
        finally:
            store.close()

    with ThreadPoolExecutor(6) as pool:
        versions = list(pool.map(open_and_put, range(6)))
    assert len(set(versions)) == 6
    assert applied(schema_of(url)) == list(range(1, len(MIGRATIONS) + 1))
    reopened = open_store(url)
    assert reopened.get("c", "0") is not None
    reopened.close()
    assert applied(schema_of(url)) == list(range(1, len(MIGRATIONS) + 1))


def test_a_newer_schema_is_refused(url: str) -> None:
    open_store(url).close()
    with psycopg.connect(backends.POSTGRES_URL) as conn:
        conn.execute(f"INSERT INTO {schema_of(url)}.schema_migrations VALUES (99, 0)")
    with pytest.raises(StoreUnavailable, match="newer"):
        open_store(url)


def test_schemas_keep_stores_apart(tmp_path: Path) -> None:
    with backends.postgres(tmp_path) as a_url, backends.postgres(tmp_path) as b_url:
        a, b = open_store(a_url), open_store(b_url)
        try:
            a.put("c", "k", '"a"', 0)
            assert b.get("c", "k") is None
            b.put("c", "k", '"b"', 0)
            doc = a.get("c", "k")
            assert doc is not None and doc.data == '"a"'
        finally:
            a.close()
            b.close()


@pytest.mark.parametrize(
    "schema", ["public; DROP TABLE x", "a-b", 'x"y', "Upper", "1abc", "", "a" * 64]
)
def test_schema_names_cannot_inject_sql(schema: str) -> None:
    """The schema name is written into SQL (search_path, CREATE SCHEMA): only plain names."""
    with pytest.raises(ValueError, match="schema"):
        PostgresStore(backends.POSTGRES_URL, schema=schema)


def test_a_unit_is_one_transaction(url: str) -> None:
    store = open_store(url)
    try:
        kept = store.put("c", "kept", "before", 0)
        with pytest.raises(RuntimeError), store.unit():
            store.put("c", "new", "1", 0)
            with store.unit():  # nested: joins
                store.put("c", "kept", "after", kept)
            store.append("audit", "m", 1.0, "line")
            with pytest.raises(Conflict):  # a lost compare-and-set leaves the unit usable
                store.put("c", "kept", "again", kept)
            assert store.get("c", "new") is not None  # seen inside the unit
            raise RuntimeError
        assert store.get("c", "new") is None
        doc = store.get("c", "kept")
        assert doc is not None and (doc.data, doc.version) == ("before", kept)
        assert store.read_log("audit") == []
    finally:
        store.close()


def test_a_write_racing_an_open_unit_waits_then_conflicts(url: str) -> None:
    """Row locks: the second writer sees the first unit's result, never overwrites it."""
    store = open_store(url)
    v1 = store.put("c", "k", "1", 0)
    written = threading.Event()

    def first() -> None:
        with store.unit():
            store.put("c", "k", "first", v1)
            written.set()
            time.sleep(0.5)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert written.wait(10)
        started = time.monotonic()
        with pytest.raises(Conflict):
            store.put("c", "k", "second", v1)
        assert time.monotonic() - started > 0.2, "did not wait for the unit to commit"
    finally:
        thread.join()
    doc = store.get("c", "k")
    assert doc is not None and doc.data == "first"
    store.close()


def test_closed_store_is_unavailable(url: str) -> None:
    store = open_store(url)
    store.close()
    with pytest.raises(StoreUnavailable):
        store.get("c", "k")


def backend_pid(store: PostgresStore) -> int:
    with store._conn() as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


def _forked_put(store: PostgresStore, out: Queue[str]) -> None:
    try:
        store.put("c", "child", "{}", 0)
        out.put(f"ok {backend_pid(store)} {store.get('c', 'parent') is not None}")
    except BaseException as exc:
        out.put(f"error {exc!r}")


def test_a_forked_child_opens_its_own_pool_and_leaves_the_parents_alone(url: str) -> None:
    """A pre-forking server opens the store, then forks workers: both sides keep working."""
    store = PostgresStore.from_url(url)
    try:
        store.put("c", "parent", "{}", 0)
        mine = backend_pid(store)
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        child = ctx.Process(target=_forked_put, args=(store, out))
        child.start()
        try:
            answer = out.get(timeout=60)
            child.join(timeout=60)
        finally:
            if child.is_alive():
                child.kill()
                child.join()
        assert answer.startswith("ok ") and answer.endswith(" True"), answer
        assert int(answer.split()[1]) != mine, "the child used the parent's connection"
        assert store.get("c", "child") is not None  # the parent's connections still work
        store.put("c", "parent-again", "{}", 0)
    finally:
        store.close()


def test_a_deadlock_between_units_fails_one_cleanly_and_commits_the_other(url: str) -> None:
    store = open_store(url)
    versions = {k: store.put("c", k, '"start"', 0) for k in ("a", "b")}
    holding = {"a": threading.Event(), "b": threading.Event()}
    outcomes: dict[str, str] = {}

    def unit(first: str, then: str) -> None:
        try:
            with store.unit():
                store.put("c", first, f'"{first}"', versions[first])
                holding[first].set()
                assert holding[then].wait(10)
                store.put("c", then, f'"{first}"', versions[then])
            outcomes[first] = "committed"
        except StoreUnavailable as exc:
            outcomes[first] = f"unavailable: {exc}"

    threads = [threading.Thread(target=unit, args=pair) for pair in (("a", "b"), ("b", "a"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    try:
        assert sorted(o.split(":")[0] for o in outcomes.values()) == ["committed", "unavailable"]
        assert any("deadlock" in o for o in outcomes.values()), outcomes
        winner = next(k for k, o in outcomes.items() if o == "committed")
        for k in ("a", "b"):  # all of the winner's unit, nothing of the loser's
            doc = store.get("c", k)
            assert doc is not None and doc.data == f'"{winner}"'
    finally:
        store.close()
