"""Replies that would move a flow illegally are refused, and their sessions revoked.

Each test feeds the driver a reply shaped exactly like Stytch's (checked against the
official SDK's models) but claiming something the engine forbids. Without the
driver's checks each would hand the caller a session.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfa_fsm import MethodRestricted
from mfa_fsm_stytch import MalformedResponse, ResponseRefused, StytchError

from . import recorded as r
from .recorded import Script

REVOKE = "/v1/b2b/sessions/revoke"


def _returning_sms(reply: dict[str, Any]) -> Script:
    return Script().add(
        (200, r.primary_reply(mbr=r.enrolled_sms(), initiated="sms_otp")),
        (200, reply),
        (200, {"status_code": 200, "request_id": r.request_id(7)}),
    )


def _refused(script: Script) -> ResponseRefused:
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        with pytest.raises(ResponseRefused) as caught:
            d.authenticate_sms(first.flow, "123456", intermediate_session_token=r.IST)
    return caught.value


def _assert_revoked(script: Script, token: str) -> None:
    assert script.paths[-1] == REVOKE
    assert script.body() == {"session_token": token}


def test_session_without_the_required_factor_at_primary_auth_is_refused() -> None:
    """REQUIRED_FOR_ALL, yet `member_authenticated` with a password-only session."""
    reply = r.primary_reply(
        mbr=r.enrolled_sms(),
        authenticated=True,
        session=r.member_session(r.factor(*r.PASSWORD)),
    )
    script = Script().add((200, reply), (200, {"status_code": 200, "request_id": "x"}))
    with r.driver(script) as d, pytest.raises(ResponseRefused) as caught:
        d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
    assert "without the second factor" in caught.value.message
    assert caught.value.flow is not None and caught.value.flow.state == "failed"
    assert caught.value.request_id == r.request_id(1)
    _assert_revoked(script, r.SESSION_TOKEN)


def test_mfa_session_lacking_the_otp_factor_is_refused() -> None:
    reply = r.authenticated_reply("sms", r.enrolled_sms(), r.factor(*r.PASSWORD))
    script = _returning_sms(reply)
    error = _refused(script)
    assert "lacks the otp/sms factor" in error.message
    assert error.flow is not None and error.flow.state == "failed"
    _assert_revoked(script, r.SESSION_TOKEN + "-new")


def test_mfa_session_with_another_factor_type_is_refused() -> None:
    """A TOTP factor does not stand in for the SMS code this flow verified."""
    reply = r.authenticated_reply("sms", r.enrolled_sms(), r.factor(*r.PASSWORD), r.factor(*r.TOTP))
    error = _refused(_returning_sms(reply))
    assert "lacks the otp/sms factor" in error.message


def test_stale_second_factor_from_an_old_session_is_refused() -> None:
    old = r.factor(*r.OTP, r.NOW - 3 * 3600)
    reply = r.authenticated_reply("sms", r.enrolled_sms(), r.factor(*r.PASSWORD), old)
    error = _refused(_returning_sms(reply))
    assert "verified in this flow" in error.message


def test_reply_about_another_member_is_refused() -> None:
    other = r.enrolled_sms(member_id="member-test-00000000-0000-0000-0000-000000000000")
    reply = r.authenticated_reply("sms", other, r.factor(*r.PASSWORD), r.factor(*r.OTP))
    error = _refused(_returning_sms(reply))
    assert "refused" in error.message


def test_session_issued_for_another_member_is_refused() -> None:
    reply = r.authenticated_reply("sms", r.enrolled_sms(), r.factor(*r.PASSWORD), r.factor(*r.OTP))
    reply["member_session"]["member_id"] = "member-test-ffffffff-0000-0000-0000-000000000000"
    error = _refused(_returning_sms(reply))
    assert "belongs to another member" in error.message


def test_enrollment_of_another_phone_than_the_code_was_sent_to_is_refused() -> None:
    """Proof of possession: the enrolled phone must be the one the code went to."""
    swapped = r.enrolled_sms(mfa_phone_number="+14155550000")
    script = Script().add(
        (200, r.primary_reply()),
        (200, r.sent_reply()),
        (200, r.authenticated_reply("sms", swapped, r.factor(*r.PASSWORD), r.factor(*r.OTP))),
        (200, {"status_code": 200, "request_id": "x"}),
    )
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        sent = d.send_sms(first.flow, phone_number=r.PHONE, intermediate_session_token=r.IST)
        with pytest.raises(ResponseRefused):
            d.authenticate_sms(sent.flow, "123456", intermediate_session_token=r.IST)
    _assert_revoked(script, r.SESSION_TOKEN + "-new")


def test_enrollment_reply_that_does_not_enroll_is_refused() -> None:
    not_enrolled = r.enrolled_sms(mfa_enrolled=False)
    script = Script().add(
        (200, r.primary_reply()),
        (200, r.sent_reply()),
        (200, r.authenticated_reply("sms", not_enrolled, r.factor(*r.PASSWORD), r.factor(*r.OTP))),
        (200, {"status_code": 200, "request_id": "x"}),
    )
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        sent = d.send_sms(first.flow, phone_number=r.PHONE, intermediate_session_token=r.IST)
        with pytest.raises(ResponseRefused) as caught:
            d.authenticate_sms(sent.flow, "123456", intermediate_session_token=r.IST)
    assert "mfa_enrolled is False" in caught.value.message


def test_malformed_success_reply_is_refused() -> None:
    body = r.primary_reply()
    del body["organization"]["mfa_policy"]
    script = Script().add((200, body))
    with r.driver(script) as d, pytest.raises(MalformedResponse) as caught:
        d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
    assert "organization.mfa_policy" in caught.value.message


def test_flow_json_holds_no_token_or_code() -> None:
    script = Script().add(
        (200, r.primary_reply(mbr=r.enrolled_sms(), initiated="sms_otp")),
        (404, r.error_reply(404, "otp_code_not_found")),
    )
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        with pytest.raises(StytchError) as caught:
            d.authenticate_sms(first.flow, "135790", intermediate_session_token=r.IST)
    assert caught.value.flow is not None
    for text in (first.flow.to_json(), caught.value.flow.to_json()):
        assert r.IST not in text and "135790" not in text and r.SESSION_TOKEN not in text


def test_silent_unenrollment_is_refused() -> None:
    """A challenge that leaves the member unenrolled, though nobody asked, is not trusted."""
    dropped = r.enrolled_sms(mfa_enrolled=False)
    reply = r.authenticated_reply("sms", dropped, r.factor(*r.PASSWORD), r.factor(*r.OTP))
    error = _refused(_returning_sms(reply))
    assert "unenrolled from MFA though nobody asked" in error.message


def test_unparseable_member_with_a_session_is_refused_and_revoked() -> None:
    odd = r.member(mfa_phone_number="+1" + "5" * 40)  # longer than any E.164 number
    reply = r.primary_reply(
        mbr=odd,
        org=r.organization(mfa_policy="OPTIONAL"),
        authenticated=True,
        session=r.member_session(r.factor(*r.PASSWORD)),
    )
    script = Script().add((200, reply), (200, {"status_code": 200, "request_id": "x"}))
    with r.driver(script) as d, pytest.raises(MalformedResponse):
        d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
    _assert_revoked(script, r.SESSION_TOKEN)


def test_code_stytch_sent_for_a_restricted_method_is_not_used(
    caplog: pytest.LogCaptureFixture,
) -> None:
    totp_only = r.organization(mfa_methods="RESTRICTED", allowed_mfa_methods=["totp"])
    both = r.enrolled_sms(totp_registration_id=r.TOTP_ID)
    script = Script().add((200, r.primary_reply(org=totp_only, mbr=both, initiated="sms_otp")))
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        assert not first.code_sent and [m.value for m in first.offered_methods] == ["totp"]
        with pytest.raises(MethodRestricted):
            d.authenticate_sms(first.flow, "123456", intermediate_session_token=r.IST)
    assert "does not use" in caplog.text
    assert len(script.requests) == 1


FACTOR_KINDS = st.sampled_from([r.PASSWORD, r.OTP, r.TOTP, r.RECOVERY, ("otp", "email")])


@given(
    factors=st.lists(
        st.tuples(FACTOR_KINDS, st.integers(min_value=-7200, max_value=120)), max_size=4
    )
)
def test_a_session_is_accepted_only_with_a_fresh_sms_factor(
    factors: list[tuple[tuple[str, str], int]],
) -> None:
    """Whatever factors a reply claims, the driver accepts it exactly when the SMS factor
    this flow verified is there and fresh (within the allowed clock skew)."""
    reply = r.authenticated_reply(
        "sms", r.enrolled_sms(), *[r.factor(*kind, r.NOW + age) for kind, age in factors]
    )
    script = _returning_sms(reply)
    fresh = any(kind == r.OTP and age >= -60 for kind, age in factors)
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        try:
            done = d.authenticate_sms(first.flow, "123456", intermediate_session_token=r.IST)
        except ResponseRefused:
            assert not fresh
            assert script.paths[-1] == REVOKE
        else:
            assert fresh and done.member_authenticated
