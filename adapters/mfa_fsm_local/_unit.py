"""One unit of work per API call: one durable commit, and messages sent after it.

Each provider call runs its reads and compare-and-set writes in one `Store.unit()`, so a
login, a send or an authenticate costs one commit (one fsync under SQLite's FULL) rather
than one per write, and a crash leaves all of the call or none of it.

An answer the caller must see (a wrong code, a locked member: any `MfaError`) still
commits: the failure count it wrote is the protection. Anything else (a bug, a store
failure) rolls the call back.

Messages to the outside world (console, webhook) wait until the commit, so no SMS goes out
with a code that was never stored and no webhook call holds the database's write lock. The
store's own outbox is written inside the unit, with the code it shows.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from mfa_fsm import MfaError

from ._ports import Message, OutboxSender, Sender, leaf_senders
from ._store import Store

P = ParamSpec("P")
T = TypeVar("T")


class Units:
    """Opens units on one store and holds each thread's messages until its unit commits."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._local = threading.local()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if getattr(self._local, "queue", None) is not None:  # nested: the outer unit decides
            yield
            return
        queue: list[tuple[Sender, Message]] = []
        self._local.queue = queue
        answer: MfaError | None = None
        try:
            with self.store.unit():
                try:
                    yield
                except MfaError as exc:
                    answer = exc
        finally:
            self._local.queue = None
        failed: Exception | None = None
        for sender, message in queue:  # each one is tried, whatever became of the others
            try:
                sender.send(message)
            except Exception as exc:
                failed = failed or exc
        if answer is not None:
            raise answer
        if failed is not None:
            raise failed

    def deliver(self, sender: Sender, message: Message) -> None:
        """Send now to this store's outbox; to anything else, once the unit has committed."""
        queue: list[tuple[Sender, Message]] | None = getattr(self._local, "queue", None)
        for leaf in leaf_senders(sender):
            if queue is None or (isinstance(leaf, OutboxSender) and leaf.store is self.store):
                leaf.send(message)
            else:
                queue.append((leaf, message))


def in_unit(method: Callable[P, T]) -> Callable[P, T]:
    """Run a provider method in one unit of work (a nested call joins the caller's)."""

    @functools.wraps(method)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        owner: Any = args[0]
        with owner.units():
            return method(*args, **kwargs)

    return run
