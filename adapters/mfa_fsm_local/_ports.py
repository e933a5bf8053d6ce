"""Ports with real implementations: clock, SMS and email senders, the dev outbox.

Senders are told the code or token separately from the text so the outbox can show it to
tests and the dev UI; nothing here logs a code, token or secret.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

import httpx

from ._store import Store

log = logging.getLogger("mfa_fsm_local")


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


@dataclass
class ManualClock:
    """A clock tests move by hand."""

    t: float = 1_700_000_000.0

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t


@dataclass(frozen=True)
class Message:
    kind: Literal["sms", "email"]
    to: str
    body: str
    code: str | None = None
    token: str | None = None
    sent_at: float = 0.0


class Sender(Protocol):
    def send(self, message: Message) -> None: ...


class ConsoleSender:
    """Prints that a message went out, without its secret part."""

    def send(self, message: Message) -> None:
        log.info("%s sent to %s", message.kind, _mask(message.to))


class OutboxSender:
    """Keeps sent messages in the store's `outbox` log, for tests and the dev UI."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def send(self, message: Message) -> None:
        self.store.append("outbox", None, message.sent_at, json.dumps(message.__dict__))

    def messages(self, kind: str | None = None, to: str | None = None) -> list[Message]:
        found = [Message(**json.loads(e.data)) for e in self.store.read_log("outbox", limit=10_000)]
        return [m for m in found if (kind is None or m.kind == kind) and (to is None or m.to == to)]


class WebhookSender:
    """POSTs each message as JSON to a URL (an SMS gateway, a mail relay)."""

    def __init__(self, url: str, client: httpx.Client | None = None, timeout: float = 5.0) -> None:
        self.url = url
        self.client = client or httpx.Client(timeout=timeout)

    def send(self, message: Message) -> None:
        body = {"kind": message.kind, "to": message.to, "body": message.body}
        self.client.post(self.url, json=body).raise_for_status()


class FanOut:
    """Send through several senders in turn (e.g. outbox and console in dev)."""

    def __init__(self, *senders: Sender) -> None:
        self.senders = senders

    def send(self, message: Message) -> None:
        for sender in self.senders:
            sender.send(message)


def leaf_senders(sender: Sender) -> Iterator[Sender]:
    """The senders a message really goes through: a `FanOut`'s, nested ones flattened."""
    if isinstance(sender, FanOut):
        for inner in sender.senders:
            yield from leaf_senders(inner)
    else:
        yield sender


def _mask(to: str) -> str:
    return to[:3] + "…" + to[-2:] if len(to) > 6 else "…"
