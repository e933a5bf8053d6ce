"""Where provider calls run: inline on SQLite with local senders, one queued thread when a
sender may wait on the network, worker threads on stores that take concurrent calls."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfa_fsm_local._keys import Keyring
from mfa_fsm_local._ports import ConsoleSender, FanOut, OutboxSender, Sender, WebhookSender
from mfa_fsm_local.provider import LocalProvider
from mfa_fsm_local.stores import MemoryStore, SqliteStore, Store
from mfa_fsm_server.calls import Mode, ProviderCalls

KEYRING = Keyring.from_master(b"k" * 32)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "mfa.db")
    yield store
    store.close()


def provider(store: Store, sms: Sender | None = None, email: Sender | None = None) -> LocalProvider:
    return LocalProvider(store, KEYRING, sms=sms, email=email)


def test_sqlite_with_local_senders_runs_inline(sqlite: SqliteStore) -> None:
    outbox = OutboxSender(sqlite)
    assert ProviderCalls.for_provider(provider(sqlite)).mode == "inline"  # console defaults
    both = FanOut(outbox, ConsoleSender())
    assert ProviderCalls.for_provider(provider(sqlite, both, outbox)).mode == "inline"


def test_sqlite_with_a_network_sender_runs_on_one_queued_thread(sqlite: SqliteStore) -> None:
    webhook = WebhookSender("http://127.0.0.1:9/sms")
    try:
        assert ProviderCalls.for_provider(provider(sqlite, webhook)).mode == "serial"
        nested = FanOut(OutboxSender(sqlite), webhook)
        assert ProviderCalls.for_provider(provider(sqlite, email=nested)).mode == "serial"
    finally:
        webhook.client.close()


def test_sqlite_with_an_unknown_sender_is_treated_as_one_that_may_wait(
    sqlite: SqliteStore,
) -> None:
    class Gateway:
        def send(self, message: object) -> None:
            pass

    assert ProviderCalls.for_provider(provider(sqlite, Gateway())).mode == "serial"


def test_stores_taking_concurrent_calls_use_the_worker_threads() -> None:
    assert ProviderCalls.for_provider(provider(MemoryStore())).mode == "pool"


def _thread_of(calls: ProviderCalls) -> tuple[int, int]:
    async def go() -> tuple[int, int]:
        return threading.get_ident(), await calls.run(threading.get_ident)

    return asyncio.run(go())


def test_inline_runs_on_the_loop_thread_and_the_others_do_not() -> None:
    loop_thread, ran_on = _thread_of(ProviderCalls("inline"))
    assert ran_on == loop_thread
    for mode in ("serial", "pool"):
        calls = ProviderCalls(mode)
        try:
            loop_thread, ran_on = _thread_of(calls)
            assert ran_on != loop_thread, mode
        finally:
            calls.close()


@pytest.mark.parametrize("mode", ["inline", "serial", "pool"])
def test_an_exception_reaches_the_caller(mode: Mode) -> None:
    calls = ProviderCalls(mode)

    def fail() -> None:
        raise LookupError("no such member")

    try:
        with pytest.raises(LookupError, match="no such member"):
            asyncio.run(calls.run(fail))
    finally:
        calls.close()


def test_serial_calls_run_one_at_a_time_in_arrival_order_and_the_loop_stays_free() -> None:
    calls = ProviderCalls("serial")
    running = 0
    overlap = False
    order: list[int] = []
    guard = threading.Lock()

    def work(i: int) -> int:
        nonlocal running, overlap
        with guard:
            running += 1
            overlap = overlap or running > 1
        time.sleep(0.01)  # a slow gateway, say
        with guard:
            running -= 1
            order.append(i)
        return i

    async def go() -> tuple[list[int], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        beat = asyncio.create_task(ticker())
        results = await asyncio.gather(*(calls.run(lambda i=i: work(i)) for i in range(20)))
        beat.cancel()
        return list(results), ticks

    try:
        results, ticks = asyncio.run(go())
    finally:
        calls.close()
    assert results == list(range(20))
    assert order == list(range(20))
    assert not overlap
    assert ticks > 20  # the event loop kept running while the calls waited
