"""OPTIONAL organizations, enrollment and unenrollment from a session, step-up, magic
links, and sessions (authenticate, JWT verified locally through the JWKS, get, revoke)."""

from __future__ import annotations

import asyncio

import jwt
import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from stytch.core.response_base import StytchError

from .conftest import PASSWORD, Server, new_member, new_org, new_phone


def test_optional_login_is_a_session_and_its_jwt_verifies_locally(server: Server) -> None:
    client = server.client()
    org_id = new_org(client, mfa_policy="OPTIONAL")
    member_id, email = new_member(client, org_id)
    login = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    assert login.member_authenticated and login.intermediate_session_token == ""
    assert login.member_session is not None and login.mfa_required is None

    local = client.sessions.authenticate_jwt_local(session_jwt=login.session_jwt)
    assert local is not None
    assert local.member_id == member_id and local.organization_id == org_id
    assert local.member_session_id == login.member_session.member_session_id
    assert [f.type.value for f in local.authentication_factors] == ["password"]

    by_token = client.sessions.authenticate(session_token=login.session_token)
    assert by_token.member.member_id == member_id
    assert by_token.member_session.member_session_id == local.member_session_id
    by_jwt = client.sessions.authenticate(session_jwt=login.session_jwt)
    assert by_jwt.member_session.member_session_id == local.member_session_id
    fresh = client.sessions.authenticate_jwt(session_jwt=by_token.session_jwt)
    assert fresh.member_session.member_id == member_id

    second = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    client.sessions.revoke(session_token=second.session_token)
    with pytest.raises(StytchError):
        client.sessions.authenticate(session_jwt=second.session_jwt)

    listed = client.sessions.get(organization_id=org_id, member_id=member_id)
    assert [s.member_session_id for s in listed.member_sessions] == [local.member_session_id]
    client.sessions.revoke(member_session_id=local.member_session_id)
    with pytest.raises(StytchError) as revoked:
        client.sessions.authenticate(session_token=login.session_token)
    assert revoked.value.details.error_type == "session_not_found"
    assert client.sessions.get(organization_id=org_id, member_id=member_id).member_sessions == []


def test_a_forged_or_tampered_jwt_is_refused_locally_and_by_the_server(server: Server) -> None:
    client = server.client()
    org_id = new_org(client)
    _, email = new_member(client, org_id)
    login = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    header = jwt.get_unverified_header(login.session_jwt)
    claims = jwt.decode(login.session_jwt, options={"verify_signature": False})
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": header["kid"]})
    head, body, sig = login.session_jwt.split(".")
    tampered = ".".join([head, body, sig[:-4] + ("AAAA" if not sig.endswith("AAAA") else "BBBB")])
    for bad in (forged, tampered):
        assert client.sessions.authenticate_jwt_local(session_jwt=bad) is None
        with pytest.raises(StytchError) as refused:
            client.sessions.authenticate(session_jwt=bad)
        assert refused.value.details.error_type == "session_not_found"


def test_optional_enrollment_and_unenrollment_from_a_session(server: Server) -> None:
    client = server.client()
    org_id = new_org(client, mfa_policy="OPTIONAL")
    member_id, email = new_member(client, org_id)
    phone = new_phone()
    login = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    client.otps.sms.send(
        organization_id=org_id, member_id=member_id, mfa_phone_number=phone,
        session_token=login.session_token,
    )  # fmt: skip
    enrolled = client.otps.sms.authenticate(
        organization_id=org_id, member_id=member_id, code=server.last_code(phone),
        session_token=login.session_token, set_mfa_enrollment="enroll",
    )  # fmt: skip
    assert enrolled.member.mfa_enrolled and enrolled.member.mfa_phone_number_verified
    assert enrolled.session_token != login.session_token  # rotated after MFA
    with pytest.raises(StytchError):
        client.sessions.authenticate(session_token=login.session_token)

    # Enrolled now: the next login asks for the second factor.
    again = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    assert not again.member_authenticated
    assert again.mfa_required is not None
    assert again.mfa_required.secondary_auth_initiated == "sms_otp"
    mfa = client.otps.sms.authenticate(
        organization_id=org_id, member_id=member_id, code=server.last_code(phone),
        intermediate_session_token=again.intermediate_session_token,
    )  # fmt: skip

    # Unenroll from the MFA session: one more code, then the login is a session again.
    client.otps.sms.send(
        organization_id=org_id, member_id=member_id, session_token=mfa.session_token
    )
    off = client.otps.sms.authenticate(
        organization_id=org_id, member_id=member_id, code=server.last_code(phone),
        session_token=mfa.session_token, set_mfa_enrollment="unenroll",
    )  # fmt: skip
    assert not off.member.mfa_enrolled
    plain = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    assert plain.member_authenticated

    # And the factors themselves can be removed by the admin API.
    gone = client.organizations.members.delete_mfa_phone_number(
        organization_id=org_id, member_id=member_id
    )
    assert gone.member.mfa_phone_number == "" and not gone.member.mfa_phone_number_verified


