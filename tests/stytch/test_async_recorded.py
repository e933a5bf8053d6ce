"""The async driver runs the same logic: a seed flow, an error and a retry, awaited."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from mfa_fsm import Intent, MfaError
from mfa_fsm_stytch import AsyncStytchDriver

from . import recorded as r
from .recorded import Clock, Script


def _driver(script: Script, sleeps: list[float]) -> AsyncStytchDriver:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return AsyncStytchDriver(
        r.PROJECT_ID,
        r.SECRET,
        transport=httpx.MockTransport(script.handler),
        clock=Clock(),
        sleep=sleep,
        random=lambda: 1.0,
    )


def test_required_enrollment_by_totp_awaited() -> None:
    script = Script().add(
        (200, r.primary_reply()),
        (200, r.totp_created_reply()),
        (401, r.error_reply(401, "invalid_totp_code")),
        (
            200,
            r.authenticated_reply(
                "totp", r.enrolled_totp(), r.factor(*r.PASSWORD), r.factor(*r.TOTP)
            ),
        ),
    )

    async def run() -> None:
        async with _driver(script, []) as d:
            first = await d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
            made = await d.create_totp(first.flow, intermediate_session_token=r.IST)
            assert made.totp is not None
            with pytest.raises(MfaError) as caught:
                await d.authenticate_totp(made.flow, "000000", intermediate_session_token=r.IST)
            flow = r.kept(caught.value)
            assert flow.failures == 1
            done = await d.authenticate_totp(flow, "123456", intermediate_session_token=r.IST)
            assert done.member_authenticated

    asyncio.run(run())
    assert script.paths[-1] == "/v1/b2b/totp/authenticate"


def test_safe_call_retried_with_awaited_sleep() -> None:
    sleeps: list[float] = []
    script = Script().add((502, {}), httpx.ConnectTimeout("slow connect"), (200, r.session_reply()))

    async def run() -> None:
        async with _driver(script, sleeps) as d:
            start = await d.start_from_session(Intent.ENROLL, session_jwt=r.SESSION_JWT)
            assert start.flow.state == "primary_done"

    asyncio.run(run())
    assert len(script.requests) == 3 and sleeps == [0.25, 0.5]
