"""Required MFA through the official SDK against a real server: enrollment by SMS and by
TOTP, returning logins with `secondary_auth_initiated`, the default method, recovery codes."""

from __future__ import annotations

import asyncio
import time

import pyotp
import pytest
from stytch.core.response_base import StytchError

from .conftest import PASSWORD, Server, new_member, new_org, new_phone


def test_required_enrollment_by_sms_then_returning_login(server: Server) -> None:
    client = server.client()
    org_id = new_org(client, mfa_policy="REQUIRED_FOR_ALL")
    member_id, email = new_member(client, org_id)
    phone = new_phone()

    first = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    assert not first.member_authenticated and first.intermediate_session_token
    assert first.session_token == "" and first.member_session is None
    assert first.mfa_required is not None
    assert first.mfa_required.member_options is None
    assert first.mfa_required.secondary_auth_initiated is None

    ist = first.intermediate_session_token
    client.otps.sms.send(
        organization_id=org_id, member_id=member_id, mfa_phone_number=phone,
        intermediate_session_token=ist,
    )  # fmt: skip
    done = client.otps.sms.authenticate(
        organization_id=org_id, member_id=member_id, code=server.last_code(phone),
        intermediate_session_token=ist,
    )  # fmt: skip
    assert done.member_session is not None and done.session_token and done.session_jwt
    factors = [(f.type, f.delivery_method) for f in done.member_session.authentication_factors]
    assert [(t.value, d.value) for t, d in factors] == [("password", "knowledge"), ("otp", "sms")]
    assert done.member.mfa_enrolled and done.member.mfa_phone_number == phone
    assert done.member.mfa_phone_number_verified

    with pytest.raises(StytchError) as reused:
        client.otps.sms.send(
            organization_id=org_id, member_id=member_id, intermediate_session_token=ist
        )
    assert reused.value.details.error_type == "intermediate_session_not_found"

    again = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    assert again.mfa_required is not None and again.mfa_required.member_options is not None
    assert again.mfa_required.member_options.mfa_phone_number == phone
    assert again.mfa_required.secondary_auth_initiated == "sms_otp"
    code = server.last_code(phone)
    with pytest.raises(StytchError) as wrong:
        client.otps.sms.authenticate(
            organization_id=org_id, member_id=member_id,
            code="000000" if code != "000000" else "111111",
            intermediate_session_token=again.intermediate_session_token,
        )  # fmt: skip
    assert wrong.value.details.error_type == "otp_code_not_found"
    assert wrong.value.details.status_code == 404
    ok = client.otps.sms.authenticate(
        organization_id=org_id, member_id=member_id, code=code,
        intermediate_session_token=again.intermediate_session_token,
    )  # fmt: skip
    assert ok.member_session is not None and ok.session_token != done.session_token


