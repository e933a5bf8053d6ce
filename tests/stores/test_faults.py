"""Faults on the shared stores: lost connections, a server gone and back, flow state lost.

Nothing here restarts the shared servers: connections are killed from the server side
(`pg_terminate_backend`, `CLIENT KILL`), and "the server is down" is a proxy in between
that a test takes down and brings back.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import bcrypt
import psycopg
import pytest
import redis

from mfa_fsm import MfaError
from mfa_fsm_local._jwt import SessionSigner
from mfa_fsm_local._ports import OutboxSender
from mfa_fsm_local._sqlite import StoreUnavailable
from mfa_fsm_local._store import Store
from mfa_fsm_local.provider import LocalProvider
from mfa_fsm_local.stores import open_store

from . import backends, racers
from .proxy import TcpProxy

PHONE = "+14155551234"
EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"


def via(url: str, port: int) -> str:
    """The same URL with the server's port replaced (to go through a proxy)."""
    parts = urlsplit(url)
    auth, at, _ = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{auth}{at}{parts.hostname}:{port}"))


def proxy_for(url: str, default_port: int) -> TcpProxy:
    parts = urlsplit(url)
    return TcpProxy(parts.hostname or "127.0.0.1", parts.port or default_port)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    name = f"mfa-fsm-test-{uuid.uuid4().hex[:12]}"
    with backends.postgres(tmp_path, application_name=name, timeout="2") as url:
        yield url


def terminate_backends(url: str) -> int:
    """Kill, from the server side, every connection of the store behind `url`."""
    name = dict(p.split("=", 1) for p in urlsplit(url).query.split("&"))["application_name"]
    with psycopg.connect(backends.POSTGRES_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (name,),
        ).fetchall()
    return len(rows)


