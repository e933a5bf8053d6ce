"""`AsyncStytchDriver`: the same driver over `httpx.AsyncClient`; the logic is shared."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType

import httpx

from mfa_fsm import Engine, Flow, Intent, Method

from . import _wire as wire
from ._outcome import Outcome
from ._retry import RetryPolicy
from ._shell import (
    DEFAULT_RETRY,
    Attempts,
    Enrollment,
    Operations,
    OpFactory,
    Stepper,
    client_settings,
    default_random,
    make_planner,
)
from .errors import StytchError


class AsyncStytchDriver:
    """`StytchDriver`'s twin for asyncio; same arguments, same results, awaited."""

    def __init__(
        self,
        project_id: str,
        secret: str,
        *,
        base_url: str | None = None,
        engine: Engine | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | httpx.Timeout = 10.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random: Callable[[], float] = default_random,
        sms_code_seconds: float = 120.0,
        clock_skew: float = 60.0,
    ) -> None:
        settings = client_settings(project_id, secret, base_url, timeout)
        self._client = httpx.AsyncClient(transport=transport, **settings)  # type: ignore[arg-type]
        self._ops = Operations(make_planner(engine, clock, sms_code_seconds, clock_skew))
        self._retry, self._sleep, self._random = retry, sleep, random

    @property
    def engine(self) -> Engine:
        return self._ops.planner.engine

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> AsyncStytchDriver:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------ primary factors

    async def authenticate_password(
        self,
        organization_id: str,
        email_address: str,
        password: str,
        *,
        session_duration_minutes: int | None = None,
        flow_id: str | None = None,
    ) -> Outcome:
        """`passwords.authenticate`, then open the flow (or accept the session)."""
        return await self._run(
            self._ops.password(
                organization_id, email_address, password, session_duration_minutes, flow_id
            )
        )

    async def authenticate_magic_link(
        self,
        magic_links_token: str,
        *,
        session_duration_minutes: int | None = None,
        flow_id: str | None = None,
    ) -> Outcome:
        """`magic_links.authenticate`, then open the flow (or accept the session)."""
        return await self._run(
            self._ops.magic_link(magic_links_token, session_duration_minutes, flow_id)
        )

    async def exchange_session(
        self,
        organization_id: str,
        *,
        session_token: str | None = None,
        session_jwt: str | None = None,
        session_duration_minutes: int | None = None,
        flow_id: str | None = None,
    ) -> Outcome:
        """`sessions.exchange` into another organization, then open the flow."""
        return await self._run(
            self._ops.exchange(
                organization_id, session_token, session_jwt, session_duration_minutes, flow_id
            )
        )

    async def start_from_session(
        self,
        intent: Intent,
        *,
        session_token: str | None = None,
        session_jwt: str | None = None,
        unenroll_method: Method | None = None,
        flow_id: str | None = None,
    ) -> Outcome:
        """`sessions.authenticate`, then open an enroll / unenroll / add-method / step-up flow.

        Nothing is sent from a session: choose the method next (`send_sms` for a code).
        """
        return await self._run(
            self._ops.from_session(intent, session_token, session_jwt, unenroll_method, flow_id)
        )

    # ------------------------------------------------------------ second factors

    async def send_sms(
        self,
        flow: Flow,
        *,
        phone_number: str | None = None,
        intermediate_session_token: str | None = None,
        session_token: str | None = None,
        session_jwt: str | None = None,
    ) -> Outcome:
        """Choose SMS: to a new E.164 number (enrollment) or the member's own (challenge).

        A step-up or unenroll from a session sends its code here, once; at login the
        default method's code already went out, and a second call resends.
        """
        return await self._run(
            self._ops.send_sms(
                flow, phone_number, intermediate_session_token, session_token, session_jwt
            )
        )

    async def create_totp(
        self,
        flow: Flow,
        *,
        expiration_minutes: int | None = None,
        intermediate_session_token: str | None = None,
        session_token: str | None = None,
        session_jwt: str | None = None,
    ) -> Outcome:
        """Choose TOTP: creates a registration (secret, QR, recovery codes) when enrolling."""
        return await self._run(
            self._ops.create_totp(
                flow, expiration_minutes, intermediate_session_token, session_token, session_jwt
            )
        )

    async def authenticate_sms(
        self,
        flow: Flow,
        code: str,
        *,
        intermediate_session_token: str | None = None,
        session_token: str | None = None,
        session_jwt: str | None = None,
        set_mfa_enrollment: Enrollment = None,
        set_default_mfa: bool = False,
        session_duration_minutes: int | None = None,
    ) -> Outcome:
        """`otps.sms.authenticate`, once the engine agrees an SMS answer may finish the flow."""
        return await self._run(
            self._ops.answer(
                flow,
                "sms_otp",
                code,
                intermediate_session_token,
                session_token,
                session_jwt,
                set_mfa_enrollment,
                set_default_mfa,
                session_duration_minutes,
            )
        )

    async def authenticate_totp(
        self,
        flow: Flow,
        code: str,
        *,
        intermediate_session_token: str | None = None,
        session_token: str | None = None,
        session_jwt: str | None = None,
        set_mfa_enrollment: Enrollment = None,
        set_default_mfa: bool = False,
        session_duration_minutes: int | None = None,
    ) -> Outcome:
        """`totps.authenticate`, once the engine agrees a TOTP answer may finish the flow."""
        return await self._run(
            self._ops.answer(
                flow,
                "totp",
                code,
                intermediate_session_token,
                session_token,
                session_jwt,
                set_mfa_enrollment,
                set_default_mfa,
                session_duration_minutes,
            )
        )

    async def recover(
        self,
        flow: Flow,
        recovery_code: str,
        *,
        intermediate_session_token: str | None = None,
        session_token: str | None = None,
        session_jwt: str | None = None,
        session_duration_minutes: int | None = None,
    ) -> Outcome:
        """`recovery_codes.recover`, once the engine agrees a recovery code is acceptable."""
        return await self._run(
            self._ops.answer(
                flow,
                "recovery_code",
                recovery_code,
                intermediate_session_token,
                session_token,
                session_jwt,
                session_duration_minutes=session_duration_minutes,
            )
        )

    # ------------------------------------------------------------ I/O

    async def _run(self, make: OpFactory) -> Outcome:
        with Stepper(make) as run:
            step = run.start()
            while isinstance(step, wire.Call):
                try:
                    reply = await self._send(step)
                except StytchError as exc:
                    step = run.throw(exc)
                else:
                    step = run.send(reply)
            return step

    async def _send(self, call: wire.Call) -> wire.Reply:
        """One call, retried only as `RetryPolicy.may_retry` allows."""
        attempts = Attempts(call, self._retry, self._random)
        while True:
            try:
                response = await self._client.request(call.method, call.path, json=call.body)
            except httpx.TransportError as exc:
                await self._sleep(attempts.failed(exc))
                continue
            reply, wait = attempts.answered(response)
            if wait is None:
                return reply
            await self._sleep(wait)
