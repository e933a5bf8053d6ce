"""One attack per protection; each test fails if its protection is removed."""

from __future__ import annotations

import threading
from pathlib import Path

import bcrypt
import pytest

from mfa_fsm import MfaError
from mfa_fsm_local.provider import AuthResult

from .conftest import Kit, make_kit

PHONE = "+14155551234"
OTHER_PHONE = "+442071838750"
PASSWORD = "correct horse battery staple"


def member(
    kit: Kit, email: str = "ada@example.com", slug: str = "acme", **org: object
) -> tuple[str, str]:
    p = kit.provider
    try:
        o = p.organizations_create("Acme", slug, **({"mfa_policy": "REQUIRED_FOR_ALL"} | org))
        org_id = o.organization_id
    except MfaError:
        org_id = p.organizations_get(slug).organization_id
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    return org_id, p.passwords_migrate(org_id, email, hashed, "bcrypt").member_id


def login(kit: Kit, org_id: str, email: str = "ada@example.com") -> AuthResult:
    return kit.provider.passwords_authenticate(org_id, email, PASSWORD)


def enroll_sms(kit: Kit, org_id: str, member_id: str) -> None:
    ist = login(kit, org_id).intermediate_session_token
    kit.provider.otps_sms_send(
        org_id, member_id, mfa_phone_number=PHONE, intermediate_session_token=ist
    )
    kit.provider.otps_sms_authenticate(
        org_id, member_id, kit.last_code(PHONE), intermediate_session_token=ist
    )


def error_of(fn: object, *args: object, **kw: object) -> str:
    with pytest.raises(MfaError) as info:
        fn(*args, **kw)  # type: ignore[operator]
    return info.value.error_type


def test_sms_code_replay_is_refused(kit: Kit) -> None:
    org_id, member_id = member(kit)
    enroll_sms(kit, org_id, member_id)
    code = kit.last_code(PHONE)
    ist = login(kit, org_id).intermediate_session_token  # sends a fresh code
    fresh = kit.last_code(PHONE)
    if fresh != code:
        err = error_of(
            kit.provider.otps_sms_authenticate,
            org_id,
            member_id,
            code,
            intermediate_session_token=ist,
        )
        assert err == "otp_code_not_found"
    kit.provider.otps_sms_authenticate(org_id, member_id, fresh, intermediate_session_token=ist)
    ist2 = login(kit, org_id).intermediate_session_token
    newest = kit.last_code(PHONE)
    if newest != fresh:
        err = error_of(
            kit.provider.otps_sms_authenticate,
            org_id,
            member_id,
            fresh,
            intermediate_session_token=ist2,
        )
        assert err == "otp_code_not_found"


def test_ten_threads_one_valid_code_exactly_one_session(tmp_path: Path) -> None:
    kit = make_kit(tmp_path / "race.db")
    org_id, member_id = member(kit)
    ist = login(kit, org_id).intermediate_session_token
    kit.provider.otps_sms_send(
        org_id, member_id, mfa_phone_number=PHONE, intermediate_session_token=ist
    )
    code = kit.last_code(PHONE)
    wins: list[str] = []
    errors: list[str] = []
    barrier = threading.Barrier(10)

    def submit() -> None:
        barrier.wait()
        try:
            r = kit.provider.otps_sms_authenticate(
                org_id, member_id, code, intermediate_session_token=ist
            )
            wins.append(r.session_token)
        except MfaError as exc:
            errors.append(exc.error_type)

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1, (wins, errors)
    assert len(errors) == 9
    assert len(kit.provider.sessions_get(org_id, member_id)) == 1
    kit.store.close()


def test_totp_code_replay_is_refused(kit: Kit) -> None:
    org_id, member_id = member(kit)
    ist = login(kit, org_id).intermediate_session_token
    created = kit.provider.totps_create(org_id, member_id, intermediate_session_token=ist)
    assert created.totp is not None
    secret = created.totp["secret"]
    code = kit.provider.totp.code_at(secret, kit.clock.now())
    kit.provider.totps_authenticate(org_id, member_id, code, intermediate_session_token=ist)
    ist2 = login(kit, org_id).intermediate_session_token
    err = error_of(
        kit.provider.totps_authenticate, org_id, member_id, code, intermediate_session_token=ist2
    )
    assert err == "invalid_totp_code"


