"""The public surface: a small `__all__`, the base URL choices, session exchange."""

from __future__ import annotations

import pytest

import mfa_fsm_stytch
from mfa_fsm import IntermediateSessionExpired, MfaError, OtpCodeNotFound
from mfa_fsm_stytch import LIVE_URL, TEST_URL, StytchDriver, StytchError
from mfa_fsm_stytch._wire import base_url_for
from mfa_fsm_stytch.errors import from_reply

from . import recorded as r
from .recorded import Script


def test_public_names_are_exactly_these() -> None:
    assert sorted(mfa_fsm_stytch.__all__) == sorted(
        [
            "AsyncStytchDriver",
            "CredentialMismatch",
            "LIVE_URL",
            "MalformedResponse",
            "MemberSession",
            "NO_RETRY",
            "Outcome",
            "ProviderUnavailable",
            "RateLimited",
            "RecoveryCodeNotFound",
            "ResponseRefused",
            "RetryPolicy",
            "SessionNotFound",
            "StytchApiError",
            "StytchDriver",
            "StytchError",
            "TEST_URL",
            "TotpRegistration",
        ]
    )
    for name in mfa_fsm_stytch.__all__:
        assert getattr(mfa_fsm_stytch, name) is not None


def test_base_url_choices() -> None:
    assert base_url_for(None, "project-test-1") == TEST_URL
    assert base_url_for(None, "project-live-1") == LIVE_URL
    assert base_url_for("live", "project-test-1") == LIVE_URL
    assert base_url_for("http://127.0.0.1:8000/", "p") == "http://127.0.0.1:8000"
    with pytest.raises(ValueError):
        base_url_for("ftp://example.com", "p")
    with pytest.raises(ValueError):
        StytchDriver("", "secret")


def test_errors_are_both_driver_and_core_errors() -> None:
    wrong = from_reply(404, r.error_reply(404, "otp_code_not_found"))
    assert isinstance(wrong, OtpCodeNotFound) and isinstance(wrong, StytchError)
    assert isinstance(wrong, MfaError) and wrong.status_code == 404
    assert wrong.error_type == "otp_code_not_found"
    gone = from_reply(404, r.error_reply(404, "intermediate_session_not_found"))
    assert isinstance(gone, IntermediateSessionExpired)
    assert not isinstance(gone, OtpCodeNotFound)
    unknown = from_reply(502, {})
    assert unknown.error_type == "provider_unavailable" and unknown.status_code == 502


def test_session_exchange_opens_a_flow_for_the_other_organization() -> None:
    script = Script().add((200, r.primary_reply(mbr=r.enrolled_totp())))
    with r.driver(script) as d:
        first = d.exchange_session(r.ORG_ID, session_jwt=r.SESSION_JWT, flow_id="flow-mine")
    assert first.flow.flow_id == "flow-mine" and first.flow.state == "challenged"
    assert script.paths == ["/v1/b2b/sessions/exchange"]
    assert script.body() == {"organization_id": r.ORG_ID, "session_jwt": r.SESSION_JWT}