def test_step_up_adds_a_second_factor_to_a_session(server: Server) -> None:
    client = server.client()
    org_id = new_org(client, mfa_policy="OPTIONAL")
    member_id, email = new_member(client, org_id)
    secret = pyotp.random_base32()
    client.totps.migrate(
        organization_id=org_id, member_id=member_id, secret=secret,
        recovery_codes=["abcd-efgh-ijkl"],
    )  # fmt: skip
    member = client.organizations.members.get(organization_id=org_id, member_id=member_id)
    assert member.member.totp_registration_id
    # Not enrolled in MFA (OPTIONAL): a session at once, with one factor.
    login = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    assert login.member_session is not None
    assert len(login.member_session.authentication_factors) == 1
    stepped = client.totps.authenticate(
        organization_id=org_id, member_id=member_id, code=pyotp.TOTP(secret).now(),
        session_token=login.session_token,
    )  # fmt: skip
    assert stepped.member_session is not None
    types = [f.type.value for f in stepped.member_session.authentication_factors]
    assert types == ["password", "totp"]
    local = client.sessions.authenticate_jwt_local(session_jwt=stepped.session_jwt)
    assert local is not None
    assert [f.type.value for f in local.authentication_factors] == ["password", "totp"]
    removed = client.organizations.members.delete_totp(organization_id=org_id, member_id=member_id)
    assert removed.member.totp_registration_id == ""


def test_magic_link_login_async(server: Server) -> None:
    async def flow() -> None:
        client = server.client()
        org_id = new_org(client, mfa_policy="REQUIRED_FOR_ALL")
        email = "grace@example.com"
        sent = await client.magic_links.email.login_or_signup_async(
            organization_id=org_id, email_address=email
        )
        assert sent.member_created and sent.member.email_address == email
        token = server.last_token(email)
        result = await client.magic_links.authenticate_async(magic_links_token=token)
        assert not result.member_authenticated and result.intermediate_session_token
        assert result.member.email_address_verified
        with pytest.raises(StytchError) as used:
            await client.magic_links.authenticate_async(magic_links_token=token)
        assert used.value.details.error_type == "magic_link_not_found"
        second = await client.magic_links.email.login_or_signup_async(
            organization_id=org_id, email_address=email
        )
        assert not second.member_created
        await client.close()

    asyncio.run(flow())


def test_organization_and_member_admin(server: Server) -> None:
    client = server.client()
    org_id = new_org(client)
    got = client.organizations.get(organization_id=org_id)
    assert got.organization.mfa_policy == "OPTIONAL"
    updated = client.organizations.update(
        organization_id=org_id, mfa_policy="REQUIRED_FOR_ALL", mfa_methods="RESTRICTED",
        allowed_mfa_methods=["sms_otp"],
    )  # fmt: skip
    assert updated.organization.mfa_methods == "RESTRICTED"
    assert updated.organization.allowed_mfa_methods == ["sms_otp"]
    created = client.organizations.members.create(
        organization_id=org_id, email_address="lin@example.com", name="Lin",
        roles=["admin"], is_breakglass=True,
    )  # fmt: skip
    assert created.member.is_breakglass and created.member.name == "Lin"
    assert [r.role_id for r in created.member.roles] == ["admin"]
    by_email = client.organizations.members.get(
        organization_id=org_id, email_address="lin@example.com"
    )
    assert by_email.member_id == created.member_id
    renamed = client.organizations.members.update(
        organization_id=org_id, member_id=created.member_id, name="Lin Y"
    )
    assert renamed.member.name == "Lin Y"


def test_optional_totp_enrollment_from_a_session_jwt(server: Server) -> None:
    """As the optional-enrollment guide does it: the session JWT, not the token."""
    client = server.client()
    org_id = new_org(client, mfa_policy="OPTIONAL")
    member_id, email = new_member(client, org_id)
    login = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    checked = client.sessions.authenticate_jwt(session_jwt=login.session_jwt)
    assert checked.member_session.member_id == member_id
    created = client.totps.create(
        organization_id=org_id, member_id=member_id, session_jwt=login.session_jwt
    )
    enrolled = client.totps.authenticate(
        organization_id=org_id, member_id=member_id, code=pyotp.TOTP(created.secret).now(),
        session_jwt=login.session_jwt, set_mfa_enrollment="enroll",
    )  # fmt: skip
    assert enrolled.member.mfa_enrolled
    assert enrolled.member.totp_registration_id == created.totp_registration_id
    local = client.sessions.authenticate_jwt_local(session_jwt=enrolled.session_jwt)
    assert local is not None
    assert [f.type.value for f in local.authentication_factors] == ["password", "totp"]
    again = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    assert not again.member_authenticated and again.mfa_required is not None
