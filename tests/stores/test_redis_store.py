"""Redis specifics: TTL hints, the stored format, namespaces, a lost version counter."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis

from mfa_fsm_local._redis import RedisStore, key_digest
from mfa_fsm_local._sqlite import StoreUnavailable
from mfa_fsm_local._store import Conflict, Doc
from mfa_fsm_local.stores import open_store

from . import backends


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with backends.redis_store(tmp_path, ttl_grace="600") as found:
        yield found


@pytest.fixture
def store(url: str) -> Iterator[RedisStore]:
    opened = RedisStore.from_url(url)
    yield opened
    opened.close()


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    with redis.Redis.from_url(backends.REDIS_URL) as found:
        yield found


def key(store: RedisStore, collection: str, k: str) -> str:
    return f"{store.namespace}:d:{collection}:{key_digest(k)}"


def pttl(client: redis.Redis, name: str) -> int:
    return cast(int, client.pttl(name))


def raw(client: redis.Redis, name: str) -> bytes:
    found = cast("bytes | None", client.get(name))
    assert found is not None
    return found


def test_expiry_becomes_a_generous_ttl(store: RedisStore, client: redis.Redis) -> None:
    v = store.put("flows", "soon", "{}", 0, expires_at=time.time() + 100)
    assert 690_000 < pttl(client, key(store, "flows", "soon")) <= 700_000  # 100 s + grace
    store.put("flows", "past", "{}", 0, expires_at=100.0)  # the provider's clock decides
    assert 590_000 < pttl(client, key(store, "flows", "past")) <= 600_000
    assert store.get("flows", "past") is not None
    store.put("flows", "soon", "{}", v, expires_at=None)
    assert pttl(client, key(store, "flows", "soon")) == -1  # no expiry: no TTL


def test_flow_state_is_stored_compressed(store: RedisStore, client: redis.Redis) -> None:
    flow = json.dumps(
        {
            "flow_id": "flow-26cba954-259c-4208-b7a6-35d7fd74e61c",
            "state": "enrolling_sms",
            "organization_id": "organization-90bbaebb-3912-4c05-ace5-6636175046cf",
            "member_id": "member-8a2a07f3-dae0-494a-ae63-9fafc0cbed7c",
            "mfa_policy": "REQUIRED_FOR_ALL",
            "primary": [{"type": "password", "delivery_method": "knowledge"}],
        },
        separators=(",", ":"),
    )
    v = store.put("flows", "f", flow, 0, expires_at=1e9)
    stored = raw(client, key(store, "flows", "f"))
    assert stored.startswith(f"{v} 1000000000.0 z".encode())
    assert len(stored) < len(flow) * 0.6
    assert store.get("flows", "f") == Doc(flow, v)
    short = store.put("flows", "s", "{}", 0)
    assert raw(client, key(store, "flows", "s")) == f"{short} - j{{}}".encode()


def test_namespaces_keep_stores_apart(tmp_path: Path) -> None:
    with backends.redis_store(tmp_path) as a_url, backends.redis_store(tmp_path) as b_url:
        a, b = open_store(a_url), open_store(b_url)
        try:
            a.put("c", "k", '"a"', 0, expires_at=1.0)
            a.append("audit", "m", 1.0, "a")
            assert b.get("c", "k") is None and b.read_log("audit") == []
            assert b.purge_expired(10.0) == 0
            assert a.get("c", "k") is not None
        finally:
            a.close()
            b.close()


@pytest.mark.parametrize("namespace", ["*", "a:*", "a b", "", "ns?", "[x]", "x" * 65])
def test_namespaces_cannot_widen_a_scan(namespace: str) -> None:
    """The namespace becomes a SCAN pattern (purge, clean-up): glob characters are refused."""
    with pytest.raises(ValueError, match="namespace"):
        RedisStore(backends.REDIS_URL, namespace=namespace)


def test_colons_in_names_cannot_collide(store: RedisStore) -> None:
    v1 = store.put("a:b", "c", '"1"', 0)
    v2 = store.put("a", "b:c", '"2"', 0)
    assert store.get("a:b", "c") == Doc('"1"', v1)
    assert store.get("a", "b:c") == Doc('"2"', v2)


def test_a_lost_version_counter_never_rewinds_a_documents_version(
    store: RedisStore, client: redis.Redis
) -> None:
    v = store.put("c", "k", "1", 0)
    for _ in range(5):
        v = store.put("c", "k", "1", v)
    client.delete(f"{store.namespace}:v")  # evicted or lost in a restart
    newer = store.put("c", "k", "2", v)
    assert newer > v
    with pytest.raises(Conflict):
        store.put("c", "k", "stale", v)


def test_a_unit_groups_nothing_on_redis(store: RedisStore) -> None:
    """Documented: Redis units are not atomic; each write stands on its own."""
    with pytest.raises(RuntimeError), store.unit():
        store.put("c", "k", "1", 0)
        raise RuntimeError
    assert store.get("c", "k") is not None


def test_closed_store_is_unavailable(url: str) -> None:
    store = open_store(url)
    store.close()
    with pytest.raises(StoreUnavailable):
        store.get("c", "k")


def test_document_keys_are_short_and_fixed_length_whatever_the_provider_key(
    store: RedisStore, client: redis.Redis
) -> None:
    """Memory per pending login: an SMS code's key names the organization and the member."""
    long_key = f"organization-{uuid.uuid4()}/member-{uuid.uuid4()}"
    store.put("sms_codes", long_key, "{}", 0)
    store.put("sms_codes", "k", "{}", 0)
    names = sorted(k.decode() for k in client.scan_iter(match=f"{store.namespace}:d:*"))
    assert len(names) == 2 and len({len(n) for n in names}) == 1
    assert all(len(n) == len(f"{store.namespace}:d:sms_codes:") + 22 for n in names)
    assert not any(long_key in n for n in names)
    assert store.get("sms_codes", long_key) is not None and store.get("sms_codes", "k")
