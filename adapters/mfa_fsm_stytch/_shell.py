"""What the sync and async drivers share: settings, op builders, response decoding, and
the stepping and retry bookkeeping around their I/O (the shells only send and sleep)."""

from __future__ import annotations

import logging
import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

import httpx

from mfa_fsm import Engine, Flow, Intent, Method

from . import _wire as wire
from ._ops import Op, Planner, SessionIntent, Track, credentials
from ._outcome import Outcome
from ._retry import Failure, RetryPolicy, classify, parse_retry_after
from .errors import ProviderUnavailable, StytchError

Enrollment = Literal["enroll", "unenroll"] | None
OpFactory = Callable[[Track], Op]
USER_AGENT = "mfa-fsm-stytch/0.1"
log = logging.getLogger("mfa_fsm_stytch")


def client_settings(
    project_id: str, secret: str, base_url: str | None, timeout: float | httpx.Timeout
) -> dict[str, object]:
    """Keyword arguments for `httpx.Client` / `httpx.AsyncClient`: Basic auth, base URL."""
    if not project_id or not secret:
        raise ValueError("project_id and secret are required")
    return {
        "base_url": wire.base_url_for(base_url, project_id),
        "auth": httpx.BasicAuth(project_id, secret),
        "timeout": timeout,
        "headers": {"User-Agent": USER_AGENT, "Content-Type": "application/json"},
    }


