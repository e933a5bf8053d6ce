"""Units of work: one commit per API call, all or nothing, compare-and-set still inside.

Runs against every store whose units are atomic (ATOMIC). The provider-level tests show
what the unit buys and what it must not cost: a wrong code is still counted when the call
fails, and a message leaves only once its code is committed.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from mfa_fsm import OtpCodeNotFound
from mfa_fsm_local._ports import FanOut, Message, OutboxSender
from mfa_fsm_local._records import Member
from mfa_fsm_local._sqlite import SqliteStore
from mfa_fsm_local._store import Conflict, Store
from mfa_fsm_local.stores import open_store

from ..stores import backends
from ..stores.backends import UrlFor
from .conftest import Kit, make_kit

#: Stores whose units are atomic. PostgreSQL's units are atomic but not isolated (reads
#: take no locks), so the read-then-write test below runs on ISOLATED ones only.
ATOMIC: dict[str, UrlFor] = {
    "memory": backends.memory,
    "sqlite": backends.sqlite,
    "postgres": backends.postgres,
}
ISOLATED = frozenset({"memory", "sqlite"})


class Boom(Exception):
    pass


@pytest.fixture(params=sorted(ATOMIC))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with ATOMIC[request.param](tmp_path) as url:
        opened = open_store(url)
        yield opened
        opened.close()


@pytest.fixture(params=sorted(ISOLATED))
def isolated_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with ATOMIC[request.param](tmp_path) as url:
        opened = open_store(url)
        yield opened
        opened.close()


def test_a_unit_commits_all_its_writes(store: Store) -> None:
    v = store.put("c", "gone", "x", 0)
    with store.unit():
        store.put("c", "a", "1", 0)
        store.delete("c", "gone", v)
        store.append("audit", "m", 1.0, "line")
    assert store.get("c", "a") is not None
    assert store.get("c", "gone") is None
    assert [e.data for e in store.read_log("audit")] == ["line"]


def test_a_unit_that_raises_leaves_nothing(store: Store) -> None:
    v = store.put("c", "kept", "before", 0)
    with pytest.raises(Boom), store.unit():
        store.put("c", "new", "1", 0)
        store.put("c", "kept", "after", v)
        store.append("audit", "m", 1.0, "line")
        raise Boom
    assert store.get("c", "new") is None
    kept = store.get("c", "kept")
    assert kept is not None and (kept.data, kept.version) == ("before", v)
    assert store.read_log("audit") == []
    store.put("c", "kept", "later", v)  # the version read before the unit still names it


def test_a_nested_unit_joins_the_outer_one(store: Store) -> None:
    with pytest.raises(Boom), store.unit():
        with store.unit():
            store.put("c", "inner", "1", 0)
        assert store.get("c", "inner") is not None  # seen inside the outer unit
        raise Boom
    assert store.get("c", "inner") is None


def test_compare_and_set_still_decides_inside_a_unit(store: Store) -> None:
    store.put("c", "k", "v1", 0)
    with store.unit():
        with pytest.raises(Conflict):
            store.put("c", "k", "stale", 0)
        with pytest.raises(Conflict):
            store.put("c", "k", "stale", 999_999)
        store.put("c", "other", "1", 0)  # the unit goes on after a refused write
    doc = store.get("c", "k")
    assert doc is not None and doc.data == "v1"
    assert store.get("c", "other") is not None


def test_units_on_two_threads_do_not_interleave(isolated_store: Store) -> None:
    """Read-then-write inside a unit is atomic: 2 x 100 increments, none lost, no Conflict."""
    store = isolated_store
    store.put("c", "n", "0", 0)

    def bump() -> None:
        for _ in range(100):
            with store.unit():
                doc = store.get("c", "n")
                assert doc is not None
                store.put("c", "n", str(int(doc.data) + 1), doc.version)

    threads = [threading.Thread(target=bump) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    doc = store.get("c", "n")
    assert doc is not None and doc.data == "200"


def test_sqlite_other_connections_see_a_unit_only_once_committed(tmp_path: Path) -> None:
    path = tmp_path / "iso.db"
    writer, reader = SqliteStore(path), SqliteStore(path)
    try:
        with writer.unit():
            writer.put("c", "k", "1", 0)
            assert reader.get("c", "k") is None
        assert reader.get("c", "k") is not None
    finally:
        writer.close()
        reader.close()


def test_sqlite_a_process_killed_inside_a_unit_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "kill.db"
    SqliteStore(path).close()
    child = textwrap.dedent(
        f"""
        import os, signal
        from mfa_fsm_local._sqlite import SqliteStore
        store = SqliteStore({str(path)!r})
        store.put("c", "before", "1", 0)
        with store.unit():
            store.put("c", "a", "1", 0)
            store.append("audit", None, 1.0, "half")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", child], check=False, timeout=60)
    assert done.returncode == -signal.SIGKILL
    store = SqliteStore(path)
    try:
        assert store.get("c", "before") is not None
        assert store.get("c", "a") is None
        assert store.read_log("audit") == []
    finally:
        store.close()