def test_required_enrollment_by_totp_async_then_recovery_codes(server: Server) -> None:
    async def flow() -> None:
        client = server.client()
        org_id = new_org(
            client, mfa_policy="REQUIRED_FOR_ALL", mfa_methods="RESTRICTED",
            allowed_mfa_methods=["totp"],
        )  # fmt: skip
        member_id, email = new_member(client, org_id)
        first = await client.passwords.authenticate_async(
            organization_id=org_id, email_address=email, password=PASSWORD
        )
        ist = first.intermediate_session_token
        with pytest.raises(StytchError) as restricted:
            await client.otps.sms.send_async(
                organization_id=org_id, member_id=member_id, mfa_phone_number=new_phone(),
                intermediate_session_token=ist,
            )  # fmt: skip
        assert (
            restricted.value.details.error_type
            == "operation_restricted_by_organization_mfa_methods"
        )
        created = await client.totps.create_async(
            organization_id=org_id, member_id=member_id, intermediate_session_token=ist
        )
        assert created.qr_code.startswith("data:image/png;base64,")
        assert len(created.recovery_codes) == 10 and created.totp_registration_id
        totp = pyotp.TOTP(created.secret)
        done = await client.totps.authenticate_async(
            organization_id=org_id, member_id=member_id, code=totp.now(),
            intermediate_session_token=ist,
        )  # fmt: skip
        assert done.member_session is not None
        assert done.member.totp_registration_id == created.totp_registration_id
        assert done.member_session.authentication_factors[-1].type.value == "totp"

        again = await client.passwords.authenticate_async(
            organization_id=org_id, email_address=email, password=PASSWORD
        )
        assert again.mfa_required is not None
        assert again.mfa_required.secondary_auth_initiated is None
        options = again.mfa_required.member_options
        assert options is not None
        assert options.totp_registration_id == created.totp_registration_id
        recovered = await client.recovery_codes.recover_async(
            organization_id=org_id, member_id=member_id,
            recovery_code=created.recovery_codes[0],
            intermediate_session_token=again.intermediate_session_token,
        )  # fmt: skip
        assert recovered.recovery_codes_remaining == 9 and recovered.session_token
        assert recovered.member_session is not None
        assert recovered.member_session.authentication_factors[-1].type.value == "recovery_codes"

        got = await client.recovery_codes.get_async(organization_id=org_id, member_id=member_id)
        assert len(got.recovery_codes) == 9
        rotated = await client.recovery_codes.rotate_async(
            organization_id=org_id, member_id=member_id
        )
        assert len(rotated.recovery_codes) == 10
        assert not set(rotated.recovery_codes) & set(created.recovery_codes)

        third = await client.passwords.authenticate_async(
            organization_id=org_id, email_address=email, password=PASSWORD
        )
        with pytest.raises(StytchError) as used:
            await client.recovery_codes.recover_async(
                organization_id=org_id, member_id=member_id,
                recovery_code=created.recovery_codes[1],
                intermediate_session_token=third.intermediate_session_token,
            )  # fmt: skip
        assert used.value.details.error_type == "recovery_code_not_found"
        next_step = totp.at(time.time() + 30)  # the current step was spent at enrollment
        ok = await client.totps.authenticate_async(
            organization_id=org_id, member_id=member_id, code=next_step,
            intermediate_session_token=third.intermediate_session_token,
        )  # fmt: skip
        assert ok.session_jwt
        await client.close()

    asyncio.run(flow())


def test_default_method_totp_means_no_sms_is_sent_at_login(server: Server) -> None:
    client = server.client()
    org_id = new_org(client, mfa_policy="REQUIRED_FOR_ALL")
    member_id, email = new_member(client, org_id)
    phone = new_phone()
    first = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    ist = first.intermediate_session_token
    client.otps.sms.send(
        organization_id=org_id, member_id=member_id, mfa_phone_number=phone,
        intermediate_session_token=ist,
    )  # fmt: skip
    enrolled = client.otps.sms.authenticate(
        organization_id=org_id, member_id=member_id, code=server.last_code(phone),
        intermediate_session_token=ist,
    )  # fmt: skip
    # Add TOTP from the MFA session and make it the default method.
    created = client.totps.create(
        organization_id=org_id, member_id=member_id, session_token=enrolled.session_token
    )
    added = client.totps.authenticate(
        organization_id=org_id, member_id=member_id, code=pyotp.TOTP(created.secret).now(),
        session_token=enrolled.session_token, set_default_mfa=True,
    )  # fmt: skip
    assert added.member.default_mfa_method == "totp"
    sent_before = len(server.outbox(kind="sms", to=phone))
    again = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    assert again.mfa_required is not None
    assert again.mfa_required.secondary_auth_initiated is None
    assert len(server.outbox(kind="sms", to=phone)) == sent_before

    # Switching the default back to SMS through members.update auto-sends at login again.
    updated = client.organizations.members.update(
        organization_id=org_id, member_id=member_id, default_mfa_method="sms_otp"
    )
    assert updated.member.default_mfa_method == "sms_otp"
    third = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    assert third.mfa_required is not None
    assert third.mfa_required.secondary_auth_initiated == "sms_otp"
    assert len(server.outbox(kind="sms", to=phone)) == sent_before + 1
