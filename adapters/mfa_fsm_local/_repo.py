"""Typed records over the store, with read-modify-compare-and-set and bounded retries."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from ._store import Conflict, Store

R = TypeVar("R", bound=BaseModel)


class Busy(Exception):
    """A record kept changing under us; the caller may retry the whole request."""


class Repo:
    """Collections of pydantic records; every write names the version it read."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def load(self, collection: str, key: str, model: type[R]) -> tuple[R, int] | None:
        doc = self.store.get(collection, key)
        if doc is None:
            return None
        return model.model_validate_json(doc.data), doc.version

    def get(self, collection: str, key: str, model: type[R]) -> R | None:
        found = self.load(collection, key, model)
        return None if found is None else found[0]

    def save(
        self,
        collection: str,
        key: str,
        record: BaseModel,
        version: int,
        expires_at: float | None = None,
    ) -> int:
        return self.store.put(collection, key, record.model_dump_json(), version, expires_at)

    def create(
        self, collection: str, key: str, record: BaseModel, expires_at: float | None = None
    ) -> None:
        self.save(collection, key, record, 0, expires_at)

    def update(
        self,
        collection: str,
        key: str,
        model: type[R],
        change: Callable[[R], R],
        attempts: int = 50,
    ) -> R | None:
        """Apply `change` to the current record until a compare-and-set wins."""
        for _ in range(attempts):
            found = self.load(collection, key, model)
            if found is None:
                return None
            record, version = found
            new = change(record)
            try:
                self.save(collection, key, new, version)
            except Conflict:
                continue
            return new
        raise Busy(f"{collection}/{key} kept changing")

    def remove(self, collection: str, key: str) -> None:
        doc = self.store.get(collection, key)
        if doc is not None:
            with contextlib.suppress(Conflict):
                self.store.delete(collection, key, doc.version)
