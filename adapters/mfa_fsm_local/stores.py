"""`open_store(url)`: pick a store implementation from one configuration string.

One string (an environment variable, a CLI flag) is enough to move from tests (`memory://`)
to the default file (`sqlite:///data/mfa.db`) to shared databases later, with no code change.
"""

from __future__ import annotations

from ._memory import MemoryStore
from ._sqlite import SqliteStore, StoreUnavailable
from ._store import Conflict, Doc, LogEntry, Store

__all__ = [
    "Conflict",
    "Doc",
    "LogEntry",
    "MemoryStore",
    "SqliteStore",
    "Store",
    "StoreUnavailable",
    "open_store",
]

_PLANNED = {
    "postgresql": ("PostgreSQL", "postgres"),
    "postgres": ("PostgreSQL", "postgres"),
    "redis": ("Redis", "redis"),
    "rediss": ("Redis", "redis"),
}


def open_store(url: str) -> Store:
    """Open the store a URL names.

    - `memory://` — a fresh `MemoryStore` (data lives as long as the object).
    - `sqlite:///data/mfa.db` — a path relative to the working directory;
      `sqlite:////var/lib/mfa/mfa.db` (four slashes) — an absolute path, as in SQLAlchemy.
    - a plain path such as `data/mfa.db` — the same as `sqlite:///data/mfa.db`.

    Raises `ValueError` for a URL no store here handles, including the planned
    `postgresql://` and `redis://` stores, which are not available yet.
    """
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
    if scheme in _PLANNED:
        name, extra = _PLANNED[scheme]
        raise ValueError(
            f"the {name} store is not supported yet ({scheme}:// URLs will need"
            f" `pip install 'mfa-fsm[{extra}]'`); use sqlite:/// for now"
        )
    raise ValueError(
        f"unknown store URL scheme {scheme!r} in {url!r}; expected memory:// or sqlite:///path"
    )