def test_postgres_replaces_connections_killed_between_calls(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        v = store.put("c", "k", "1", 0)
        assert terminate_backends(pg_url) >= 1
        doc = store.get("c", "k")  # the pool finds the dead connection and opens another
        assert doc is not None and doc.version == v
        assert store.put("c", "k", "2", v) > v
    finally:
        store.close()


def test_postgres_connection_lost_mid_unit_writes_nothing(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        kept = store.put("c", "kept", "before", 0)
        with pytest.raises(StoreUnavailable), store.unit():
            store.put("c", "new", "1", 0)
            store.put("c", "kept", "after", kept)
            store.append("audit", "m", 1.0, "line")
            assert terminate_backends(pg_url) >= 1
            store.put("c", "late", "1", 0)
        assert store.get("c", "new") is None
        assert store.get("c", "late") is None
        doc = store.get("c", "kept")
        assert doc is not None and (doc.data, doc.version) == ("before", kept)
        assert store.read_log("audit") == []
        with store.unit():  # and the store works again
            store.put("c", "new", "2", 0)
        assert store.get("c", "new") is not None
    finally:
        store.close()


def test_postgres_unreachable_is_store_unavailable() -> None:
    url = via(backends.POSTGRES_URL, free_port())
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        open_store(f"{url}?timeout=2")
    assert time.monotonic() - started < 10


def _down_and_back(store: Store, proxy: TcpProxy) -> None:
    v = store.put("c", "k", "1", 0)
    proxy.down()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.get("c", "k")
    with pytest.raises(StoreUnavailable):
        store.put("c", "k", "2", v)
    assert time.monotonic() - started < 8, "a store that is down must fail fast, not hang"
    proxy.up()
    deadline = time.monotonic() + 20
    while True:
        try:
            doc = store.get("c", "k")
            break
        except StoreUnavailable:
            assert time.monotonic() < deadline, "did not reconnect"
            time.sleep(0.2)
    assert doc is not None and (doc.data, doc.version) == ("1", v)
    assert store.put("c", "k", "2", v) > v


def test_postgres_down_fails_with_store_unavailable_then_recovers(pg_url: str) -> None:
    proxy = proxy_for(pg_url, 5432)
    store = open_store(via(pg_url, proxy.port))
    try:
        _down_and_back(store, proxy)
    finally:
        store.close()
        proxy.close()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with backends.redis_store(tmp_path, client_name=f"mfa-fsm-test-{uuid.uuid4().hex}") as url:
        yield url


def kill_clients(url: str) -> int:
    name = dict(p.split("=", 1) for p in urlsplit(url).query.split("&"))["client_name"]
    with redis.Redis.from_url(backends.REDIS_URL, decode_responses=True) as admin:
        ids = [c["id"] for c in admin.client_list() if c.get("name") == name]
        for client_id in ids:
            admin.client_kill_filter(_id=client_id)
    return len(ids)


def test_redis_reconnects_after_client_kill(redis_url: str) -> None:
    store = open_store(redis_url)
    try:
        v = store.put("c", "k", "1", 0)
        assert kill_clients(redis_url) >= 1
        doc = store.get("c", "k")
        assert doc is not None and doc.version == v
        assert store.put("c", "k", "2", v) > v
    finally:
        store.close()


def test_redis_down_fails_with_store_unavailable_then_recovers(redis_url: str) -> None:
    proxy = proxy_for(redis_url, 6379)
    store = open_store(via(redis_url, proxy.port))
    try:
        _down_and_back(store, proxy)
    finally:
        store.close()
        proxy.close()


def test_redis_unreachable_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        open_store(via(backends.REDIS_URL, free_port()) + "?timeout=2")


def _pending_login(url: str) -> tuple[LocalProvider, str, str, str]:
    """A provider on `url` and a member half way through a login: IST issued, SMS sent."""
    p = racers.provider_on(url, 1_700_000_000.0, SessionSigner.generate().to_pem())
    org = p.organizations_create("Acme", "acme", mfa_policy="REQUIRED_FOR_ALL")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    member = p.passwords_migrate(org.organization_id, EMAIL, hashed, "bcrypt")
    ist = p.passwords_authenticate(org.organization_id, EMAIL, PASSWORD)
    p.otps_sms_send(
        org.organization_id,
        member.member_id,
        mfa_phone_number=PHONE,
        intermediate_session_token=ist.intermediate_session_token,
    )
    return p, org.organization_id, member.member_id, ist.intermediate_session_token


def last_code(p: LocalProvider) -> str:
    codes = [m.code for m in OutboxSender(p.repo.store).messages(kind="sms") if m.code]
    return codes[-1]


def test_redis_down_mid_login_fails_closed_then_the_login_completes(redis_url: str) -> None:
    proxy = proxy_for(redis_url, 6379)
    try:
        p, org_id, member_id, ist = _pending_login(via(redis_url, proxy.port))
        code = last_code(p)
        proxy.down()
        with pytest.raises(StoreUnavailable):  # no session without the store
            p.otps_sms_authenticate(org_id, member_id, code, intermediate_session_token=ist)
        proxy.up()
        done = p.otps_sms_authenticate(org_id, member_id, code, intermediate_session_token=ist)
        assert done.member_authenticated and done.session_token
        p.repo.store.close()
    finally:
        proxy.close()


def test_flow_state_lost_in_redis_fails_closed_and_a_new_login_works(tmp_path: Path) -> None:
    with backends.routed(tmp_path) as url:
        p, org_id, member_id, ist = _pending_login(url)
        code = last_code(p)
        namespace = dict(q.split("=", 1) for q in url.split("|")[1].split("?")[1].split("&"))
        backends.drop_namespace(namespace["namespace"])  # Redis restarted without its data
        with pytest.raises(MfaError) as refused:
            p.otps_sms_authenticate(org_id, member_id, code, intermediate_session_token=ist)
        assert refused.value.error_type == "intermediate_session_not_found"
        again = p.passwords_authenticate(org_id, EMAIL, PASSWORD).intermediate_session_token
        p.otps_sms_send(org_id, member_id, mfa_phone_number=PHONE, intermediate_session_token=again)
        done = p.otps_sms_authenticate(
            org_id, member_id, last_code(p), intermediate_session_token=again
        )
        assert done.member_authenticated
        p.repo.store.close()