def decode(response: httpx.Response) -> wire.Reply:
    try:
        body = response.json()
    except ValueError:
        body = {}
    return wire.Reply(
        status_code=response.status_code,
        body=body if isinstance(body, dict) else {},
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


def transport_failure(exc: httpx.TransportError) -> Failure:
    """Whether the request can have reached Stytch before the transport failed."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Failure.NOT_SENT
    return Failure.MAYBE_PROCESSED


def unavailable(call: wire.Call, exc: httpx.TransportError) -> ProviderUnavailable:
    return ProviderUnavailable(f"{call.name or call.path}: {type(exc).__name__}")


def log_reply(call: wire.Call, reply: wire.Reply, attempt: int) -> None:
    log.info(
        "%s %s -> %s (request_id %s, attempt %d)",
        call.method,
        call.name or call.path,
        reply.status_code,
        reply.request_id or "-",
        attempt,
    )


class Stepper:
    """One operation's generator, stepped by a shell that makes each call in between.

    A step is the next call to make, or the `Outcome` once the operation is done. A
    `StytchError` leaving the operation carries the flow as it stood, unless it has one.
    """

    def __init__(self, make: OpFactory) -> None:
        self._track = Track()
        self._op: Op = make(self._track)

    def __enter__(self) -> Stepper:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._op.close()

    def start(self) -> wire.Call | Outcome:
        return self._step(lambda: next(self._op))

    def send(self, reply: wire.Reply) -> wire.Call | Outcome:
        return self._step(lambda: self._op.send(reply))

    def throw(self, exc: StytchError) -> wire.Call | Outcome:
        return self._step(lambda: self._op.throw(exc))

    def _step(self, advance: Callable[[], wire.Call]) -> wire.Call | Outcome:
        try:
            return advance()
        except StopIteration as stop:
            outcome: Outcome = stop.value
            return outcome
        except StytchError as exc:
            if exc.flow is None:
                exc.flow = self._track.flow
            raise


@dataclass
class Attempts:
    """One call's tries, as `RetryPolicy.may_retry` allows: each failed try gives the
    seconds to wait before the next, or ends the call."""

    call: wire.Call
    policy: RetryPolicy
    random: Callable[[], float]
    number: int = field(default=1, init=False)

    def failed(self, exc: httpx.TransportError) -> float:
        """The wait before trying again; raises `ProviderUnavailable` if there is none."""
        if not self.policy.may_retry(self.call, transport_failure(exc), self.number):
            raise unavailable(self.call, exc) from None
        return self._next(None)

    def answered(self, response: httpx.Response) -> tuple[wire.Reply, float | None]:
        """The decoded reply, and the wait before trying again (None: keep this reply)."""
        reply = decode(response)
        log_reply(self.call, reply, self.number)
        if not self.policy.may_retry(self.call, classify(reply), self.number):
            return reply, None
        return reply, self._next(reply.retry_after)

    def _next(self, retry_after: float | None) -> float:
        wait = self.policy.delay(self.number, self.random, retry_after)
        self.number += 1
        return wait


@dataclass
class Operations:
    """Public arguments to planner generators; both shells run what these build."""

    planner: Planner

    def password(
        self,
        organization_id: str,
        email_address: str,
        password: str,
        session_duration_minutes: int | None,
        flow_id: str | None,
    ) -> OpFactory:
        call = wire.passwords_authenticate(
            organization_id, email_address, password, session_duration_minutes
        )
        return lambda t: self.planner.primary(t, call, flow_id)

    def magic_link(
        self, token: str, session_duration_minutes: int | None, flow_id: str | None
    ) -> OpFactory:
        call = wire.magic_links_authenticate(token, session_duration_minutes)
        return lambda t: self.planner.primary(t, call, flow_id)

    def exchange(
        self,
        organization_id: str,
        session_token: str | None,
        session_jwt: str | None,
        session_duration_minutes: int | None,
        flow_id: str | None,
    ) -> OpFactory:
        creds = credentials(None, session_token, session_jwt)
        call = wire.sessions_exchange(organization_id, creds, session_duration_minutes)
        return lambda t: self.planner.primary(t, call, flow_id)

    def from_session(
        self,
        intent: Intent,
        session_token: str | None,
        session_jwt: str | None,
        unenroll_method: Method | None,
        flow_id: str | None,
    ) -> OpFactory:
        creds = credentials(None, session_token, session_jwt)
        if intent is Intent.LOGIN:
            raise ValueError("a session starts an enroll, unenroll, add_method or step_up flow")
        chosen: SessionIntent = intent
        return lambda t: self.planner.from_session(t, creds, chosen, unenroll_method, flow_id)

    def send_sms(
        self,
        flow: Flow,
        phone_number: str | None,
        ist: str | None,
        session_token: str | None,
        session_jwt: str | None,
    ) -> OpFactory:
        creds = credentials(ist, session_token, session_jwt)
        return lambda t: self.planner.send_sms(t, flow, phone_number, creds)

    def create_totp(
        self,
        flow: Flow,
        expiration_minutes: int | None,
        ist: str | None,
        session_token: str | None,
        session_jwt: str | None,
    ) -> OpFactory:
        if expiration_minutes is not None and not 5 <= expiration_minutes <= 1440:
            raise ValueError("expiration_minutes must be between 5 and 1440")
        creds = credentials(ist, session_token, session_jwt)
        return lambda t: self.planner.create_totp(t, flow, expiration_minutes, creds)

    def answer(
        self,
        flow: Flow,
        kind: Literal["sms_otp", "totp", "recovery_code"],
        code: str,
        ist: str | None,
        session_token: str | None,
        session_jwt: str | None,
        set_mfa_enrollment: Enrollment = None,
        set_default_mfa: bool = False,
        session_duration_minutes: int | None = None,
    ) -> OpFactory:
        creds = credentials(ist, session_token, session_jwt)
        return lambda t: self.planner.authenticate(
            t,
            flow,
            kind,
            code,
            creds,
            set_mfa_enrollment=set_mfa_enrollment,
            set_default_mfa=set_default_mfa,
            session_duration_minutes=session_duration_minutes,
        )


def make_planner(
    engine: Engine | None,
    clock: Callable[[], float] | None,
    sms_code_seconds: float,
    clock_skew: float,
) -> Planner:
    return Planner(engine or Engine(), clock or time.time, sms_code_seconds, clock_skew)


DEFAULT_RETRY = RetryPolicy()
default_random: Callable[[], float] = _random.random
