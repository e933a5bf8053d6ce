"""The sync driver against a real `mfa-fsm serve` process on a free loopback port."""

from __future__ import annotations

import time

import pyotp
import pytest

from mfa_fsm import Flow, Intent, MemberLocked, OtpCodeNotFound, satisfies
from mfa_fsm_stytch import RetryPolicy, StytchDriver, StytchError

from .conftest import PASSWORD, Live, new_phone


def _driver(live: Live) -> StytchDriver:
    return StytchDriver(live.project_id, live.secret, base_url=live.base_url)


def test_required_enrollment_by_sms_with_the_flow_kept_as_json(live: Live) -> None:
    admin = live.admin
    org_id = admin.org(mfa_policy="REQUIRED_FOR_ALL")
    _, email = admin.member(org_id)
    phone = new_phone()
    with _driver(live) as d:
        first = d.authenticate_password(org_id, email, PASSWORD)
        stored, ist = first.flow.to_json(), first.intermediate_session_token
        sent = d.send_sms(
            Flow.from_json(stored), phone_number=phone, intermediate_session_token=ist
        )
        stored = sent.flow.to_json()
        done = d.authenticate_sms(
            Flow.from_json(stored), admin.last_code(phone), intermediate_session_token=ist
        )
    assert done.member_authenticated and done.session is not None
    assert satisfies(done.session.authentication_factors, ["password", "otp"])


def test_returning_totp_login_and_step_up(live: Live) -> None:
    admin = live.admin
    org_id = admin.org(mfa_policy="REQUIRED_FOR_ALL")
    _, email = admin.member(org_id)
    with _driver(live) as d:
        first = d.authenticate_password(org_id, email, PASSWORD)
        ist = first.intermediate_session_token
        made = d.create_totp(first.flow, intermediate_session_token=ist)
        assert made.totp is not None
        totp = pyotp.TOTP(made.totp.secret)
        done = d.authenticate_totp(made.flow, totp.now(), intermediate_session_token=ist)
        up = d.start_from_session(Intent.STEP_UP, session_jwt=done.session_jwt)
        assert up.flow.state == "challenged"
        stepped = d.authenticate_totp(
            up.flow, totp.at(time.time() + 30), session_jwt=done.session_jwt
        )
    assert stepped.member_authenticated and stepped.session is not None
    assert stepped.session.member_session_id


def test_ten_wrong_codes_lock_the_member_at_the_server_and_in_the_flow(live: Live) -> None:
    admin = live.admin
    org_id = admin.org(mfa_policy="REQUIRED_FOR_ALL")
    _, email = admin.member(org_id)
    phone = new_phone()
    with _driver(live) as d:
        first = d.authenticate_password(org_id, email, PASSWORD)
        ist = first.intermediate_session_token
        flow = d.send_sms(first.flow, phone_number=phone, intermediate_session_token=ist).flow
        right = admin.last_code(phone)
        wrong = "000000" if right != "000000" else "111111"
        for _ in range(9):
            with pytest.raises(OtpCodeNotFound) as caught:
                d.authenticate_sms(flow, wrong, intermediate_session_token=ist)
            assert isinstance(caught.value, StytchError) and caught.value.flow is not None
            flow = caught.value.flow
        with pytest.raises(MemberLocked) as locked:
            d.authenticate_sms(flow, wrong, intermediate_session_token=ist)
    assert isinstance(locked.value, StytchError)
    assert locked.value.flow is not None and locked.value.flow.state == "failed"


def test_unreachable_server_is_reported_after_bounded_retries() -> None:
    sleeps: list[float] = []
    with (
        StytchDriver(
            "project-test-x",
            "secret-test-x",
            base_url="http://127.0.0.1:9",  # discard port: nothing listens
            retry=RetryPolicy(max_attempts=2, base_delay=0.01),
            sleep=sleeps.append,
        ) as d,
        pytest.raises(StytchError) as caught,
    ):
        d.start_from_session(Intent.STEP_UP, session_token="tok")
    assert caught.value.error_type == "provider_unavailable" and len(sleeps) == 1
