"""`RoutedStore` and `open_store`: where each collection lives, and the URL forms."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfa_fsm_local._postgres import PostgresStore
from mfa_fsm_local._redis import RedisStore
from mfa_fsm_local._routed import EPHEMERAL_COLLECTIONS, RoutedStore
from mfa_fsm_local.stores import open_store

from . import backends


@pytest.fixture
def urls(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with backends.postgres(tmp_path) as durable, backends.redis_store(tmp_path) as ephemeral:
        yield durable, ephemeral


def test_flow_state_goes_to_redis_and_records_and_logs_to_postgres(
    urls: tuple[str, str],
) -> None:
    durable_url, ephemeral_url = urls
    routed = open_store(f"{durable_url}|{ephemeral_url}")
    durable, ephemeral = open_store(durable_url), open_store(ephemeral_url)
    try:
        assert isinstance(routed, RoutedStore)
        for collection in sorted(EPHEMERAL_COLLECTIONS):
            routed.put(collection, "k", "{}", 0, expires_at=1.0)
            assert ephemeral.get(collection, "k") is not None
            assert durable.get(collection, "k") is None
        routed.put("members", "m", "{}", 0)
        routed.append("audit", "m", 1.0, "line")
        assert durable.get("members", "m") is not None and ephemeral.get("members", "m") is None
        assert [e.data for e in durable.read_log("audit")] == ["line"]
        assert ephemeral.read_log("audit") == []
        assert routed.purge_expired(2.0) == len(EPHEMERAL_COLLECTIONS)
    finally:
        for store in (routed, durable, ephemeral):
            store.close()


def test_a_unit_is_atomic_for_records_only(urls: tuple[str, str]) -> None:
    routed = open_store(*urls[:1], ephemeral=urls[1])
    try:
        with pytest.raises(RuntimeError), routed.unit():
            routed.put("members", "m", "{}", 0)
            routed.put("flows", "f", "{}", 0)
            raise RuntimeError
        assert routed.get("members", "m") is None  # rolled back with the unit
        assert routed.get("flows", "f") is not None  # written on its own, as documented
    finally:
        routed.close()


def test_open_store_picks_the_store_from_the_scheme(urls: tuple[str, str]) -> None:
    durable_url, ephemeral_url = urls
    for url, kind in (
        (durable_url, PostgresStore),
        (durable_url.replace("postgresql://", "postgres://", 1), PostgresStore),
        (ephemeral_url, RedisStore),
    ):
        store = open_store(url)
        assert isinstance(store, kind), url
        store.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://127.0.0.1/test?pool_max=many", "pool_max"),
        ("postgresql://127.0.0.1/test?schema=a;b", "schema"),
        ("postgresql://127.0.0.1/test?no_such_option=1", "PostgreSQL URL"),
        ("redis://127.0.0.1:6379/0?ttl_grace=soon", "ttl_grace"),
        ("redis://127.0.0.1:6379/0?namespace=*", "namespace"),
        ("memory://|memory://|memory://", "at most two"),
        ("ftp://example.com/x", "unknown store URL scheme"),
    ],
)
def test_open_store_refuses_bad_urls_clearly(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(url)


def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mfa_fsm_local._postgres", None)
    monkeypatch.setitem(sys.modules, "mfa_fsm_local._redis", None)
    with pytest.raises(ImportError, match=r"mfa-fsm\[postgres\]"):
        open_store("postgresql://127.0.0.1/test")
    with pytest.raises(ImportError, match=r"mfa-fsm\[redis\]"):
        open_store("rediss://127.0.0.1:6379/0")
