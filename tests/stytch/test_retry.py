"""Retries: bounded, jittered, and only where a second try cannot spend or send twice."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mfa_fsm import Flow, Intent
from mfa_fsm_stytch import (
    NO_RETRY,
    ProviderUnavailable,
    RateLimited,
    RetryPolicy,
    StytchDriver,
)
from mfa_fsm_stytch._retry import Failure, classify, parse_retry_after
from mfa_fsm_stytch._wire import Call, Reply

from . import recorded as r
from .recorded import Script

UNAVAILABLE = (503, r.error_reply(503, "internal_server_error", n=8))
RATE_LIMITED = (429, r.error_reply(429, "too_many_requests", n=8))


def _driver(script: Script, sleeps: list[float], **kw: Any) -> StytchDriver:
    return r.driver(script, sleep=sleeps.append, random=lambda: 0.5, **kw)


def _challenged(script: Script, sleeps: list[float]) -> tuple[StytchDriver, Flow]:
    d = _driver(script, sleeps)
    return d, d.authenticate_password(r.ORG_ID, "ada@example.com", "pw").flow


def test_safe_call_is_retried_after_a_5xx_with_jittered_backoff() -> None:
    sleeps: list[float] = []
    script = Script().add(UNAVAILABLE, UNAVAILABLE, (200, r.session_reply()))
    with _driver(script, sleeps) as d:
        start = d.start_from_session(Intent.ENROLL, session_token=r.SESSION_TOKEN)
    assert start.flow.state == "primary_done"
    assert script.paths == ["/v1/b2b/sessions/authenticate"] * 3
    assert sleeps == [0.125, 0.25]  # random 0.5 x (0.25, 0.5)


def test_attempts_are_bounded() -> None:
    sleeps: list[float] = []
    script = Script().add(UNAVAILABLE, UNAVAILABLE, UNAVAILABLE)
    with _driver(script, sleeps) as d, pytest.raises(ProviderUnavailable) as caught:
        d.start_from_session(Intent.ENROLL, session_token=r.SESSION_TOKEN)
    assert len(script.requests) == 3 and len(sleeps) == 2
    assert caught.value.status_code == 503 and caught.value.request_id == r.request_id(8)


@pytest.mark.parametrize(
    "failure",
    [UNAVAILABLE, httpx.ReadTimeout("read timed out"), httpx.RemoteProtocolError("cut")],
    ids=["503", "read-timeout", "cut-connection"],
)
def test_code_authenticate_is_never_resent_when_stytch_may_have_seen_it(failure: r.Item) -> None:
    sleeps: list[float] = []
    script = Script().add((200, r.primary_reply(mbr=r.enrolled_sms(), initiated="sms_otp")))
    script.add(failure, (200, {"never": "used"}))
    d, flow = _challenged(script, sleeps)
    with d, pytest.raises(ProviderUnavailable) as caught:
        d.authenticate_sms(flow, "123456", intermediate_session_token=r.IST)
    assert script.paths.count("/v1/b2b/otps/sms/authenticate") == 1
    assert sleeps == []
    assert caught.value.flow == flow  # nothing happened to the flow


def test_sms_send_is_not_resent_after_a_read_timeout() -> None:
    sleeps: list[float] = []
    script = Script().add((200, r.primary_reply()), httpx.ReadTimeout("slow"))
    d, flow = _challenged(script, sleeps)
    with d, pytest.raises(ProviderUnavailable) as caught:
        d.send_sms(flow, phone_number=r.PHONE, intermediate_session_token=r.IST)
    assert script.paths.count("/v1/b2b/otps/sms/send") == 1
    assert caught.value.flow == flow


def test_a_request_that_never_left_is_sent_again_even_a_code() -> None:
    sleeps: list[float] = []
    ok = r.authenticated_reply("sms", r.enrolled_sms(), r.factor(*r.PASSWORD), r.factor(*r.OTP))
    script = Script().add(
        (200, r.primary_reply(mbr=r.enrolled_sms(), initiated="sms_otp")),
        httpx.ConnectError("refused"),
        (200, ok),
    )
    d, flow = _challenged(script, sleeps)
    with d:
        done = d.authenticate_sms(flow, "123456", intermediate_session_token=r.IST)
    assert done.member_authenticated
    assert script.paths.count("/v1/b2b/otps/sms/authenticate") == 2 and sleeps == [0.125]


def test_rate_limit_is_retried_honouring_retry_after_up_to_the_cap() -> None:
    sleeps: list[float] = []
    limited = httpx.Response(429, json=RATE_LIMITED[1], headers={"Retry-After": "2"})
    slow = httpx.Response(429, json=RATE_LIMITED[1], headers={"Retry-After": "3600"})
    script = Script().add(
        (200, r.primary_reply()), lambda _: limited, lambda _: slow, (200, r.sent_reply())
    )
    d, flow = _challenged(script, sleeps)
    with d:
        sent = d.send_sms(flow, phone_number=r.PHONE, intermediate_session_token=r.IST)
    assert sent.code_sent
    assert sleeps == [2.0, 4.0]  # Retry-After, capped at max_delay


def test_rate_limit_that_persists_is_reported() -> None:
    script = Script().add(RATE_LIMITED, RATE_LIMITED, RATE_LIMITED)
    with _driver(script, []) as d, pytest.raises(RateLimited) as caught:
        d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
    assert caught.value.status_code == 429 and len(script.requests) == 3


def test_no_retry_policy_tries_once() -> None:
    script = Script().add(httpx.ConnectError("down"))
    with _driver(script, [], retry=NO_RETRY) as d, pytest.raises(ProviderUnavailable):
        d.start_from_session(Intent.ENROLL, session_token=r.SESSION_TOKEN)
    assert len(script.requests) == 1


def test_policy_rules() -> None:
    policy = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=3.0)
    code = Call("POST", "/v1/b2b/otps/sms/authenticate")
    safe = Call("POST", "/v1/b2b/sessions/authenticate", idempotent=True)
    assert not policy.may_retry(code, Failure.MAYBE_PROCESSED, 1)
    assert policy.may_retry(safe, Failure.MAYBE_PROCESSED, 3)
    assert not policy.may_retry(safe, Failure.MAYBE_PROCESSED, 4)
    assert policy.may_retry(code, Failure.NOT_SENT, 1)
    assert policy.may_retry(code, Failure.RATE_LIMITED, 1)
    assert not policy.may_retry(safe, Failure.FINAL, 1)
    assert [policy.delay(n, lambda: 1.0, None) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]
    assert policy.delay(1, lambda: 0.0, None) == 0.0
    assert classify(Reply(429, {"error_type": "user_lock_limit_reached"})) is Failure.FINAL
    assert classify(Reply(429, {})) is Failure.RATE_LIMITED
    assert classify(Reply(502, {})) is Failure.MAYBE_PROCESSED
    assert classify(Reply(404, {"error_type": "otp_code_not_found"})) is Failure.FINAL
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after("-3") is None
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
