"""Kill the provider's process (SIGKILL) in the middle of a flow; start again; nothing lost.

A child process (`crash_child.py`) runs `open_provider` on a data directory with a fixed
`MFA_FSM_KEY` and the system clock, gets part-way through a flow, prints what a client
would hold (IST, code, session token) and is killed with SIGKILL, which no handler can
soften. This process then opens a provider on the same directory and finishes the flow.
The lifetimes that matter (IST 10 minutes, SMS code 2 minutes) cover a test run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest

from mfa_fsm import MfaError
from mfa_fsm_local.provider import LocalProvider

from . import crash_child
from .crash_child import EMAIL, PASSWORD, PHONE

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

CHILD = Path(crash_child.__file__)
TIMEOUT = 60.0


def read_line(stream: IO[str], timeout: float = TIMEOUT) -> str:
    """One line from the child, or fail after `timeout` seconds."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert box and box[0], "the child printed nothing"
    return box[0]


@contextmanager
def child(data_dir: Path, stage: str) -> Iterator[subprocess.Popen[str]]:
    """The child process, SIGKILLed on the way out whatever happens."""
    log = (data_dir.parent / f"{stage}.stderr").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(data_dir), stage],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(TIMEOUT)
        assert proc.stdout is not None
        proc.stdout.close()
        log.close()


def kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(TIMEOUT) == -signal.SIGKILL


def run_until(data_dir: Path, stage: str) -> dict[str, Any]:
    """Start the child, read its one line, SIGKILL it while it holds the store open."""
    with child(data_dir, stage) as proc:
        assert proc.stdout is not None
        held: dict[str, Any] = json.loads(read_line(proc.stdout))
        assert proc.poll() is None, "the child exited by itself"
        kill(proc)
    return held


def reopen(data_dir: Path) -> LocalProvider:
    return crash_child.provider(str(data_dir))


def moves(p: LocalProvider, member_id: str) -> list[tuple[str, str, str]]:
    return [
        (r["source"], r["dest"], r["event"])
        for r in p.audit_log(member_id)
        if r["kind"] == "transition" and r["decision"] == "accepted"
    ]


def error_of(fn: Any, *args: Any, **kw: Any) -> str:
    with pytest.raises(MfaError) as info:
        fn(*args, **kw)
    return info.value.error_type


def integrity(data_dir: Path) -> str:
    with sqlite3.connect(data_dir / "mfa.db") as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def test_killed_after_the_code_was_sent_the_flow_finishes_after_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    held = run_until(data, "sms_sent")
    org_id, member_id = held["organization_id"], held["member_id"]

    p = reopen(data)
    try:
        assert integrity(data) == "ok"
        before = moves(p, member_id)
        assert ("start", "primary_done", "primary_authenticated") in before
        assert ("primary_done", "enrolling_sms", "method_chosen") in before
        assert ("enrolling_sms", "enrolling_sms", "sms_sent") in before
        done = p.otps_sms_authenticate(
            org_id, member_id, held["code"], intermediate_session_token=held["ist"]
        )
        assert done.member_authenticated and done.session is not None
        assert [f.type for f in done.session.authentication_factors] == ["password", "otp"]
        member = p.members_get(org_id, member_id)
        assert member.mfa_enrolled
        assert member.mfa_phone_number == PHONE and member.mfa_phone_number_verified
        after = moves(p, member_id)
        assert after[: len(before)] == before  # the history from before the crash is kept
        assert ("enrolling_sms", "authenticated", "factor_verified") in after
        # The code and the IST were spent once, across the restart too.
        again = error_of(
            p.otps_sms_authenticate,
            org_id,
            member_id,
            held["code"],
            intermediate_session_token=held["ist"],
        )
        assert again == "intermediate_session_not_found"
        assert p.sessions_authenticate(done.session_token)[0].member_id == member_id
    finally:
        p.repo.store.close()


def test_killed_after_the_session_was_issued_the_session_survives(tmp_path: Path) -> None:
    data = tmp_path / "data"
    held = run_until(data, "session")
    org_id, member_id = held["organization_id"], held["member_id"]

    p = reopen(data)
    try:
        assert integrity(data) == "ok"
        session, fresh_jwt = p.sessions_authenticate(held["session_token"])
        assert session.member_id == member_id
        assert [f.type for f in session.authentication_factors] == ["password", "otp"]
        # The JWT signed by the dead process verifies: same signing key file, same JWKS.
        for token in (held["session_jwt"], fresh_jwt):
            by_jwt, _ = p.sessions_authenticate(session_jwt=token)
            assert by_jwt.member_session_id == session.member_session_id
        assert [s.member_session_id for s in p.sessions_get(org_id, member_id)] == [
            session.member_session_id
        ]
        member = p.members_get(org_id, member_id)
        assert member.mfa_enrolled and member.mfa_phone_number == PHONE
        # What the dead process consumed stays consumed.
        err = error_of(p.otps_sms_send, org_id, member_id, intermediate_session_token=held["ist"])
        assert err == "intermediate_session_not_found"
        ist = p.passwords_authenticate(org_id, EMAIL, PASSWORD).intermediate_session_token
        err = error_of(
            p.otps_sms_authenticate, org_id, member_id, held["code"], intermediate_session_token=ist
        )
        assert err == "otp_code_not_found"
        assert ("enrolling_sms", "authenticated", "factor_verified") in moves(p, member_id)
    finally:
        p.repo.store.close()


def test_killed_at_a_random_moment_every_acknowledged_flow_is_kept(tmp_path: Path) -> None:
    """The child finishes flow after flow; it dies at a random instant, most likely in the
    middle of one (between the store writes of a request). Every flow it reported as done
    is intact, the one it was in leaves nothing usable behind, and the provider goes on."""
    data = tmp_path / "data"
    acked: list[dict[str, Any]] = []
    with child(data, "loop") as proc:
        assert proc.stdout is not None
        while len(acked) < 3:
            acked.append(json.loads(read_line(proc.stdout)))
        time.sleep(random.uniform(0.0, 0.2))
        kill(proc)
        # Lines the child wrote before it died; a line cut short by the kill is not an ack.
        *complete, _cut = proc.stdout.read().split("\n")
        acked += [json.loads(line) for line in complete]
    org_id, member_id = acked[0]["organization_id"], acked[0]["member_id"]

    p = reopen(data)
    try:
        assert integrity(data) == "ok"
        live = {s.member_session_id for s in p.sessions_get(org_id, member_id)}
        for record in acked:
            session, _ = p.sessions_authenticate(record["session_token"])
            assert session.member_session_id in live
            assert (
                error_of(
                    p.otps_sms_send, org_id, member_id, intermediate_session_token=record["ist"]
                )
                == "intermediate_session_not_found"
            )
        finished = [m for m in moves(p, member_id) if m[1] == "authenticated"]
        assert len(finished) >= len(acked) + 1  # the enrollment, then each acknowledged flow
        assert p.members_get(org_id, member_id).failed_attempts == 0
        # The provider carries on: a new login and challenge work on the same store.
        ist = p.passwords_authenticate(org_id, EMAIL, PASSWORD).intermediate_session_token
        code = crash_child.last_code(p)
        done = p.otps_sms_authenticate(org_id, member_id, code, intermediate_session_token=ist)
        assert done.member_authenticated
    finally:
        p.repo.store.close()
