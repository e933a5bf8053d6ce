"""A provider on a real SQLite file, a hand-moved clock and an outbox, for each test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mfa_fsm_local._keys import Keyring
from mfa_fsm_local._ports import ManualClock, OutboxSender
from mfa_fsm_local._sqlite import SqliteStore
from mfa_fsm_local.provider import LocalProvider


@dataclass
class Kit:
    provider: LocalProvider
    clock: ManualClock
    outbox: OutboxSender
    store: SqliteStore
    path: Path

    def last_code(self, to: str) -> str:
        codes = [m.code for m in self.outbox.messages(kind="sms", to=to) if m.code]
        assert codes, f"no SMS to {to}"
        return codes[-1]

    def last_token(self, to: str) -> str:
        tokens = [m.token for m in self.outbox.messages(kind="email", to=to) if m.token]
        assert tokens, f"no email to {to}"
        return tokens[-1]


def make_kit(path: Path) -> Kit:
    store = SqliteStore(path)
    clock = ManualClock()
    outbox = OutboxSender(store)
    keyring = Keyring.from_master(b"k" * 32, nonce_source=os.urandom)
    provider = LocalProvider(store, keyring, clock=clock, sms=outbox, email=outbox)
    return Kit(provider, clock, outbox, store, path)


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[Kit]:
    k = make_kit(tmp_path / "mfa.db")
    yield k
    k.store.close()
