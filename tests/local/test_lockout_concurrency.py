"""Lockout and one-time codes under real concurrency: threads racing on one SQLite file.

The lockout rule, made precise: a wrong second-factor code is *counted* when the member is
not locked at the moment its count is taken. Counting is one compare-and-set write on the
member, so every counted attempt raises `failed_attempts` by exactly one, and the attempt
that takes it to 10 locks the member (for an hour) in that same write. An attempt that
arrives once the member is locked is refused with `user_lock_limit_reached` and not
counted. So 20 simultaneous wrong codes, each from its own login, end with exactly 10
counted: 9 answered `otp_code_not_found`, the 10th and the 10 latecomers answered
`user_lock_limit_reached`, `failed_attempts == 10`, the member locked.

A code is spent by compare-and-set, so of many requests carrying the same valid code one
wins. A request whose code matched but lost that race is refused without being counted:
it is a double submission, not a guess (and counting it could lock out the member whose
own request just won).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import bcrypt

from mfa_fsm import MfaError
from mfa_fsm_local.provider import AuthResult

from .conftest import Kit, make_kit

PHONE = "+14155551234"
PASSWORD = "correct horse battery staple"
EMAIL = "ada@example.com"
LOCKED = "user_lock_limit_reached"


def member(kit: Kit, **org: object) -> tuple[str, str]:
    p = kit.provider
    o = p.organizations_create("Acme", "acme", **({"mfa_policy": "REQUIRED_FOR_ALL"} | org))
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    return o.organization_id, p.passwords_migrate(
        o.organization_id, EMAIL, hashed, "bcrypt"
    ).member_id


def login(kit: Kit, org_id: str) -> AuthResult:
    return kit.provider.passwords_authenticate(org_id, EMAIL, PASSWORD)


def race(n: int, attempt: Callable[[int], object]) -> tuple[list[object], list[str]]:
    """Run `attempt(i)` in `n` threads released at once; results and error types.

    Any exception other than `MfaError` is re-raised in the test's thread."""
    barrier = threading.Barrier(n)
    wins: list[object] = []
    errors: list[str] = []
    crashes: list[BaseException] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        try:
            result = attempt(i)
        except MfaError as exc:
            with lock:
                errors.append(exc.error_type)
        except BaseException as exc:  # a crash is a bug; report it below
            with lock:
                crashes.append(exc)
        else:
            with lock:
                wins.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if crashes:
        raise crashes[0]
    assert len(wins) + len(errors) == n
    return wins, errors


def enrolled_by_sms(kit: Kit) -> tuple[str, str]:
    org_id, member_id = member(kit)
    ist = login(kit, org_id).intermediate_session_token
    kit.provider.otps_sms_send(
        org_id, member_id, mfa_phone_number=PHONE, intermediate_session_token=ist
    )
    kit.provider.otps_sms_authenticate(
        org_id, member_id, kit.last_code(PHONE), intermediate_session_token=ist
    )
    return org_id, member_id


