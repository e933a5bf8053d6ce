"""`ProviderCalls`: where the synchronous provider's calls run.

- **inline** — SQLite with only in-process senders (console, the store's outbox): the call
  runs on the event loop's own thread. SQLite has one writer, so calls run one at a time
  whatever the threading; handing each to a worker thread adds two thread switches and,
  worse, a GIL convoy: the worker gives up the GIL around every SQLite statement and waits
  for the busy event loop to hand it back. Measured with `benchmarks/bench_http.py`, running
  inline raised `sessions.authenticate` from about 1,350 to 2,300 req/s at 16 clients and
  `otps.sms.authenticate` from about 420 to 600. A call holds the loop only while SQLite
  works (or waits for another process's write lock, up to the store's timeout).
- **serial** — SQLite with a sender that may wait on the network (a webhook): one dedicated
  thread fed by a queue, so a slow gateway holds up provider calls but never the event loop.
  Threads racing for SQLite's lock would instead sleep in its busy handler (1, 2, 5 … 100
  ms between tries) and the latency tail would reach seconds.
- **pool** — stores that take concurrent calls (PostgreSQL, Redis, memory): anyio's worker
  threads.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

import anyio
import anyio.to_thread

from mfa_fsm_local._ports import ConsoleSender, OutboxSender, Sender, leaf_senders
from mfa_fsm_local.provider import LocalProvider
from mfa_fsm_local.stores import SqliteStore

__all__ = ["Mode", "ProviderCalls"]

T = TypeVar("T")
Mode = Literal["inline", "serial", "pool"]


class ProviderCalls:
    """Runs provider calls inline, on one queued thread, or on the shared worker threads."""

    def __init__(self, mode: Mode) -> None:
        self.mode: Mode = mode
        self._executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="mfa-fsm-provider")
            if mode == "serial"
            else None
        )
        self._one_at_a_time = anyio.CapacityLimiter(1)

    @classmethod
    def for_provider(cls, provider: LocalProvider) -> ProviderCalls:
        if not isinstance(provider.repo.store, SqliteStore):
            return cls("pool")
        local = all(_in_process(s) for s in (provider.sms, provider.email))
        return cls("inline" if local else "serial")

    async def run(self, call: Callable[[], T]) -> T:
        """`call()`'s result or exception, run the way this mode says."""
        if self.mode == "inline":
            return call()
        if self.mode == "pool":
            return await anyio.to_thread.run_sync(call)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # another event loop (trio): still one call at a time
            return await anyio.to_thread.run_sync(call, limiter=self._one_at_a_time)
        context = contextvars.copy_context()
        return await loop.run_in_executor(self._executor, context.run, call)

    def close(self) -> None:
        """Let queued calls finish, then stop the thread (serial mode)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)


def _in_process(sender: Sender) -> bool:
    """Whether sending never waits on the network: only the senders known to be local."""
    return all(isinstance(leaf, ConsoleSender | OutboxSender) for leaf in leaf_senders(sender))