def test_ist_dies_with_success(kit: Kit) -> None:
    org_id, member_id = member(kit)
    ist = login(kit, org_id).intermediate_session_token
    kit.provider.otps_sms_send(
        org_id, member_id, mfa_phone_number=PHONE, intermediate_session_token=ist
    )
    kit.provider.otps_sms_authenticate(
        org_id, member_id, kit.last_code(PHONE), intermediate_session_token=ist
    )
    err = error_of(kit.provider.otps_sms_send, org_id, member_id, intermediate_session_token=ist)
    assert err == "intermediate_session_not_found"


def test_ist_of_one_member_is_useless_for_another(kit: Kit) -> None:
    org_id, victim = member(kit, "victim@example.com")
    _, attacker = member(kit, "eve@example.com")
    other_org, stranger = member(kit, "x@example.com", slug="other")
    ist = login(kit, org_id, "eve@example.com").intermediate_session_token
    assert attacker
    err = error_of(
        kit.provider.otps_sms_send,
        org_id,
        victim,
        mfa_phone_number=PHONE,
        intermediate_session_token=ist,
    )
    assert err == "unauthorized_action"
    err = error_of(
        kit.provider.otps_sms_send,
        other_org,
        stranger,
        mfa_phone_number=PHONE,
        intermediate_session_token=ist,
    )
    assert err == "unauthorized_action"


def test_brute_force_over_many_ists_and_resends_locks_at_ten(kit: Kit) -> None:
    org_id, member_id = member(kit)
    enroll_sms(kit, org_id, member_id)
    tries = 0
    locked_at = None
    for _ in range(5):
        ist = login(kit, org_id).intermediate_session_token
        for _ in range(2):
            kit.provider.otps_sms_send(org_id, member_id, intermediate_session_token=ist)  # resend
            real = kit.last_code(PHONE)
            guess = "123456" if real != "123456" else "654321"
            tries += 1
            err = error_of(
                kit.provider.otps_sms_authenticate,
                org_id,
                member_id,
                guess,
                intermediate_session_token=ist,
            )
            if err == "user_lock_limit_reached":
                locked_at = tries
                break
        if locked_at:
            break
    assert locked_at == 10
    assert kit.provider.members_get(org_id, member_id).is_locked(kit.clock.now())
    err = error_of(login, kit, org_id)
    assert err == "user_lock_limit_reached"
    kit.clock.advance(3601)
    assert not login(kit, org_id).member_authenticated  # lock over: a fresh start


def test_enrolled_member_cannot_add_factor_with_ist_alone(kit: Kit) -> None:
    org_id, member_id = member(kit)
    enroll_sms(kit, org_id, member_id)
    ist = login(kit, org_id).intermediate_session_token
    err = error_of(
        kit.provider.otps_sms_send,
        org_id,
        member_id,
        mfa_phone_number=OTHER_PHONE,
        intermediate_session_token=ist,
    )
    assert err == "unauthorized_action"
    assert not kit.outbox.messages(kind="sms", to=OTHER_PHONE)
    err = error_of(kit.provider.totps_create, org_id, member_id, intermediate_session_token=ist)
    assert err == "unauthorized_action"


def test_no_downgrade_to_a_restricted_method(kit: Kit) -> None:
    org_id, member_id = member(kit, mfa_methods="RESTRICTED", allowed_mfa_methods=["totp"])
    ist = login(kit, org_id).intermediate_session_token
    err = error_of(
        kit.provider.otps_sms_send,
        org_id,
        member_id,
        mfa_phone_number=PHONE,
        intermediate_session_token=ist,
    )
    assert err == "operation_restricted_by_organization_mfa_methods"
    assert not kit.outbox.messages(kind="sms")


