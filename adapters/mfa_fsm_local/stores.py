"""`open_store(url)`: pick a store implementation from one configuration string.

One string (an environment variable, a CLI flag) is enough to move from tests (`memory://`)
to the default file (`sqlite:///data/mfa.db`) to shared databases (`postgresql://`,
`redis://`, or both: `postgresql://…|redis://…`), with no code change. The PostgreSQL and
Redis drivers are imported only when their URL is used, so they stay optional extras.
"""

from __future__ import annotations

from ._memory import MemoryStore
from ._routed import RoutedStore
from ._sqlite import SqliteStore, StoreUnavailable
from ._store import Conflict, Doc, LogEntry, Store

__all__ = [
    "Conflict",
    "Doc",
    "LogEntry",
    "MemoryStore",
    "RoutedStore",
    "SqliteStore",
    "Store",
    "StoreUnavailable",
    "open_store",
]

#: Separates the durable store's URL from the ephemeral one's in a single string.
SPLIT = "|"


def open_store(url: str, *, ephemeral: str | None = None) -> Store:
    """Open the store a URL names.

    - `memory://` — a fresh `MemoryStore` (data lives as long as the object).
    - `sqlite:///data/mfa.db` — a path relative to the working directory;
      `sqlite:////var/lib/mfa/mfa.db` (four slashes) — an absolute path, as in SQLAlchemy.
    - a plain path such as `data/mfa.db` — the same as `sqlite:///data/mfa.db`.
    - `postgresql://user@host:5432/db?schema=mfa_fsm` (or `postgres://`) — `PostgresStore`;
      `schema`, `pool_min`, `pool_max` and `timeout` are the store's, the rest is libpq's.
    - `redis://host:6379/0?namespace=mfa` (or `rediss://`, TLS) — `RedisStore`;
      `namespace`, `ttl_grace` and `timeout` are the store's, the rest is redis-py's.

    `ephemeral`, or a second URL after a `|` (`postgresql://db/mfa|redis://cache/0`), opens a
    `RoutedStore`: flows, ISTs and one-time codes on the second store, the rest on the first.

    Raises `ValueError` for a URL no store here handles, `ImportError` naming the extra to
    install when a driver is missing, `StoreUnavailable` when the server cannot be reached.
    """
    if ephemeral is None and SPLIT in url:
        url, _, ephemeral = (part.strip() for part in url.partition(SPLIT))
    if ephemeral is not None:
        if SPLIT in ephemeral:
            raise ValueError(f"at most two store URLs, separated by {SPLIT!r}")
        durable = _open_one(url)
        try:
            return RoutedStore(durable, _open_one(ephemeral))
        except BaseException:
            durable.close()
            raise
    return _open_one(url)


def _open_one(url: str) -> Store:
    scheme, sep, rest = url.partition("://")
    if not sep:
        if not url or url == ":memory:":
            raise ValueError(f"not a store URL or file path: {url!r} (try memory://)")
        return SqliteStore(url)
    scheme = scheme.lower()
    if scheme == "memory":
        if rest:
            raise ValueError(f"memory:// takes nothing after it, got {url!r}")
        return MemoryStore()
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise ValueError(
                f"expected sqlite:///relative/path.db or sqlite:////absolute/path.db, got {url!r}"
            )
        return SqliteStore(rest[1:])
    if scheme in ("postgresql", "postgres"):
        try:
            from ._postgres import PostgresStore
        except ImportError as exc:
            raise ImportError(_missing("PostgreSQL", "postgres", exc)) from exc
        return PostgresStore.from_url(url)
    if scheme in ("redis", "rediss"):
        try:
            from ._redis import RedisStore
        except ImportError as exc:
            raise ImportError(_missing("Redis", "redis", exc)) from exc
        return RedisStore.from_url(url)
    raise ValueError(
        f"unknown store URL scheme {scheme!r} in {url!r}; expected memory://, sqlite:///path,"
        " postgresql:// or redis://"
    )


def _missing(name: str, extra: str, exc: ImportError) -> str:
    return f"the {name} store needs `pip install 'mfa-fsm[{extra}]'` ({exc})"
