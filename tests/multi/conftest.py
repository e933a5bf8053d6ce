"""Fixtures: a fresh routed store (PostgreSQL schema + Redis namespace), optionally reached
through proxies a test can take down, and a launcher for server processes sharing it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from tests.stores import backends
from tests.stores.proxy import TcpProxy

from .instances import Instance, shared_environment, start_instance, via

Launch = Callable[..., list[Instance]]


@dataclass(frozen=True)
class Stores:
    """The routed store's URLs: as the instances see them, and straight to the servers."""

    postgres: str  # direct
    redis: str  # direct
    served_postgres: str  # what the instances use (maybe through a proxy)
    served_redis: str

    @property
    def url(self) -> str:
        return f"{self.served_postgres}|{self.served_redis}"

    @property
    def application_name(self) -> str:
        return parse_qs(urlsplit(self.postgres).query)["application_name"][0]

    @property
    def namespace(self) -> str:
        return parse_qs(urlsplit(self.redis).query)["namespace"][0]


def terminate_backends(stores: Stores) -> int:
    """Kill, from the server side, every PostgreSQL connection of the instances' store."""
    with psycopg.connect(backends.POSTGRES_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (stores.application_name,),
        ).fetchall()
    return len(rows)


def _proxy_to(url: str, default_port: int) -> TcpProxy:
    parts = urlsplit(url)
    return TcpProxy(parts.hostname or "127.0.0.1", parts.port or default_port)


@pytest.fixture
def redis_proxy() -> Iterator[TcpProxy]:
    backends.require("redis")
    proxy = _proxy_to(backends.REDIS_URL, 6379)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def postgres_proxy() -> Iterator[TcpProxy]:
    backends.require("postgres")
    proxy = _proxy_to(backends.POSTGRES_URL, 5432)
    try:
        yield proxy
    finally:
        proxy.close()


@contextmanager
def fresh_stores(
    tmp: Path, *, postgres_port: int | None = None, redis_port: int | None = None
) -> Iterator[Stores]:
    """A new schema and namespace (dropped afterwards); the instances may reach them
    through proxies on the given ports. PostgreSQL waits 2 s for a connection at most."""
    name = f"mfa-fsm-multi-{uuid.uuid4().hex[:12]}"
    with backends.routed(tmp, application_name=name, timeout="2") as url:
        postgres, redis = url.split("|")
        yield Stores(
            postgres,
            redis,
            via(postgres, postgres_port) if postgres_port else postgres,
            via(redis, redis_port) if redis_port else redis,
        )


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    with fresh_stores(tmp_path) as found:
        yield found


@pytest.fixture
def stores_behind_redis_proxy(tmp_path: Path, redis_proxy: TcpProxy) -> Iterator[Stores]:
    with fresh_stores(tmp_path, redis_port=redis_proxy.port) as found:
        yield found


@pytest.fixture
def stores_behind_postgres_proxy(tmp_path: Path, postgres_proxy: TcpProxy) -> Iterator[Stores]:
    with fresh_stores(tmp_path, postgres_port=postgres_proxy.port) as found:
        yield found


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """`launch(db, count=2)`: that many instances on `db`, all with the same keys and
    credentials; every one started is stopped at the end (SIGTERM, then SIGKILL)."""
    env = shared_environment(tmp_path)
    started: list[Instance] = []

    def start(db: str, count: int = 2) -> list[Instance]:
        new = []
        for _ in range(count):
            name = "ABCDEFGH"[len(started)]
            instance = start_instance(name, tmp_path / f"instance-{name}", db, env)
            started.append(instance)
            new.append(instance)
        return new

    try:
        yield start
    finally:
        for instance in started:
            instance.stop()
        for instance in started:
            log = instance.log_text()
            assert "unhandled" not in log, f"instance {instance.name} hit a bug:\n{log[-2000:]}"


def pytest_configure(config: pytest.Config) -> None:
    # The SDK's async client uses an aiohttp argument that aiohttp deprecates; not ours.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:stytch")
