"""The seeds' flows through the local provider, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest

from mfa_fsm import MfaError
from mfa_fsm_local import Settings

from .conftest import Kit

PHONE = "+14155551234"
PASSWORD = "correct horse battery staple"


def setup(kit: Kit, **org: object) -> tuple[str, str]:
    p = kit.provider
    o = p.organizations_create("Acme", "acme", **org)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    m = p.passwords_migrate(o.organization_id, "ada@example.com", hashed, "bcrypt")
    return o.organization_id, m.member_id


def test_required_enrollment_by_sms_then_returning_login(kit: Kit) -> None:
    p = kit.provider
    org_id, member_id = setup(kit, mfa_policy="REQUIRED_FOR_ALL")
    first = p.passwords_authenticate(org_id, "ada@example.com", PASSWORD)
    assert not first.member_authenticated
    assert first.mfa_required == {"member_options": None, "secondary_auth_initiated": None}
    ist = first.intermediate_session_token
    p.otps_sms_send(
        org_id,
        member_id,
        mfa_phone_number="(415) 555-1234".replace("(", "+1 ("),
        intermediate_session_token=ist,
    )
    done = p.otps_sms_authenticate(
        org_id, member_id, kit.last_code(PHONE), intermediate_session_token=ist
    )
    assert done.member_authenticated and done.session is not None
    assert [f.type for f in done.session.authentication_factors] == ["password", "otp"]
    member = p.members_get(org_id, member_id)
    assert (
        member.mfa_enrolled
        and member.mfa_phone_number == PHONE
        and member.mfa_phone_number_verified
    )
    with pytest.raises(MfaError) as reuse:
        p.otps_sms_send(org_id, member_id, intermediate_session_token=ist)
    assert reuse.value.error_type == "intermediate_session_not_found"

    kit.clock.advance(60)
    again = p.passwords_authenticate(org_id, "ada@example.com", PASSWORD)
    assert again.mfa_required == {
        "member_options": {"mfa_phone_number": PHONE, "totp_registration_id": ""},
        "secondary_auth_initiated": "sms_otp",
    }
    code = kit.last_code(PHONE)
    with pytest.raises(MfaError) as wrong:
        p.otps_sms_authenticate(
            org_id,
            member_id,
            "000000" if code != "000000" else "111111",
            intermediate_session_token=again.intermediate_session_token,
        )
    assert wrong.value.error_type == "otp_code_not_found"
    ok = p.otps_sms_authenticate(
        org_id, member_id, code, intermediate_session_token=again.intermediate_session_token
    )
    assert ok.member_authenticated


def test_required_enrollment_by_totp_and_recovery_code(kit: Kit) -> None:
    p = kit.provider
    org_id, member_id = setup(
        kit, mfa_policy="REQUIRED_FOR_ALL", mfa_methods="RESTRICTED", allowed_mfa_methods=["totp"]
    )
    first = p.passwords_authenticate(org_id, "ada@example.com", PASSWORD)
    ist = first.intermediate_session_token
    with pytest.raises(MfaError) as restricted:
        p.otps_sms_send(org_id, member_id, mfa_phone_number=PHONE, intermediate_session_token=ist)
    assert restricted.value.error_type == "operation_restricted_by_organization_mfa_methods"
    created = p.totps_create(org_id, member_id, intermediate_session_token=ist)
    assert created.totp is not None
    secret = created.totp["secret"]
    assert created.totp["qr_code"].startswith("data:image/png;base64,")
    assert len(created.totp["recovery_codes"]) == 10
    code = p.totp.code_at(secret, kit.clock.now())
    done = p.totps_authenticate(org_id, member_id, code, intermediate_session_token=ist)
    assert done.member_authenticated
    assert (
        p.members_get(org_id, member_id).totp_registration_id
        == created.totp["totp_registration_id"]
    )

    again = p.passwords_authenticate(org_id, "ada@example.com", PASSWORD)
    result, left = p.recovery_codes_recover(
        org_id,
        member_id,
        created.totp["recovery_codes"][0],
        intermediate_session_token=again.intermediate_session_token,
    )
    assert result.member_authenticated and left == 9
    assert p.recovery_codes_get(org_id, member_id) == 9


def test_optional_policy_gives_session_at_once(kit: Kit) -> None:
    p = kit.provider
    org_id, member_id = setup(kit)
    result = p.passwords_authenticate(org_id, "ada@example.com", PASSWORD)
    assert result.member_authenticated and result.session_token
    assert p.sessions_authenticate(result.session_token)[0].member_id == member_id


def test_optional_enrollment_from_session_rotates_token(kit: Kit) -> None:
    p = kit.provider
    org_id, member_id = setup(kit)
    login = p.passwords_authenticate(org_id, "ada@example.com", PASSWORD)
    p.otps_sms_send(org_id, member_id, mfa_phone_number=PHONE, session_token=login.session_token)
    done = p.otps_sms_authenticate(
        org_id,
        member_id,
        kit.last_code(PHONE),
        session_token=login.session_token,
        set_mfa_enrollment="enroll",
    )
    assert done.session_token != login.session_token
    assert p.members_get(org_id, member_id).mfa_enrolled
    with pytest.raises(MfaError):
        p.sessions_authenticate(login.session_token)
    assert [
        f.type for f in p.sessions_authenticate(done.session_token)[0].authentication_factors
    ] == [
        "password",
        "otp",
    ]


def test_magic_link_primary(kit: Kit) -> None:
    p = kit.provider
    o = p.organizations_create("Beta", "beta", mfa_policy="REQUIRED_FOR_ALL")
    p.magic_links_email_login_or_signup(o.organization_id, "bob@example.com")
    result = p.magic_links_authenticate(kit.last_token("bob@example.com"))
    assert not result.member_authenticated and result.intermediate_session_token
    with pytest.raises(MfaError) as used:
        p.magic_links_authenticate(kit.last_token("bob@example.com"))
    assert used.value.error_type == "magic_link_not_found"


def test_audit_log_has_transitions_and_no_secrets(kit: Kit) -> None:
    p = kit.provider
    org_id, member_id = setup(kit, mfa_policy="REQUIRED_FOR_ALL")
    first = p.passwords_authenticate(org_id, "ada@example.com", PASSWORD)
    ist = first.intermediate_session_token
    p.otps_sms_send(org_id, member_id, mfa_phone_number=PHONE, intermediate_session_token=ist)
    code = kit.last_code(PHONE)
    done = p.otps_sms_authenticate(org_id, member_id, code, intermediate_session_token=ist)
    log = p.audit_log(member_id)
    moves = [
        (r["source"], r["dest"])
        for r in log
        if r["kind"] == "transition" and r["decision"] == "accepted"
    ]
    assert ("start", "primary_done") in moves and ("enrolling_sms", "authenticated") in moves
    text = str(log)
    for secret in (code, ist, done.session_token, PASSWORD):
        assert secret not in text


def test_session_jwt_verifies_locally_and_expires_in_five_minutes(kit: Kit) -> None:
    p = kit.provider
    org_id, member_id = setup(kit)
    result = p.passwords_authenticate(org_id, "ada@example.com", PASSWORD)
    session, _ = p.sessions_authenticate(session_jwt=result.session_jwt)
    assert session.member_id == member_id
    assert p.jwks()["keys"][0]["alg"] == "RS256"
    kit.clock.advance(301)
    with pytest.raises(MfaError) as old:
        p.sessions_authenticate(session_jwt=result.session_jwt)
    assert old.value.error_type == "session_not_found"
    _, fresh_jwt = p.sessions_authenticate(session_token=result.session_token)
    p.sessions_revoke(session.member_session_id)
    with pytest.raises(MfaError):
        p.sessions_authenticate(session_jwt=fresh_jwt)


def test_jwt_from_another_key_is_refused(kit: Kit) -> None:
    from mfa_fsm_local._jwt import SessionSigner

    p = kit.provider
    org_id, _ = setup(kit)
    result = p.passwords_authenticate(org_id, "ada@example.com", PASSWORD)
    forged = SessionSigner.generate(kid=p.signer.kid)
    assert result.session is not None
    org = p.organizations_get(org_id)
    p2_signer, p.signer = p.signer, forged
    token = p.session_jwt(result.session, org, result.member)
    p.signer = p2_signer
    with pytest.raises(MfaError):
        p.sessions_authenticate(session_jwt=token)


def test_totp_migrate_then_challenge(kit: Kit) -> None:
    p = kit.provider
    org_id, member_id = setup(kit, mfa_policy="REQUIRED_FOR_ALL")
    secret = p.totp.new_secret()
    p.totps_migrate(org_id, member_id, secret, ["abcd-efgh-ijkl"])
    login = p.passwords_authenticate(org_id, "ada@example.com", PASSWORD)
    assert login.mfa_required is not None
    assert login.mfa_required["member_options"]["totp_registration_id"]
    code = p.totp.code_at(secret, kit.clock.now())
    ok = p.totps_authenticate(
        org_id, member_id, code, intermediate_session_token=login.intermediate_session_token
    )
    assert ok.member_authenticated


def test_open_provider_makes_dev_keys_once(tmp_path: Path) -> None:
    from mfa_fsm_local.config import open_provider

    first = open_provider(tmp_path / "data", environ={})
    kid = first.signer.kid
    first.repo.store.close()
    second = open_provider(tmp_path / "data", environ={})
    assert second.signer.kid == kid
    second.repo.store.close()


def test_a_session_in_its_last_partial_second_is_over_not_a_crash(kit: Kit) -> None:
    """JWTs count whole seconds: at expires_at - 0.3 s the session answers not found (it
    used to reach the signer, which refused with a bare ValueError: a 500)."""
    p = kit.provider
    org_id, _ = setup(kit)
    kit.clock.t = float(int(kit.clock.t)) + 0.7  # a session ending at .7 of a second
    login = p.passwords_authenticate(org_id, "ada@example.com", PASSWORD)
    assert login.session is not None
    kit.clock.t = login.session.expires_at - 0.3
    assert int(kit.clock.t) == int(login.session.expires_at)
    with pytest.raises(MfaError) as info:
        p.sessions_authenticate(login.session_token)
    assert info.value.error_type == "session_not_found"


def test_a_rotated_signing_key_never_gets_a_jwt_signed_with_the_old_one(kit: Kit) -> None:
    from mfa_fsm_local._jwt import SessionSigner

    p = kit.provider
    org_id, _ = setup(kit)
    login = p.passwords_authenticate(org_id, "ada@example.com", PASSWORD)
    _, first = p.sessions_authenticate(login.session_token)
    p.signer = SessionSigner.generate(kid=p.signer.kid)  # same kid, new key
    _, second = p.sessions_authenticate(login.session_token)
    assert second != first
    p.sessions_authenticate(session_jwt=second)  # verifies under the new key


def test_jwt_reuse_and_touch_windows_are_bounded() -> None:
    with pytest.raises(ValueError):
        Settings(jwt_reuse_seconds=300)
    with pytest.raises(ValueError):
        Settings(session_touch_seconds=-1)
