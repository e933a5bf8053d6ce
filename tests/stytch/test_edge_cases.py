"""Lockout, expiry, restricted methods, wrong codes and errors, from recorded replies."""

from __future__ import annotations

import logging

import pytest

from mfa_fsm import (
    FailReason,
    IntermediateSessionExpired,
    InvalidEvent,
    InvalidPhoneNumber,
    InvalidTotpCode,
    MemberLocked,
    MethodRestricted,
    MfaError,
    OtpCodeNotFound,
    UnauthorizedAction,
)
from mfa_fsm_stytch import CredentialMismatch, RecoveryCodeNotFound, StytchApiError, StytchError

from . import recorded as r
from .recorded import Clock, Script


def test_lockout_from_stytch_ends_the_flow_and_is_not_retried() -> None:
    script = Script().add(
        (200, r.primary_reply(mbr=r.enrolled_sms(), initiated="sms_otp")),
        (429, r.error_reply(429, "user_lock_limit_reached")),
    )
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        with pytest.raises(MemberLocked) as caught:
            d.authenticate_sms(first.flow, "000000", intermediate_session_token=r.IST)
    error = caught.value
    assert isinstance(error, StytchError) and error.status_code == 429
    assert error.request_id == r.request_id(9)
    assert r.kept(error).state == "failed" and r.kept(error).reason is FailReason.LOCKED
    assert len(script.requests) == 2  # a lockout 429 is never retried


def test_a_locked_member_is_refused_before_any_code_is_sent() -> None:
    locked = r.enrolled_sms(is_locked=True, lock_expires_at=r.iso(r.NOW + 3600))
    script = Script().add((200, r.primary_reply(mbr=locked, initiated="sms_otp")))
    with r.driver(script) as d, pytest.raises(MemberLocked) as caught:
        d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
    assert r.kept(caught.value).state == "failed"


def test_wrong_code_counts_in_the_flow_then_the_right_one_works() -> None:
    script = Script().add(
        (200, r.primary_reply(mbr=r.enrolled_sms(), initiated="sms_otp")),
        (404, r.error_reply(404, "otp_code_not_found")),
        (
            200,
            r.authenticated_reply("sms", r.enrolled_sms(), r.factor(*r.PASSWORD), r.factor(*r.OTP)),
        ),
    )
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        with pytest.raises(OtpCodeNotFound) as caught:
            d.authenticate_sms(first.flow, "000000", intermediate_session_token=r.IST)
        flow = r.kept(caught.value)
        assert flow.failures == 1 and flow.state == "challenged"
        done = d.authenticate_sms(flow, "123456", intermediate_session_token=r.IST)
    assert done.member_authenticated


def test_ten_wrong_codes_lock_the_flow_even_if_stytch_does_not_say_so() -> None:
    script = Script().add((200, r.primary_reply(mbr=r.enrolled_totp())))
    script.add(*[(401, r.error_reply(401, "invalid_totp_code")) for _ in range(10)])
    with r.driver(script) as d:
        flow = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw").flow
        for _ in range(9):
            with pytest.raises(InvalidTotpCode) as caught:
                d.authenticate_totp(flow, "000000", intermediate_session_token=r.IST)
            flow = r.kept(caught.value)
        with pytest.raises(MemberLocked) as locked:
            d.authenticate_totp(flow, "000000", intermediate_session_token=r.IST)
        assert r.kept(locked.value).state == "failed"
        calls = len(script.requests)
        with pytest.raises(MfaError):  # a finished flow makes no further calls
            d.authenticate_totp(r.kept(locked.value), "123456", intermediate_session_token=r.IST)
    assert len(script.requests) == calls == 11


def test_expired_ist_at_stytch_fails_the_flow() -> None:
    script = Script().add(
        (200, r.primary_reply(mbr=r.enrolled_totp())),
        (404, r.error_reply(404, "intermediate_session_not_found")),
    )
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        with pytest.raises(IntermediateSessionExpired) as caught:
            d.authenticate_totp(first.flow, "123456", intermediate_session_token=r.IST)
    assert r.kept(caught.value).state == "failed"
    assert caught.value.error_type == "intermediate_session_not_found"


def test_flow_past_its_ten_minutes_is_refused_without_calling_stytch() -> None:
    clock = Clock()
    script = Script().add((200, r.primary_reply(mbr=r.enrolled_totp())))
    with r.driver(script, clock) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        clock.now += 601
        with pytest.raises(IntermediateSessionExpired) as caught:
            d.authenticate_totp(first.flow, "123456", intermediate_session_token=r.IST)
    assert r.kept(caught.value).reason is FailReason.EXPIRED
    assert len(script.requests) == 1


