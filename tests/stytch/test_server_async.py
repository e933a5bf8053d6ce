"""Every seed flow, async driver against this project's server through ASGITransport."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pyotp
import pytest

from mfa_fsm import Intent, InvalidTotpCode, Method, MethodRestricted, OtpCodeNotFound, satisfies
from mfa_fsm_stytch import AsyncStytchDriver, StytchError

from .conftest import BASE_URL, PASSWORD, InProcess, new_phone

Scenario = Callable[[AsyncStytchDriver], Awaitable[None]]


def run(kit: InProcess, scenario: Scenario) -> None:
    async def main() -> None:
        async with AsyncStytchDriver(
            kit.project_id, kit.secret, base_url=BASE_URL, transport=kit.transport()
        ) as driver:
            await scenario(driver)

    asyncio.run(main())


def factor_types(outcome: object) -> list[str]:
    session = getattr(outcome, "session", None)
    assert session is not None
    return [f.type for f in session.authentication_factors]


def test_required_enrollment_by_sms_then_returning_login(in_process: InProcess) -> None:
    admin = in_process.admin
    org_id = admin.org(mfa_policy="REQUIRED_FOR_ALL")
    member_id, email = admin.member(org_id)
    phone = new_phone()

    async def scenario(d: AsyncStytchDriver) -> None:
        first = await d.authenticate_password(org_id, email, PASSWORD)
        assert first.needs_enrollment and first.member_options is None
        assert first.secondary_auth_initiated is None
        ist = first.intermediate_session_token
        sent = await d.send_sms(first.flow, phone_number=phone, intermediate_session_token=ist)
        assert sent.code_sent
        done = await d.authenticate_sms(
            sent.flow, admin.last_code(phone), intermediate_session_token=ist
        )
        assert done.member_authenticated and factor_types(done) == ["password", "otp"]
        member = admin.member_record(org_id, member_id)
        assert member["mfa_enrolled"] and member["mfa_phone_number"] == phone

        again = await d.authenticate_password(org_id, email, PASSWORD)
        assert again.secondary_auth_initiated == "sms_otp" and again.code_sent
        assert again.member_options == {"mfa_phone_number": phone, "totp_registration_id": ""}
        ist2 = again.intermediate_session_token
        code = admin.last_code(phone)
        with pytest.raises(OtpCodeNotFound) as wrong:
            await d.authenticate_sms(
                again.flow,
                "000000" if code != "000000" else "111111",
                intermediate_session_token=ist2,
            )
        assert isinstance(wrong.value, StytchError) and wrong.value.request_id
        flow = wrong.value.flow
        assert flow is not None and flow.failures == 1
        ok = await d.authenticate_sms(flow, code, intermediate_session_token=ist2)
        assert ok.member_authenticated

    run(in_process, scenario)


def test_required_enrollment_by_totp_then_totp_and_recovery_logins(in_process: InProcess) -> None:
    admin = in_process.admin
    org_id = admin.org(mfa_policy="REQUIRED_FOR_ALL")
    _, email = admin.member(org_id)

    async def scenario(d: AsyncStytchDriver) -> None:
        first = await d.authenticate_password(org_id, email, PASSWORD)
        ist = first.intermediate_session_token
        made = await d.create_totp(first.flow, intermediate_session_token=ist)
        assert made.totp is not None and len(made.totp.recovery_codes) == 10
        totp = pyotp.TOTP(made.totp.secret)
        done = await d.authenticate_totp(made.flow, totp.now(), intermediate_session_token=ist)
        assert done.member_authenticated and factor_types(done) == ["password", "totp"]

        again = await d.authenticate_password(org_id, email, PASSWORD)
        assert again.flow.state == "challenged" and again.offered_methods == (Method.TOTP,)
        with pytest.raises(InvalidTotpCode):  # the same time step is accepted only once
            await d.authenticate_totp(
                again.flow, totp.now(), intermediate_session_token=again.intermediate_session_token
            )
        later = totp.at(time.time() + 30)
        ok = await d.authenticate_totp(
            again.flow, later, intermediate_session_token=again.intermediate_session_token
        )
        assert ok.member_authenticated

        third = await d.authenticate_password(org_id, email, PASSWORD)
        recovered = await d.recover(
            third.flow,
            made.totp.recovery_codes[0],
            intermediate_session_token=third.intermediate_session_token,
        )
        assert recovered.member_authenticated and recovered.recovery_codes_remaining == 9
        assert factor_types(recovered) == ["password", "recovery_codes"]

    run(in_process, scenario)


def test_magic_link_primary_then_enrollment(in_process: InProcess) -> None:
    admin = in_process.admin
    org_id = admin.org(mfa_policy="REQUIRED_FOR_ALL")
    _, email = admin.member(org_id)
    admin.send_magic_link(org_id, email)
    phone = new_phone()

    async def scenario(d: AsyncStytchDriver) -> None:
        first = await d.authenticate_magic_link(admin.last_token(email))
        assert first.needs_enrollment and first.flow.primary[0].type == "magic_link"
        ist = first.intermediate_session_token
        sent = await d.send_sms(first.flow, phone_number=phone, intermediate_session_token=ist)
        done = await d.authenticate_sms(
            sent.flow, admin.last_code(phone), intermediate_session_token=ist
        )
        assert factor_types(done) == ["magic_link", "otp"]

    run(in_process, scenario)


def test_mfa_not_required_issues_the_session_at_once(in_process: InProcess) -> None:
    admin = in_process.admin
    org_id = admin.org(mfa_policy="OPTIONAL")
    _, email = admin.member(org_id)

    async def scenario(d: AsyncStytchDriver) -> None:
        done = await d.authenticate_password(org_id, email, PASSWORD)
        assert done.member_authenticated and factor_types(done) == ["password"]

    run(in_process, scenario)


def test_optional_enrollment_then_unenroll_from_sessions(in_process: InProcess) -> None:
    """Seeds 002 and 003: opt in with `set_mfa_enrollment=enroll`, later opt out."""
    admin = in_process.admin
    org_id = admin.org(mfa_policy="OPTIONAL")
    member_id, email = admin.member(org_id)
    phone = new_phone()

    async def scenario(d: AsyncStytchDriver) -> None:
        login = await d.authenticate_password(org_id, email, PASSWORD)
        jwt = login.session_jwt
        start = await d.start_from_session(Intent.ENROLL, session_jwt=jwt)
        sent = await d.send_sms(start.flow, phone_number=phone, session_jwt=jwt)
        enrolled = await d.authenticate_sms(
            sent.flow, admin.last_code(phone), session_jwt=jwt, set_mfa_enrollment="enroll"
        )
        assert enrolled.member_authenticated
        assert factor_types(enrolled) == ["password", "otp"]
        assert admin.member_record(org_id, member_id)["mfa_enrolled"]

        # Enrolled now: the next login needs the second factor (auto-sent SMS).
        again = await d.authenticate_password(org_id, email, PASSWORD)
        assert again.secondary_auth_initiated == "sms_otp"
        mfa = await d.authenticate_sms(
            again.flow,
            admin.last_code(phone),
            intermediate_session_token=again.intermediate_session_token,
        )
        token = mfa.session_token
        leave = await d.start_from_session(Intent.UNENROLL, session_token=token)
        assert not leave.code_sent  # only a login sends the default method's code by itself
        before = admin.sms_count(phone)
        asked = await d.send_sms(leave.flow, session_token=token)
        assert asked.code_sent and admin.sms_count(phone) == before + 1
        out = await d.authenticate_sms(
            asked.flow, admin.last_code(phone), session_token=token, set_mfa_enrollment="unenroll"
        )
        assert out.member_authenticated
        assert not admin.member_record(org_id, member_id)["mfa_enrolled"]

    run(in_process, scenario)


def test_step_up_adds_a_fresh_second_factor_to_a_password_session(in_process: InProcess) -> None:
    """Seeds 002 and 004: enroll from a session without `set_mfa_enrollment` (the factor is
    for occasional step-up, the member stays unenrolled), then step up with one SMS."""
    admin = in_process.admin
    org_id = admin.org(mfa_policy="OPTIONAL")
    member_id, email = admin.member(org_id)
    phone = new_phone()

    async def scenario(d: AsyncStytchDriver) -> None:
        login = await d.authenticate_password(org_id, email, PASSWORD)
        start = await d.start_from_session(Intent.ENROLL, session_token=login.session_token)
        sent = await d.send_sms(start.flow, phone_number=phone, session_token=login.session_token)
        added = await d.authenticate_sms(
            sent.flow, admin.last_code(phone), session_token=login.session_token
        )
        assert added.member_authenticated
        record = admin.member_record(org_id, member_id)
        assert record["mfa_phone_number"] == phone and not record["mfa_enrolled"]

        plain = await d.authenticate_password(org_id, email, PASSWORD)
        assert plain.member_authenticated and not satisfies(
            plain.session.authentication_factors if plain.session else (), ["otp"]
        )
        before = admin.sms_count(phone)
        up = await d.start_from_session(Intent.STEP_UP, session_token=plain.session_token)
        assert up.flow.state == "challenged" and not up.code_sent
        assert admin.sms_count(phone) == before  # opening the step-up sent nothing
        asked = await d.send_sms(up.flow, session_token=plain.session_token)
        assert asked.code_sent
        stepped = await d.authenticate_sms(
            asked.flow, admin.last_code(phone), session_token=plain.session_token
        )
        assert admin.sms_count(phone) == before + 1  # exactly one SMS for the step-up
        assert stepped.session is not None
        assert satisfies(stepped.session.authentication_factors, ["password", "otp"])

    run(in_process, scenario)


def test_restricted_organization_offers_and_accepts_only_totp(in_process: InProcess) -> None:
    admin = in_process.admin
    org_id = admin.org(
        mfa_policy="REQUIRED_FOR_ALL", mfa_methods="RESTRICTED", allowed_mfa_methods=["totp"]
    )
    _, email = admin.member(org_id)
    phone = new_phone()

    async def scenario(d: AsyncStytchDriver) -> None:
        first = await d.authenticate_password(org_id, email, PASSWORD)
        assert first.offered_methods == (Method.TOTP,)
        ist = first.intermediate_session_token
        with pytest.raises(MethodRestricted):
            await d.send_sms(first.flow, phone_number=phone, intermediate_session_token=ist)
        assert admin.sms_count(phone) == 0  # refused before any call: nothing was sent
        made = await d.create_totp(first.flow, intermediate_session_token=ist)
        assert made.totp is not None
        done = await d.authenticate_totp(
            made.flow, pyotp.TOTP(made.totp.secret).now(), intermediate_session_token=ist
        )
        assert done.member_authenticated

    run(in_process, scenario)


def test_unenrolling_one_method_removes_it_after_a_challenge(in_process: InProcess) -> None:
    """An unenroll flow names the method; the factor is deleted once the member proved
    another one, and `mfa_enrolled` stays since a factor remains."""
    admin = in_process.admin
    org_id = admin.org(mfa_policy="OPTIONAL")
    member_id, email = admin.member(org_id)
    phone = new_phone()

    async def scenario(d: AsyncStytchDriver) -> None:
        token = (await d.authenticate_password(org_id, email, PASSWORD)).session_token
        start = await d.start_from_session(Intent.ENROLL, session_token=token)
        sent = await d.send_sms(start.flow, phone_number=phone, session_token=token)
        sms = await d.authenticate_sms(
            sent.flow, admin.last_code(phone), session_token=token, set_mfa_enrollment="enroll"
        )
        token = sms.session_token
        add = await d.start_from_session(Intent.ADD_METHOD, session_token=token)
        made = await d.create_totp(add.flow, session_token=token)
        assert made.totp is not None
        both = await d.authenticate_totp(
            made.flow, pyotp.TOTP(made.totp.secret).now(), session_token=token
        )
        token = both.session_token
        record = admin.member_record(org_id, member_id)
        assert record["totp_registration_id"] and record["mfa_phone_number"] == phone

        leave = await d.start_from_session(
            Intent.UNENROLL, session_token=token, unenroll_method=Method.TOTP
        )
        assert not leave.code_sent  # the caller picks the method that proves the member
        before = admin.sms_count(phone)
        asked = await d.send_sms(leave.flow, session_token=token)  # SMS proves, TOTP goes
        assert asked.code_sent and admin.sms_count(phone) == before + 1
        done = await d.authenticate_sms(asked.flow, admin.last_code(phone), session_token=token)
        assert done.member_authenticated
        record = admin.member_record(org_id, member_id)
        assert not record["totp_registration_id"] and record["mfa_enrolled"]

    run(in_process, scenario)