# ---------------------------------------------------------------- the provider's units


def _enrolled(kit: Kit) -> tuple[str, str, str]:
    p = kit.provider
    org = p.organizations_create("Acme", "acme", mfa_policy="REQUIRED_FOR_ALL")
    member = p.members_create(org.organization_id, "ada@example.com")
    p.passwords_migrate(org.organization_id, "ada@example.com", _BCRYPT, "bcrypt")
    login = p.passwords_authenticate(org.organization_id, "ada@example.com", "hunter2")
    return org.organization_id, member.member_id, login.intermediate_session_token


_BCRYPT = bcrypt.hashpw(b"hunter2", bcrypt.gensalt(rounds=4)).decode()


def test_a_wrong_code_is_counted_although_the_call_fails(kit: Kit) -> None:
    """Attack: if a failing call rolled its unit back, guesses would never lock anyone."""
    org_id, member_id, ist = _enrolled(kit)
    p = kit.provider
    p.otps_sms_send(org_id, member_id, "+14155550100", intermediate_session_token=ist)
    right = kit.last_code("+14155550100")
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(3):
        with pytest.raises(OtpCodeNotFound):
            p.otps_sms_authenticate(org_id, member_id, wrong, intermediate_session_token=ist)
    stored = p.repo.get("members", f"{org_id}/{member_id}", Member)
    assert stored is not None and stored.failed_attempts == 3


class CommittedCheck:
    """A sender that looks, from a second connection, for the code it is asked to send."""

    def __init__(self, path: Path) -> None:
        self.reader = SqliteStore(path)
        self.seen: list[bool] = []

    def send(self, message: Message) -> None:
        self.seen.append(any(m.code == message.code for m in OutboxSender(self.reader).messages()))


def test_an_outside_message_leaves_after_the_commit(tmp_path: Path) -> None:
    kit = make_kit(tmp_path / "mfa.db")
    check = CommittedCheck(kit.path)
    try:
        kit.provider.driver.sms = FanOut(kit.outbox, check)
        org_id, member_id, ist = _enrolled(kit)
        kit.provider.otps_sms_send(
            org_id, member_id, "+14155550100", intermediate_session_token=ist
        )
        assert check.seen == [True]
    finally:
        check.reader.close()
        kit.store.close()


def test_a_failed_call_sends_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A call that rolls back must not leave an SMS behind for a code that was never kept."""
    kit = make_kit(tmp_path / "mfa.db")
    sent: list[Message] = []

    class Outside:
        def send(self, message: Message) -> None:
            sent.append(message)

    try:
        org_id, member_id, ist = _enrolled(kit)
        kit.provider.driver.sms = Outside()

        def fail(*args: object, **kwargs: object) -> None:
            raise Boom

        monkeypatch.setattr(kit.provider.driver, "_audit", fail)
        with pytest.raises(Boom):
            kit.provider.otps_sms_send(
                org_id, member_id, "+14155550100", intermediate_session_token=ist
            )
        assert sent == []
        assert kit.store.get("sms_codes", f"{org_id}/{member_id}") is None
    finally:
        kit.store.close()


def test_one_failing_sender_does_not_keep_the_others_from_sending(tmp_path: Path) -> None:
    """A webhook that is down still lets the console (and any other port) have the
    message, and the caller hears of the failure; the stored code stays for a resend."""
    kit = make_kit(tmp_path / "mfa.db")
    sent: list[Message] = []

    class Down:
        def send(self, message: Message) -> None:
            raise ConnectionError("gateway down")

    class Up:
        def send(self, message: Message) -> None:
            sent.append(message)

    try:
        org_id, member_id, ist = _enrolled(kit)
        kit.provider.driver.sms = FanOut(kit.outbox, Down(), Up())
        with pytest.raises(ConnectionError):
            kit.provider.otps_sms_send(
                org_id, member_id, "+14155550100", intermediate_session_token=ist
            )
        assert [m.to for m in sent] == ["+14155550100"]
        assert kit.store.get("sms_codes", f"{org_id}/{member_id}") is not None
    finally:
        kit.store.close()