def not_the(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_twenty_wrong_codes_at_once_from_twenty_logins_count_exactly_to_ten(
    tmp_path: Path,
) -> None:
    kit = make_kit(tmp_path / "lockout.db")
    org_id, member_id = enrolled_by_sms(kit)
    ists = [login(kit, org_id).intermediate_session_token for _ in range(20)]  # each sends
    wrong = not_the(kit.last_code(PHONE))
    p = kit.provider
    assert p.members_get(org_id, member_id).failed_attempts == 0

    wins, errors = race(
        20,
        lambda i: p.otps_sms_authenticate(
            org_id, member_id, wrong, intermediate_session_token=ists[i]
        ),
    )

    assert not wins
    assert Counter(errors) == {"otp_code_not_found": 9, LOCKED: 11}, Counter(errors)
    m = p.members_get(org_id, member_id)
    assert m.failed_attempts == 10
    assert m.is_locked(kit.clock.now())
    assert m.lock_expires_at == kit.clock.now() + 3600
    # Locked means locked: the right code, a new login, more guesses are all refused.
    right = kit.last_code(PHONE)
    for ist in ists[:3]:
        try:
            p.otps_sms_authenticate(org_id, member_id, right, intermediate_session_token=ist)
        except MfaError as exc:
            assert exc.error_type == LOCKED
        else:
            raise AssertionError("a locked member authenticated")
    try:
        login(kit, org_id)
    except MfaError as exc:
        assert exc.error_type == LOCKED
    else:
        raise AssertionError("a locked member logged in")
    assert p.members_get(org_id, member_id).failed_attempts == 10
    # After the hour the member starts afresh.
    kit.clock.advance(3601)
    again = login(kit, org_id)
    assert not again.member_authenticated
    assert p.members_get(org_id, member_id).failed_attempts == 0
    kit.store.close()


def test_twenty_wrong_codes_at_once_on_one_ist_never_pass_ten(tmp_path: Path) -> None:
    """On one flow the engine also counts per flow (the larger of its own count and the
    store's), so racing rejections may lock the flow a little *earlier*; never later, and
    the member's count never passes 10. Each counted attempt still adds exactly one."""
    kit = make_kit(tmp_path / "lockout-one-ist.db")
    org_id, member_id = enrolled_by_sms(kit)
    ist = login(kit, org_id).intermediate_session_token
    wrong = not_the(kit.last_code(PHONE))
    p = kit.provider

    wins, errors = race(
        20,
        lambda i: p.otps_sms_authenticate(org_id, member_id, wrong, intermediate_session_token=ist),
    )

    assert not wins
    counts = Counter(errors)
    assert set(counts) <= {"otp_code_not_found", LOCKED}, counts
    m = p.members_get(org_id, member_id)
    assert m.is_locked(kit.clock.now())
    assert counts["otp_code_not_found"] <= 9
    # Every "not found" was counted, and so was the attempt that locked.
    assert counts["otp_code_not_found"] + 1 <= m.failed_attempts <= 10, (counts, m)
    kit.store.close()


def test_wrong_codes_where_no_code_was_asked_for_still_lock_at_ten(kit: Kit) -> None:
    """Codes sent before any method was chosen (flow in `primary_done`) are wrong and
    count; the 10th locks the member for an hour, not for ever."""
    org_id, member_id = member(kit)
    ist = login(kit, org_id).intermediate_session_token
    p = kit.provider
    answers = []
    for _ in range(12):
        try:
            p.otps_sms_authenticate(org_id, member_id, "123456", intermediate_session_token=ist)
        except MfaError as exc:
            answers.append(exc.error_type)
    assert answers == ["otp_code_not_found"] * 9 + [LOCKED] * 3
    m = p.members_get(org_id, member_id)
    assert m.failed_attempts == 10 and m.is_locked(kit.clock.now())
    kit.clock.advance(3601)
    assert not login(kit, org_id).member_authenticated  # the lock ran out: a fresh start
    assert p.members_get(org_id, member_id).failed_attempts == 0


def test_fifty_logins_racing_one_valid_sms_code_exactly_one_session(tmp_path: Path) -> None:
    """The 49 losers carried the right code: refused, none counted, nobody locked."""
    kit = make_kit(tmp_path / "sms-race.db")
    org_id, member_id = enrolled_by_sms(kit)
    ists = [login(kit, org_id).intermediate_session_token for _ in range(50)]  # each sends
    code = kit.last_code(PHONE)  # the live one; every flow waits for a code to PHONE
    p = kit.provider
    sessions_before = len(p.sessions_get(org_id, member_id))

    wins, errors = race(
        50,
        lambda i: p.otps_sms_authenticate(
            org_id, member_id, code, intermediate_session_token=ists[i]
        ),
    )

    assert len(wins) == 1, (len(wins), Counter(errors))
    assert set(errors) == {"otp_code_not_found"}, Counter(errors)
    assert len(p.sessions_get(org_id, member_id)) == sessions_before + 1
    m = p.members_get(org_id, member_id)
    assert m.failed_attempts == 0 and not m.is_locked(kit.clock.now())
    kit.store.close()


def test_fifty_submissions_of_one_valid_totp_code_exactly_one_succeeds(tmp_path: Path) -> None:
    kit = make_kit(tmp_path / "totp-race.db")
    org_id, member_id = member(kit)
    p = kit.provider
    ist = login(kit, org_id).intermediate_session_token
    created = p.totps_create(org_id, member_id, intermediate_session_token=ist)
    assert created.totp is not None
    secret = created.totp["secret"]
    p.totps_authenticate(
        org_id, member_id, p.totp.code_at(secret, kit.clock.now()), intermediate_session_token=ist
    )
    kit.clock.advance(30)  # a new time step, so a new code
    ists = [login(kit, org_id).intermediate_session_token for _ in range(50)]
    code = p.totp.code_at(secret, kit.clock.now())
    sessions_before = len(p.sessions_get(org_id, member_id))

    wins, errors = race(
        50,
        lambda i: p.totps_authenticate(org_id, member_id, code, intermediate_session_token=ists[i]),
    )

    assert len(wins) == 1, (len(wins), Counter(errors))
    assert set(errors) == {"invalid_totp_code"}, Counter(errors)
    assert len(p.sessions_get(org_id, member_id)) == sessions_before + 1
    m = p.members_get(org_id, member_id)
    assert m.failed_attempts == 0, "a right code that lost the race was counted as a guess"
    # The step is spent: the same code fails afterwards, whoever presents it.
    later = login(kit, org_id) if not m.is_locked(kit.clock.now()) else None
    if later is not None:
        try:
            p.totps_authenticate(
                org_id, member_id, code, intermediate_session_token=later.intermediate_session_token
            )
        except MfaError as exc:
            assert exc.error_type in ("invalid_totp_code", LOCKED)
        else:
            raise AssertionError("a spent TOTP step worked again")
    kit.store.close()


def test_fifty_submissions_of_one_valid_totp_code_on_one_ist_at_most_one_session(
    tmp_path: Path,
) -> None:
    """On one IST the losers' rejections race the winner on the same flow: still never
    two sessions, and the IST is consumed once."""
    kit = make_kit(tmp_path / "totp-race-one-ist.db")
    org_id, member_id = member(kit)
    p = kit.provider
    ist = login(kit, org_id).intermediate_session_token
    created = p.totps_create(org_id, member_id, intermediate_session_token=ist)
    assert created.totp is not None
    code = p.totp.code_at(created.totp["secret"], kit.clock.now())

    wins, errors = race(
        50,
        lambda i: p.totps_authenticate(org_id, member_id, code, intermediate_session_token=ist),
    )

    assert len(wins) <= 1, len(wins)
    allowed = {"invalid_totp_code", LOCKED, "intermediate_session_not_found", "totp_not_found"}
    assert set(errors) <= allowed, Counter(errors)
    assert len(p.sessions_get(org_id, member_id)) == len(wins)
    assert p.members_get(org_id, member_id).failed_attempts <= 10
    kit.store.close()
