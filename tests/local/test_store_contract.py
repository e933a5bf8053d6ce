"""One contract for every store: the provider's "a code is used once" rests on these semantics.

A backend joins by adding a URL factory to BACKENDS (to SHARED when several processes can
open the same store, to DURABLE when writes it acknowledged survive a SIGKILL of the writing
process); every test then runs against it unchanged. A factory gives each test an empty
store and removes it afterwards (see `tests/stores/backends.py`).
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from mfa_fsm_local._store import Conflict, Doc, LogEntry, Store
from mfa_fsm_local.stores import open_store

from ..stores import backends
from ..stores.backends import UrlFor

SHARED: dict[str, UrlFor] = {
    "sqlite": backends.sqlite,
    "postgres": backends.postgres,
    "redis": backends.redis_store,
    "routed": backends.routed,
}
BACKENDS: dict[str, UrlFor] = {"memory": backends.memory, **SHARED}
DURABLE: dict[str, UrlFor] = SHARED  # Redis: as durable as the server's own persistence


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with BACKENDS[request.param](tmp_path) as url:
        opened = open_store(url)
        yield opened
        opened.close()


def test_absent_document_is_none(store: Store) -> None:
    assert store.get("c", "k") is None


def test_version_zero_inserts_only(store: Store) -> None:
    v1 = store.put("c", "k", '{"a": 1}', 0)
    assert v1 > 0
    assert store.get("c", "k") == Doc('{"a": 1}', v1)
    with pytest.raises(Conflict):
        store.put("c", "k", '{"a": 2}', 0)
    assert store.get("c", "k") == Doc('{"a": 1}', v1)


def test_replacing_needs_the_version_read(store: Store) -> None:
    versions = [store.put("c", "k", "0", 0)]
    for i in range(1, 6):
        versions.append(store.put("c", "k", str(i), versions[-1]))
    assert versions == sorted(set(versions))
    assert store.get("c", "k") == Doc("5", versions[-1])
    for wrong in (versions[0], versions[-2], versions[-1] + 1000):
        with pytest.raises(Conflict):
            store.put("c", "k", "stale", wrong)
    assert store.get("c", "k") == Doc("5", versions[-1])


def test_a_wrong_version_never_creates(store: Store) -> None:
    with pytest.raises(Conflict):
        store.put("c", "k", "{}", 1)
    assert store.get("c", "k") is None


def test_delete_is_compare_and_set(store: Store) -> None:
    v = store.put("c", "k", "{}", 0)
    with pytest.raises(Conflict):
        store.delete("c", "k", v + 1)
    assert store.get("c", "k") == Doc("{}", v)
    store.delete("c", "k", v)
    assert store.get("c", "k") is None
    with pytest.raises(Conflict):
        store.delete("c", "k", v)
    with pytest.raises(Conflict):
        store.delete("c", "never", 1)


def test_versions_are_not_reused_after_delete(store: Store) -> None:
    """A stale reader of a deleted code must not consume its re-created successor (ABA)."""
    old = store.put("sms_codes", "m1", '{"code": "old"}', 0)
    store.delete("sms_codes", "m1", old)
    new = store.put("sms_codes", "m1", '{"code": "new"}', 0)
    assert new > old
    with pytest.raises(Conflict):
        store.delete("sms_codes", "m1", old)
    with pytest.raises(Conflict):
        store.put("sms_codes", "m1", '{"code": "used"}', old)
    assert store.get("sms_codes", "m1") == Doc('{"code": "new"}', new)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.put("c", "k", "{}", -1),
        lambda s: s.delete("c", "k", 0),
        lambda s: s.read_log("audit", limit=-1),
        lambda s: s.put("c", "k", '{"a": "\x00"}', 0),
        lambda s: s.put("c", "k", '"\ud800"', 0),
        lambda s: s.put("c", "\ud800", "{}", 0),
        lambda s: s.append("audit", "m\x00", 0.0, "{}"),
        lambda s: s.append("audit", None, 0.0, '"\udfff"'),
    ],
)
def test_bad_arguments_are_value_errors_and_store_nothing(
    store: Store, call: Callable[[Store], object]
) -> None:
    with pytest.raises(ValueError):
        call(store)
    assert store.get("c", "k") is None
    assert store.read_log("audit") == []


def test_collections_and_keys_are_separate(store: Store) -> None:
    a = store.put("a", "k", '"a"', 0)
    b = store.put("b", "k", '"b"', 0)
    upper = store.put("a", "K", '"A"', 0)
    store.delete("a", "k", a)
    assert store.get("a", "k") is None
    assert store.get("b", "k") == Doc('"b"', b)
    assert store.get("a", "K") == Doc('"A"', upper)


JSON_TEXTS = [
    '{"b": 1,   "a": [1.0, 1e3, -0, 1.10]}\n',
    '{"s": "\\u00e9\\ud83d\\ude00 \\"q\\" \\\\ \\u0000"}',
    ' {\t"x" : null } ',
    '"just a string"',
    "[]",
    '{"name": "Zoë 👩🏽‍💻 日本語 עברית Ελληνικά"}',
]


@pytest.mark.parametrize("text", JSON_TEXTS)
def test_json_text_is_stored_verbatim(store: Store, text: str) -> None:
    v = store.put("c", "k", text, 0)
    doc = store.get("c", "k")
    assert doc == Doc(text, v)
    seq = store.append("audit", "m", 1.5, text)
    assert store.read_log("audit") == [LogEntry(seq, "m", 1.5, text)]


def test_unicode_keys_are_exact(store: Store) -> None:
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    v1 = store.put("membres", nfc, '"nfc"', 0)
    v2 = store.put("membres", nfd, '"nfd"', 0)
    v3 = store.put("члены", "👩🏽‍💻", '"emoji"', 0)
    assert store.get("membres", nfc) == Doc('"nfc"', v1)
    assert store.get("membres", nfd) == Doc('"nfd"', v2)
    assert store.get("члены", "👩🏽‍💻") == Doc('"emoji"', v3)


def test_large_documents(store: Store) -> None:
    big = json.dumps({"blob": "x" * (4 << 20), "more": "é€😀" * 10_000}, ensure_ascii=False)
    v = store.put("c", "big", big, 0)
    assert store.get("c", "big") == Doc(big, v)
    bigger = big + " " * 1000
    v2 = store.put("c", "big", bigger, v)
    assert store.get("c", "big") == Doc(bigger, v2)


def test_expiry_is_a_hint_until_purged(store: Store) -> None:
    store.put("c", "old", "{}", 0, expires_at=100.0)
    store.put("c", "edge", "{}", 0, expires_at=200.0)
    store.put("c", "forever", "{}", 0)
    cleared = store.put("c", "cleared", "{}", store.put("c", "cleared", "{}", 0, 100.0), None)
    extended = store.put("c", "extended", "{}", store.put("c", "extended", "{}", 0, 100.0), 300.0)
    seq = store.append("audit", None, 50.0, "{}")
    assert store.get("c", "old") is not None, "expiry is judged by the provider's clock"
    assert store.purge_expired(200.0) == 1, "strictly before now"
    assert store.get("c", "old") is None
    assert store.purge_expired(200.5) == 1
    assert store.purge_expired(10.0**12) == 1
    assert store.purge_expired(10.0**12) == 0
    assert store.get("c", "extended") is None
    assert store.get("c", "forever") is not None
    assert store.get("c", "cleared") == Doc("{}", cleared)
    assert store.put("c", "extended", "{}", 0) > extended
    assert [e.seq for e in store.read_log("audit")] == [seq]


def test_logs_are_ordered_and_filtered(store: Store) -> None:
    members = ["m1", "m2", None, "m1", "m2", "m1"]
    seqs = []
    for i, member in enumerate(members):
        seqs.append(store.append("audit", member, 1712345678.123456 + i, f'{{"i": {i}}}'))
        store.append("outbox", "m1", 0.25, '"other log"')
    assert seqs == sorted(set(seqs)) and seqs[0] > 0
    expected = [
        LogEntry(s, m, 1712345678.123456 + i, f'{{"i": {i}}}')
        for i, (s, m) in enumerate(zip(seqs, members, strict=True))
    ]
    assert store.read_log("audit") == expected
    assert store.read_log("audit", member_id="m1") == [expected[0], expected[3], expected[5]]
    assert store.read_log("audit", after=seqs[2]) == expected[3:]
    assert store.read_log("audit", member_id="m2", after=seqs[1]) == [expected[4]]
    assert store.read_log("audit", member_id="m1", after=seqs[0], limit=1) == [expected[3]]
    assert store.read_log("audit", limit=2) == expected[:2]
    assert store.read_log("audit", limit=0) == []
    assert store.read_log("audit", member_id="nobody") == []
    assert store.read_log("nothing") == []
    assert len(store.read_log("outbox")) == len(members)


def _together(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` in n threads released at the same instant."""
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        barrier.wait(timeout=30)
        return work(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def _attempt(store: Store, op: str, version: int, i: int) -> str:
    try:
        if op == "delete":
            store.delete("c", "k", version)
        else:
            store.put("c", "k", f'"{i}"', version)
    except Conflict:
        return "conflict"
    return f"won {i}"


@pytest.mark.parametrize("op", ["insert", "update", "delete"])
def test_one_winner_among_threads(store: Store, op: str) -> None:
    version = 0 if op == "insert" else store.put("c", "k", '"start"', 0)
    results = _together(10, lambda i: _attempt(store, op, version, i))
    winners = [r for r in results if r.startswith("won")]
    assert len(winners) == 1 and results.count("conflict") == 9
    doc = store.get("c", "k")
    if op == "delete":
        assert doc is None
    else:
        assert doc is not None and doc.data == f'"{winners[0][4:]}"'


def _increment(store: Store, times: int) -> int:
    """Read-CAS-retry `times` times; returns how many conflicts were retried."""
    retries = 0
    for _ in range(times):
        while True:
            doc = store.get("counters", "n")
            assert doc is not None
            try:
                store.put("counters", "n", str(int(doc.data) + 1), doc.version)
                break
            except Conflict:
                retries += 1
    return retries


def test_counter_is_exact_under_threads(store: Store) -> None:
    store.put("counters", "n", "0", 0)
    _together(8, lambda i: _increment(store, 25))
    doc = store.get("counters", "n")
    assert doc is not None and doc.data == "200"


def test_appends_from_threads_get_unique_ordered_seqs(store: Store) -> None:
    seqs = _together(8, lambda i: [store.append("audit", f"m{i}", 0.0, str(j)) for j in range(25)])
    flat = sorted(s for batch in seqs for s in batch)
    assert len(set(flat)) == 200
    assert [e.seq for e in store.read_log("audit", limit=1000)] == flat
    assert all(batch == sorted(batch) for batch in seqs)


def _in_process(url: str, job: str, version: int, barrier: Barrier, out: Queue[str]) -> None:
    """A spawned child: its own store on the same URL; reports one line to the parent."""
    store = open_store(url)
    try:
        barrier.wait(timeout=60)
        if job == "cas":
            out.put(_attempt(store, "update", version, multiprocessing.current_process().pid or 0))
        else:
            out.put(f"retries {_increment(store, 25)}")
    except BaseException as exc:  # reported, so the parent's assertion shows it
        out.put(f"error {exc!r}")
    finally:
        store.close()


def _processes(url: str, job: str, version: int, n: int = 4) -> list[str]:
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [
        ctx.Process(target=_in_process, args=(url, job, version, barrier, out)) for _ in range(n)
    ]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    return results


@pytest.mark.parametrize("url_for", SHARED.values(), ids=SHARED.keys())
def test_one_winner_among_processes(url_for: UrlFor, tmp_path: Path) -> None:
    with url_for(tmp_path) as url:
        _one_winner_among_processes(url)


def _one_winner_among_processes(url: str) -> None:
    store = open_store(url)
    version = store.put("c", "k", '"start"', 0)
    results = _processes(url, "cas", version)
    winners = [r for r in results if r.startswith("won")]
    assert len(winners) == 1 and results.count("conflict") == 3, results
    doc = store.get("c", "k")
    assert doc is not None and doc.data == f'"{winners[0][4:]}"' and doc.version > version
    store.close()


@pytest.mark.parametrize("url_for", SHARED.values(), ids=SHARED.keys())
def test_counter_is_exact_under_processes(url_for: UrlFor, tmp_path: Path) -> None:
    with url_for(tmp_path) as url:
        _counter_is_exact_under_processes(url)


def _counter_is_exact_under_processes(url: str) -> None:
    store = open_store(url)
    store.put("counters", "n", "0", 0)
    results = _processes(url, "count", 0)
    assert all(r.startswith("retries") for r in results), results
    doc = store.get("counters", "n")
    assert doc is not None and doc.data == "100"
    store.close()


WRITER = """
import sys
from mfa_fsm_local.stores import open_store
store = open_store(sys.argv[1])
i = 0
while True:
    i += 1
    version = store.put("acks", str(i), '{"i": %d}' % i, 0)
    store.append("audit", "m", float(i), str(i))
    print(i, version, flush=True)
"""


@pytest.mark.parametrize("url_for", DURABLE.values(), ids=DURABLE.keys())
def test_acknowledged_writes_survive_sigkill(url_for: UrlFor, tmp_path: Path) -> None:
    with url_for(tmp_path) as url:
        _acknowledged_writes_survive_sigkill(url)


def _acknowledged_writes_survive_sigkill(url: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    try:
        lines = [child.stdout.readline() for _ in range(30)]
    finally:
        child.kill()  # SIGKILL on POSIX: no atexit, no flush, maybe mid-transaction
    lines += child.stdout.readlines()  # printed before the kill: acknowledged too
    child.wait(timeout=30)
    acked = [tuple(map(int, line.split())) for line in lines if line.endswith("\n")]
    assert len(acked) >= 30
    store = open_store(url)
    for i, version in acked:
        assert store.get("acks", str(i)) == Doc(f'{{"i": {i}}}', version)
    logged = [int(e.data) for e in store.read_log("audit", limit=10_000)]
    assert logged[: len(acked)] == list(range(1, len(acked) + 1))
    store.put("acks", "after-crash", "{}", 0)
    store.close()
