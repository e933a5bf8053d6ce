"""Each store under test as a URL that names a fresh, empty store, and cleans it up after.

PostgreSQL and Redis tests read the server from `MFA_FSM_TEST_POSTGRES_URL` and
`MFA_FSM_TEST_REDIS_URL`. Each store gets its own schema or key namespace, dropped at the
end, so test files can run in parallel and beside other users of the same servers. When
a server is unreachable the test is skipped, except under `CI=true`, where it fails.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

import psycopg
import pytest
import redis

POSTGRES_URL = os.environ.get(
    "MFA_FSM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("MFA_FSM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class UrlFor(Protocol):
    """Given a temporary directory (and store options), a context giving a fresh store's URL."""

    def __call__(self, tmp: Path, **options: str) -> AbstractContextManager[str]: ...


@functools.cache
def _unreachable(name: str) -> str:
    """Why the server cannot be used ("" when it can); asked once per test process."""
    try:
        if name == "postgres":
            with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        else:
            with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3) as client:
                client.ping()
    except (psycopg.Error, redis.RedisError) as exc:
        return f"{name} is unreachable: {exc}"
    return ""


def require(name: str) -> None:
    """Skip when the server is down; under CI=true a missing server is a failure."""
    why = _unreachable(name)
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{why} (CI=true: these tests must run)")
        pytest.skip(why)


def _with_query(url: str, **params: str) -> str:
    extra = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{url}{'&' if '?' in url else '?'}{extra}"


def drop_schema(schema: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def drop_namespace(namespace: str) -> None:
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.unlink(*keys[start : start + 1000])


@contextmanager
def postgres(tmp: Path, **options: str) -> Iterator[str]:
    """A fresh schema on the test database, dropped afterwards."""
    require("postgres")
    schema = f"t_{uuid.uuid4().hex}"
    try:
        yield _with_query(POSTGRES_URL, schema=schema, **options)
    finally:
        drop_schema(schema)


@contextmanager
def redis_store(tmp: Path, **options: str) -> Iterator[str]:
    """A fresh key namespace on the test server, deleted afterwards."""
    require("redis")
    namespace = f"t-{uuid.uuid4().hex}"
    ours = {k: v for k, v in options.items() if not k.startswith("pool_")}  # PostgreSQL's
    try:
        yield _with_query(REDIS_URL, namespace=namespace, **ours)
    finally:
        drop_namespace(namespace)


@contextmanager
def routed(tmp: Path, **options: str) -> Iterator[str]:
    """PostgreSQL for records and logs, Redis for flow state, as one `|`-joined URL."""
    with postgres(tmp, **options) as durable, redis_store(tmp) as ephemeral:
        yield f"{durable}|{ephemeral}"


@contextmanager
def sqlite(tmp: Path, **options: str) -> Iterator[str]:
    yield f"sqlite:///{tmp / 'store.db'}"


@contextmanager
def memory(tmp: Path, **options: str) -> Iterator[str]:
    yield "memory://"
