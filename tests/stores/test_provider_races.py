"""Fifty processes, each with its own provider on one shared store, racing on one member.

The same three races run on every store several processes can share: SQLite, PostgreSQL,
Redis, and PostgreSQL with Redis for flow state (routed).

- One valid SMS code submitted by 50 logins at once: exactly one session. The code is spent
  by compare-and-set; a submission that comes after the winner finds no code and counts as
  a wrong one (so the member may end up locked), but never a second session.
- 50 wrong codes from 50 logins at once: every attempt gets an answer and is accounted for
  exactly once. Attempts are counted one compare-and-set each until the count reaches the
  threshold (10), which locks the member in that same write; the other 40 find the member
  locked and are refused uncounted. So: 9 `otp_code_not_found`, 41 `user_lock_limit_reached`,
  `failed_attempts == 10`, and exactly 10 failures in the audit log.
- 50 resends at once, one per login: exactly one code is live afterwards, and it works.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import bcrypt
import pytest

from mfa_fsm import MfaError
from mfa_fsm_local._driver import member_key
from mfa_fsm_local._jwt import SessionSigner
from mfa_fsm_local._ports import OutboxSender
from mfa_fsm_local._records import SmsCode

from . import backends, racers
from .backends import UrlFor

N = 50
PHONE = "+14155551234"
EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
LOCKED = "user_lock_limit_reached"
STORES: dict[str, UrlFor] = {
    "sqlite": backends.sqlite,
    "postgres": backends.postgres,
    "redis": backends.redis_store,
    "routed": backends.routed,
}


@pytest.fixture(params=sorted(STORES))
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with STORES[request.param](tmp_path, pool_min="0", pool_max="1") as found:
        yield found


class Member:
    """An SMS-enrolled member of an MFA-required organization, and `N` pending logins."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.signing_key = SessionSigner.generate().to_pem()
        self.provider = racers.provider_on(url, 1_700_000_000.0, self.signing_key)
        p = self.provider
        org = p.organizations_create("Acme", "acme", mfa_policy="REQUIRED_FOR_ALL")
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        self.org_id = org.organization_id
        self.member_id = p.passwords_migrate(self.org_id, EMAIL, hashed, "bcrypt").member_id
        ist = self.login()
        p.otps_sms_send(
            self.org_id, self.member_id, mfa_phone_number=PHONE, intermediate_session_token=ist
        )
        p.otps_sms_authenticate(
            self.org_id, self.member_id, self.codes()[-1], intermediate_session_token=ist
        )
        self.ists = [self.login() for _ in range(N)]  # each login sends a code

    def login(self) -> str:
        found = self.provider.passwords_authenticate(self.org_id, EMAIL, PASSWORD)
        return found.intermediate_session_token

    def codes(self) -> list[str]:
        outbox = OutboxSender(self.provider.repo.store)
        return [m.code for m in outbox.messages(kind="sms", to=PHONE) if m.code]

    def race(self, action: str, code: str = "") -> Counter[str]:
        """Fork `N` processes from the fork server, release them at once, count answers."""
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([racers.__name__])
        barrier, out = ctx.Barrier(N), ctx.Queue()
        now = self.provider.clock.now()
        job = racers.Job(
            self.url, action, self.org_id, self.member_id, "", code, now, self.signing_key
        )
        procs = [
            ctx.Process(target=racers.run, args=(replace(job, ist=ist), barrier, out))
            for ist in self.ists
        ]
        try:
            for proc in procs:
                proc.start()
            answers = Counter(out.get(timeout=120) for _ in procs)
            for proc in procs:
                proc.join(timeout=60)
                assert proc.exitcode == 0
        finally:
            for proc in procs:
                if proc.is_alive():
                    proc.kill()
                    proc.join()
        return answers

    def sessions(self) -> int:
        return len(self.provider.sessions_get(self.org_id, self.member_id))

    def close(self) -> None:
        self.provider.repo.store.close()


@pytest.fixture
def member(url: str) -> Iterator[Member]:
    found = Member(url)
    yield found
    found.close()


def test_one_valid_code_from_fifty_processes_makes_exactly_one_session(member: Member) -> None:
    before = member.sessions()
    answers = member.race("authenticate", member.codes()[-1])
    assert answers["won"] == 1, answers
    assert set(answers) <= {"won", "otp_code_not_found", LOCKED}, answers
    assert member.sessions() == before + 1
    m = member.provider.members_get(member.org_id, member.member_id)
    assert m.failed_attempts <= 10


def test_fifty_wrong_codes_from_fifty_processes_count_exactly_to_the_lock(member: Member) -> None:
    live = member.codes()[-1]
    wrong = "000000" if live != "000000" else "111111"
    answers = member.race("authenticate", wrong)
    assert answers == {"otp_code_not_found": 9, LOCKED: N - 9}, answers
    m = member.provider.members_get(member.org_id, member.member_id)
    assert m.failed_attempts == 10
    assert m.is_locked(member.provider.clock.now())
    rejected = [
        (r["dest"], r["detail"])
        for r in member.provider.audit_log(member.member_id)
        if r.get("event") == "factor_rejected"
    ]
    assert Counter(rejected) == {("challenged", ""): 9, ("failed", LOCKED): 1}, rejected
    with pytest.raises(MfaError) as refused:  # the right code no longer helps
        member.provider.otps_sms_authenticate(
            member.org_id, member.member_id, live, intermediate_session_token=member.ists[0]
        )
    assert refused.value.error_type == LOCKED


def test_fifty_resends_at_once_leave_exactly_one_valid_code(member: Member) -> None:
    sent_before = len(member.codes())
    answers = member.race("send")
    assert answers == {"sent": N}, answers
    fresh = member.codes()[sent_before:]
    assert len(fresh) == N
    p = member.provider
    stored = p.repo.get("sms_codes", member_key(member.org_id, member.member_id), SmsCode)
    assert stored is not None
    live = [c for c in fresh if p.keyring.matches(c, stored.code_hash, context=member.member_id)]
    assert len(live) == 1
    stale = next(c for c in fresh if c != live[0])
    with pytest.raises(MfaError) as refused:
        p.otps_sms_authenticate(
            member.org_id, member.member_id, stale, intermediate_session_token=member.ists[0]
        )
    assert refused.value.error_type == "otp_code_not_found"
    done = p.otps_sms_authenticate(
        member.org_id, member.member_id, live[0], intermediate_session_token=member.ists[1]
    )
    assert done.member_authenticated