@pytest.mark.parametrize(
    "bad", ["", "      ", "１２３４５６", "1234567", "12345", " 123456", "12345a"]
)
def test_malformed_codes_are_refused(kit: Kit, bad: str) -> None:
    org_id, member_id = member(kit)
    ist = login(kit, org_id).intermediate_session_token
    kit.provider.otps_sms_send(
        org_id, member_id, mfa_phone_number=PHONE, intermediate_session_token=ist
    )
    real = kit.last_code(PHONE)
    candidate = bad.replace("123456", real) if "123456" in bad else bad
    if candidate == "１２３４５６":
        candidate = "".join(chr(ord(c) + 0xFEE0) for c in real)  # fullwidth form of the real code
    err = error_of(
        kit.provider.otps_sms_authenticate,
        org_id,
        member_id,
        candidate,
        intermediate_session_token=ist,
    )
    assert err == "otp_code_not_found"


def test_code_after_expiry_is_refused(kit: Kit) -> None:
    org_id, member_id = member(kit)
    ist = login(kit, org_id).intermediate_session_token
    kit.provider.otps_sms_send(
        org_id, member_id, mfa_phone_number=PHONE, intermediate_session_token=ist
    )
    kit.clock.advance(121)
    err = error_of(
        kit.provider.otps_sms_authenticate,
        org_id,
        member_id,
        kit.last_code(PHONE),
        intermediate_session_token=ist,
    )
    assert err == "otp_code_not_found"


def test_session_fixation_token_rotates_and_old_dies(kit: Kit) -> None:
    org_id, member_id = member(kit, mfa_policy="OPTIONAL")
    first = login(kit, org_id)
    kit.provider.otps_sms_send(
        org_id, member_id, mfa_phone_number=PHONE, session_token=first.session_token
    )
    after = kit.provider.otps_sms_authenticate(
        org_id, member_id, kit.last_code(PHONE), session_token=first.session_token
    )
    assert after.session_token != first.session_token
    assert error_of(kit.provider.sessions_authenticate, first.session_token) == "session_not_found"
    assert kit.provider.sessions_authenticate(after.session_token)[0].member_id == member_id


def test_exactly_one_credential(kit: Kit) -> None:
    org_id, member_id = member(kit)
    ist = login(kit, org_id).intermediate_session_token
    err = error_of(kit.provider.otps_sms_send, org_id, member_id, mfa_phone_number=PHONE)
    assert err == "invalid_credentials_combination"
    err = error_of(
        kit.provider.otps_sms_send,
        org_id,
        member_id,
        mfa_phone_number=PHONE,
        intermediate_session_token=ist,
        session_token="x",
    )
    assert err == "invalid_credentials_combination"


def test_a_login_from_before_a_restriction_cannot_use_the_restricted_method(kit: Kit) -> None:
    """An admin restricts the org to TOTP while a login is pending: its IST cannot still
    enroll (or be challenged by) SMS under the policy it started with."""
    p = kit.provider
    org_id, member_id = member(kit)
    ist = login(kit, org_id).intermediate_session_token
    p.organizations_update(org_id, mfa_methods="RESTRICTED", allowed_mfa_methods=["totp"])
    err = error_of(
        p.otps_sms_send, org_id, member_id, mfa_phone_number=PHONE, intermediate_session_token=ist
    )
    assert err == "unauthorized_action"
    assert kit.outbox.messages(kind="sms") == []
    fresh = login(kit, org_id)
    assert fresh.mfa_required is not None
    err = error_of(
        p.otps_sms_send,
        org_id,
        member_id,
        mfa_phone_number=PHONE,
        intermediate_session_token=fresh.intermediate_session_token,
    )
    assert err == "operation_restricted_by_organization_mfa_methods"  # judged by the new policy
    assert kit.outbox.messages(kind="sms") == []


def test_a_code_sent_before_a_restriction_cannot_finish_the_login(kit: Kit) -> None:
    """The SMS went out under the old policy; answering it after SMS is restricted away
    must not issue a session."""
    p = kit.provider
    org_id, member_id = member(kit)
    ist = login(kit, org_id).intermediate_session_token
    p.otps_sms_send(org_id, member_id, mfa_phone_number=PHONE, intermediate_session_token=ist)
    p.organizations_update(org_id, mfa_methods="RESTRICTED", allowed_mfa_methods=["totp"])
    err = error_of(
        p.otps_sms_authenticate,
        org_id,
        member_id,
        kit.last_code(PHONE),
        intermediate_session_token=ist,
    )
    assert err == "unauthorized_action"
    assert p.members_get(org_id, member_id).mfa_phone_number == ""