def test_restricted_method_is_never_sent_to_stytch() -> None:
    totp_only = r.organization(mfa_methods="RESTRICTED", allowed_mfa_methods=["totp"])
    script = Script().add((200, r.primary_reply(org=totp_only)))
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        assert [m.value for m in first.offered_methods] == ["totp"]
        with pytest.raises(MethodRestricted) as caught:
            d.send_sms(first.flow, phone_number=r.PHONE, intermediate_session_token=r.IST)
    assert r.kept(caught.value) == first.flow
    assert len(script.requests) == 1


def test_member_whose_only_factor_is_restricted_fails_at_login() -> None:
    totp_only = r.organization(mfa_methods="RESTRICTED", allowed_mfa_methods=["totp"])
    script = Script().add((200, r.primary_reply(org=totp_only, mbr=r.enrolled_sms())))
    with r.driver(script) as d, pytest.raises(MethodRestricted) as caught:
        d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
    assert r.kept(caught.value).state == "failed"


def test_restriction_reported_by_stytch_keeps_the_flow_unchanged() -> None:
    script = Script().add(
        (200, r.primary_reply()),
        (403, r.error_reply(403, "operation_restricted_by_organization_mfa_methods")),
    )
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        with pytest.raises(MethodRestricted) as caught:
            d.create_totp(first.flow, intermediate_session_token=r.IST)
    assert r.kept(caught.value) == first.flow
    assert caught.value.status_code == 403


def test_wrong_recovery_code_counts() -> None:
    script = Script().add(
        (200, r.primary_reply(mbr=r.enrolled_totp())),
        (404, r.error_reply(404, "recovery_code_not_found")),
    )
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        with pytest.raises(RecoveryCodeNotFound) as caught:
            d.recover(first.flow, "aaaa-bbbb-cccc", intermediate_session_token=r.IST)
    assert r.kept(caught.value).failures == 1


def test_another_ist_than_the_flows_is_refused_locally() -> None:
    script = Script().add((200, r.primary_reply(mbr=r.enrolled_totp())))
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        with pytest.raises(CredentialMismatch):
            d.authenticate_totp(first.flow, "123456", intermediate_session_token="other-ist")
        with pytest.raises(CredentialMismatch):
            d.authenticate_totp(
                first.flow, "1", intermediate_session_token=r.IST, session_token="both"
            )
        with pytest.raises(CredentialMismatch):
            d.authenticate_totp(first.flow, "123456", session_token=r.SESSION_TOKEN)
    assert len(script.requests) == 1


def test_an_enrolled_member_cannot_add_a_phone_from_an_ist() -> None:
    script = Script().add((200, r.primary_reply(mbr=r.enrolled_totp())))
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        with pytest.raises(UnauthorizedAction):
            d.send_sms(first.flow, phone_number="+14155550000", intermediate_session_token=r.IST)
    assert len(script.requests) == 1


def test_unknown_stytch_errors_keep_their_type_status_and_request_id() -> None:
    script = Script().add((400, r.error_reply(400, "invalid_email", "Email format is invalid.")))
    with r.driver(script) as d, pytest.raises(StytchApiError) as caught:
        d.authenticate_password(r.ORG_ID, "not-an-email", "pw")
    error = caught.value
    assert (error.error_type, error.status_code) == ("invalid_email", 400)
    assert error.message == "Email format is invalid."
    assert error.to_dict()["request_id"] == r.request_id(9)
    assert r.request_id(9) in str(error)


def test_logs_carry_request_ids_and_never_codes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mfa_fsm_stytch")
    script = Script().add(
        (200, r.primary_reply(mbr=r.enrolled_sms(), initiated="sms_otp")),
        (
            200,
            r.authenticated_reply("sms", r.enrolled_sms(), r.factor(*r.PASSWORD), r.factor(*r.OTP)),
        ),
    )
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "hunter2-password")
        d.authenticate_sms(first.flow, "987654", intermediate_session_token=r.IST)
    text = caplog.text
    assert r.request_id(1) in text and r.request_id(5) in text
    assert "challenged -> authenticated" in text
    for secret in ("987654", "hunter2-password", r.IST, r.SESSION_TOKEN, r.SECRET):
        assert secret not in text


def test_bad_caller_input_is_a_clear_400_without_a_call() -> None:
    script = Script().add((200, r.primary_reply()))
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        for phone in ("+1" + "5" * 30, "0415 555 1234", ""):
            with pytest.raises(InvalidPhoneNumber) as caught:
                d.send_sms(first.flow, phone_number=phone, intermediate_session_token=r.IST)
            assert caught.value.status_code == 400 and r.kept(caught.value) == first.flow
        sent_flow = first.flow
        with pytest.raises(InvalidEvent) as bad:
            d.authenticate_totp(
                sent_flow,
                "123456",
                intermediate_session_token=r.IST,
                set_mfa_enrollment="maybe",  # type: ignore[arg-type]
            )
        assert bad.value.status_code == 400
    assert len(script.requests) == 1
