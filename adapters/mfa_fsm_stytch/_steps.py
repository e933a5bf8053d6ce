"""Shared by every operation: the steps that judge replies, credentials, constants.

A reply the engine refuses is never trusted: `_accept` raises, `_revoke` withdraws
the session such a reply carried.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import ValidationError

from mfa_fsm import (
    Aborted,
    Audit,
    Engine,
    Event,
    Flow,
    Intent,
    MfaError,
    SendSmsOtp,
    SmsSent,
    State,
    StateError,
    Step,
)

from . import _wire as wire
from ._checks import (
    NO_IST,
    Answer,
    ist_digest,
)
from ._outcome import Outcome
from .errors import (
    CredentialMismatch,
    MalformedResponse,
    ResponseRefused,
    StytchError,
    from_reply,
    refine,
)

Op = Generator[wire.Call, wire.Reply, Outcome]
Sub = Generator[wire.Call, wire.Reply, Any]
R = TypeVar("R", bound=wire._Wire)
E = TypeVar("E", bound=Event)
SessionIntent = Literal[Intent.ENROLL, Intent.UNENROLL, Intent.ADD_METHOD, Intent.STEP_UP]
WRONG_ANSWER = frozenset(
    {
        "otp_code_not_found",
        "invalid_totp_code",
        "totp_code_already_authenticated",
        "recovery_code_not_found",
    }
)
PATHS: dict[Answer, tuple[str, str, str]] = {
    "sms_otp": (wire.SMS_AUTHENTICATE, "otps.sms.authenticate", "code"),
    "totp": (wire.TOTP_AUTHENTICATE, "totps.authenticate", "code"),
    "recovery_code": (wire.RECOVER, "recovery_codes.recover", "recovery_code"),
}
log = logging.getLogger("mfa_fsm_stytch")


@dataclass
class Track:
    """The newest flow of an operation in progress, for errors raised by the I/O shell."""

    flow: Flow | None = None
    request_id: str = ""  # of the last Stytch reply the engine heard


def credentials(
    ist: str | None, session_token: str | None, session_jwt: str | None
) -> dict[str, str]:
    """Exactly one of the three, as Stytch requires."""
    given = {
        k: v
        for k, v in (
            ("intermediate_session_token", ist),
            ("session_token", session_token),
            ("session_jwt", session_jwt),
        )
        if v
    }
    if len(given) != 1:
        raise CredentialMismatch(
            "pass exactly one of intermediate_session_token, session_token, session_jwt"
        )
    return given


@dataclass
class Steps:
    """What every operation shares: the engine, the clock, and the steps that judge replies."""

    engine: Engine
    clock: Callable[[], float]
    sms_code_seconds: float = 120.0
    clock_skew: float = 60.0

    # ------------------------------------------------------------ shared steps

    def _send_sms(
        self,
        track: Track,
        step: Step,
        effect: SendSmsOtp,
        creds: dict[str, str],
        *,
        new_number: bool,
        on_error: Flow | None = None,
    ) -> Generator[wire.Call, wire.Reply, Step]:
        """Carry out `SendSmsOtp`: one call, never re-sent blindly (see the retry policy)."""
        keep = on_error or step.flow
        flow = step.flow
        phone = effect.phone_number if new_number else None
        try:
            reply = yield wire.otps_sms_send(subject_of(flow), phone, creds)
        except StytchError:
            track.flow = keep  # whether a code went out is unknown: ask again to resend
            raise
        body = self._parse(wire.SentReply, reply, keep)
        return self._sms_sent(track, step, body, effect.phone_number, on_error=keep)

    def _sms_sent(
        self,
        track: Track,
        step: Step,
        body: wire.SentReply | wire.PrimaryReply,
        asked: str,
        on_error: Flow | None = None,
    ) -> Step:
        now = self.clock()
        sent = self._event(
            SmsSent,
            body.request_id,
            at=now,
            organization_id=body.organization.organization_id,
            member_id=body.member.member_id,
            phone_number=body.member.mfa_phone_number or asked,
            code_expires_at=now + self.sms_code_seconds,
        )
        return self._accept(track, step.flow, sent, body.request_id, on_error=on_error or step.flow)

    def _accept(
        self,
        track: Track,
        flow: Flow,
        event: Event,
        request_id: str = "",
        on_error: Flow | None = None,
    ) -> Step:
        """Apply an event; a refusal is raised (as `ResponseRefused` if Stytch's reply made it)."""
        step = self._step(track, flow, event, request_id)
        if step.accepted and step.flow.state != State.FAILED.value:
            return step
        keep = step.flow if step.accepted else (on_error or flow)
        track.flow = keep
        error = step.error or StateError()
        if request_id and not step.accepted:
            raise ResponseRefused(
                f"the engine refused Stytch's reply: {error}", request_id=request_id, flow=keep
            )
        raise refine(error, flow=keep, request_id=request_id)

    def _step(self, track: Track, flow: Flow, event: Event, request_id: str) -> Step:
        step = self.engine.handle(flow, event)
        self._audit(step, request_id)
        if step.accepted:
            track.flow = step.flow
            track.request_id = request_id or track.request_id
        return step

    def _abort(self, track: Track, flow: Flow, reason: str) -> Flow:
        """End a flow whose provider answer was refused; it cannot go on."""
        if flow.is_terminal or flow.state == State.START.value:
            return flow
        at = max(self.clock(), flow.started_at)
        step = self._step(track, flow, Aborted(at=at, **subject_of(flow), reason=reason), "")
        return step.flow

    def _revoke(self, session_token: str) -> Sub:
        """Best effort: a refused session must not stay usable."""
        if not session_token:
            return
        try:
            reply = yield wire.sessions_revoke(session_token)
        except StytchError as exc:
            log.warning("could not revoke a refused session: %s", exc.error_type)
            return
        if reply.status_code >= 400:
            log.warning("could not revoke a refused session (request_id %s)", reply.request_id)

    def _bind(self, flow: Flow, creds: dict[str, str]) -> None:
        """The credential must be the one this flow began with (IST by digest)."""
        ist = creds.get("intermediate_session_token")
        if flow.ist_id is not None and flow.ist_id != NO_IST:
            if ist is None or ist_digest(ist) != flow.ist_id:
                raise CredentialMismatch(
                    "this flow needs the intermediate session token it began with", flow=flow
                )
        elif ist is not None:
            raise CredentialMismatch("this flow began from a session; pass that session", flow=flow)

    def _parse(self, model: type[R], reply: wire.Reply, flow: Flow | None) -> R:
        if reply.status_code >= 400:
            raise from_reply(reply.status_code, reply.body, flow)
        try:
            return wire.parse(model, reply)
        except wire.MalformedReply as exc:
            raise MalformedResponse(str(exc), request_id=reply.request_id, flow=flow) from None

    def _parse_issued(
        self, model: type[R], reply: wire.Reply, flow: Flow | None
    ) -> Generator[wire.Call, wire.Reply, R]:
        """Parse a reply that may carry a session; a malformed one has that session revoked."""
        try:
            return self._parse(model, reply, flow)
        except MalformedResponse:
            token = reply.body.get("session_token")
            if reply.status_code < 400 and isinstance(token, str):
                yield from self._revoke(token)
            raise

    def _event(self, cls: type[E], request_id: str, **fields: Any) -> E:
        """An event from Stytch's reply; a reply that makes no valid event is malformed."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise MalformedResponse(
                f"{cls.__name__}: {exc.error_count()} invalid fields", request_id=request_id
            ) from None

    def _caller_event(self, cls: type[E], flow: Flow, refusal: type[MfaError], **fields: Any) -> E:
        """An event from the caller's input; bad input is a 400, never a crash."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            raise refine(refusal(f"{where}: {problem['msg']}"), flow=flow) from None

    def _audit(self, step: Step, request_id: str) -> None:
        for effect in step.of(Audit):
            log.info(
                "flow %s %s -> %s on %s: %s %s (request_id %s)",
                effect.flow_id,
                effect.source,
                effect.dest,
                effect.event,
                effect.decision,
                effect.detail,
                request_id or "-",
            )


def new_flow_id() -> str:
    return f"flow-{uuid.uuid4()}"


def subject_of(flow: Flow) -> dict[str, str]:
    return {"organization_id": flow.organization_id, "member_id": flow.member_id}
