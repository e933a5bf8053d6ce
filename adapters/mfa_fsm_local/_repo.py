"""Typed records over the store, with read-modify-compare-and-set and bounded retries."""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from ._store import Conflict, Store

R = TypeVar("R", bound=BaseModel)


class Busy(Exception):
    """A record kept changing under us; the caller may retry the whole request."""


class Repo:
    """Collections of pydantic records; every write names the version it read.

    Records parsed from the store are kept by (collection, key) with their version. A
    version is never reused store-wide, so a stored version equal to the kept one means the
    same JSON: the record is answered without parsing it again. Only parsed records are
    kept (a record being saved may hold values that validation would have normalised), and
    callers never mutate records (they `model_copy`), so sharing one is safe.
    """

    def __init__(self, store: Store, cache_size: int = 4096) -> None:
        self.store = store
        self._parsed: OrderedDict[tuple[str, str], tuple[int, BaseModel]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def load(self, collection: str, key: str, model: type[R]) -> tuple[R, int] | None:
        doc = self.store.get(collection, key)
        if doc is None:
            return None
        k = (collection, key)
        with self._lock:
            kept = self._parsed.get(k)
        if kept is not None and kept[0] == doc.version and type(kept[1]) is model:
            return kept[1], doc.version
        record = model.model_validate_json(doc.data)
        self._keep(k, doc.version, record)
        return record, doc.version

    def _keep(self, k: tuple[str, str], version: int, record: BaseModel) -> None:
        with self._lock:
            self._parsed[k] = (version, record)
            self._parsed.move_to_end(k)
            if len(self._parsed) > self._cache_size:
                self._parsed.popitem(last=False)

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
        new_version = self.store.put(collection, key, record.model_dump_json(), version, expires_at)
        self._keep((collection, key), new_version, record)
        return new_version

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
