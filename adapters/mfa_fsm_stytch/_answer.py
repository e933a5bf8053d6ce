"""Choosing and answering a factor: engine effects become Stytch calls, replies events.

The engine judges an answer before Stytch sees it (a dry run on a copy), and again
after, on what Stytch replied; a code is never sent for an answer the flow cannot take.
"""

from __future__ import annotations

from typing import Any, Literal

from mfa_fsm import (
    Aborted,
    CreateTotpRegistration,
    Event,
    FactorRejected,
    FactorVerified,
    Flow,
    IntermediateSessionExpired,
    InvalidEvent,
    InvalidPhoneNumber,
    MemberLocked,
    Method,
    MethodChosen,
    RecoveryCodeVerified,
    RemoveFactor,
    SendSmsOtp,
    State,
    StateError,
    TotpRegistrationCreated,
    member_options,
)

from . import _wire as wire
from ._checks import (
    Answer,
    effect_problems,
    enrollment_request,
    expected_factor,
    proven_factor,
    session_of,
)
from ._outcome import Outcome, TotpRegistration
from ._steps import (
    PATHS,
    WRONG_ANSWER,
    Op,
    Steps,
    Track,
    subject_of,
)
from .errors import (
    MalformedResponse,
    ResponseRefused,
    StytchError,
    from_reply,
    refine,
)


class Answers(Steps):
    """`otps.sms.send`, `totps.create`, and the three code authenticates."""

    # ------------------------------------------------------------ starting a factor

    def send_sms(self, track: Track, flow: Flow, phone: str | None, creds: dict[str, str]) -> Op:
        """The member chose SMS (with a new number to enroll, or their own to be challenged)."""
        track.flow = flow
        self._bind(flow, creds)
        event = self._caller_event(
            MethodChosen,
            flow,
            InvalidPhoneNumber,
            at=self.clock(),
            **subject_of(flow),
            method=Method.SMS_OTP,
            phone_number=phone,
        )
        step = self._accept(track, flow, event)
        for effect in step.of(SendSmsOtp):
            new_number = flow.state != State.CHALLENGED.value
            step = yield from self._send_sms(
                track, step, effect, creds, new_number=new_number, on_error=flow
            )
        return Outcome(
            flow=step.flow, request_id=track.request_id, member_options=member_options(step.flow)
        )

    def create_totp(
        self, track: Track, flow: Flow, minutes: int | None, creds: dict[str, str]
    ) -> Op:
        """The member chose TOTP: create a registration to enroll, if the engine asks."""
        track.flow = flow
        self._bind(flow, creds)
        step = self._accept(
            track, flow, MethodChosen(at=self.clock(), **subject_of(flow), method=Method.TOTP)
        )
        if not step.of(CreateTotpRegistration):
            return Outcome(flow=step.flow, member_options=member_options(step.flow))
        try:
            reply = yield wire.totps_create(subject_of(flow), minutes, creds)
        except StytchError:
            track.flow = flow
            raise
        body = self._parse(wire.TotpCreatedReply, reply, flow)
        now = self.clock()
        created = self._event(
            TotpRegistrationCreated,
            body.request_id,
            at=now,
            organization_id=body.organization.organization_id,
            member_id=body.member.member_id,
            totp_registration_id=body.totp_registration_id,
            registration_expires_at=now + (minutes or 60) * 60,
        )
        step = self._accept(track, step.flow, created, body.request_id, on_error=flow)
        totp = TotpRegistration(
            totp_registration_id=body.totp_registration_id,
            secret=body.secret,
            qr_code=body.qr_code,
            recovery_codes=tuple(body.recovery_codes),
        )
        return Outcome(flow=step.flow, request_id=body.request_id, totp=totp)

    # ------------------------------------------------------------ answering

    def authenticate(
        self,
        track: Track,
        flow: Flow,
        answer: Answer,
        code: str,
        creds: dict[str, str],
        *,
        set_mfa_enrollment: Literal["enroll", "unenroll"] | None = None,
        set_default_mfa: bool = False,
        session_duration_minutes: int | None = None,
    ) -> Op:
        """Check with the engine first, then let Stytch judge the code, then check Stytch."""
        track.flow = flow
        self._bind(flow, creds)
        extra: dict[str, Any] = {"set_mfa_enrollment": set_mfa_enrollment}
        if answer != "recovery_code":
            extra["set_default_mfa"] = set_default_mfa
        cls, fields = self._answer(flow, answer, expected_factor(flow, answer), None, extra)
        dry = self.engine.handle(flow, self._caller_event(cls, flow, InvalidEvent, **fields))
        if not dry.accepted or dry.flow.state != State.AUTHENTICATED.value:
            keep = dry.flow if dry.accepted else flow
            track.flow = keep
            raise refine(
                dry.error or StateError("this flow cannot take that answer now"), flow=keep
            )
        enrollment, default = enrollment_request(dry.effects)
        path, name, field = PATHS[answer]
        call = wire.code_authenticate(
            path,
            name,
            subject_of(flow),
            creds,
            {field: code},
            set_mfa_enrollment=enrollment,
            set_default_mfa=default,
            session_duration_minutes=session_duration_minutes,
        )
        reply = yield call
        if reply.status_code >= 400:
            raise self._rejected(track, flow, answer, reply, creds)
        body = yield from self._parse_issued(wire.AuthenticatedReply, reply, flow)
        cls, fields = self._answer(flow, answer, proven_factor(body.member, answer), body, extra)
        try:
            event = self._event(cls, body.request_id, **fields)
        except MalformedResponse:
            yield from self._revoke(body.session_token)
            raise
        step = self.engine.handle(flow, event)
        problems = (
            effect_problems(flow, step.effects, body, self.clock_skew)
            if step.accepted and step.flow.state == State.AUTHENTICATED.value
            else [f"the engine refused it: {step.error}"]
        )
        if problems:
            yield from self._revoke(body.session_token)
            raise ResponseRefused(
                "; ".join(problems),
                request_id=body.request_id,
                flow=self._abort(track, flow, "response refused"),
            )
        self._audit(step, body.request_id)
        track.flow = step.flow
        for effect in step.of(RemoveFactor):
            removed = yield wire.delete_factor(subject_of(flow), effect.method)
            if removed.status_code >= 400:
                raise from_reply(removed.status_code, removed.body, step.flow)
        assert body.member_session is not None
        return Outcome(
            flow=step.flow,
            request_id=body.request_id,
            session_token=body.session_token,
            session_jwt=body.session_jwt,
            session=session_of(body.member_session),
            recovery_codes_remaining=body.recovery_codes_remaining,
            organization_slug=body.organization.organization_slug,
        )

    def _answer(
        self,
        flow: Flow,
        answer: Answer,
        factor_id: str,
        body: wire.AuthenticatedReply | None,
        extra: dict[str, Any],
    ) -> tuple[type[Event], dict[str, Any]]:
        """The event a right answer makes: from the flow (before), or Stytch's reply (after)."""
        subject = (
            subject_of(flow)
            if body is None
            else {
                "organization_id": body.organization.organization_id,
                "member_id": body.member.member_id,
            }
        )
        if answer == "recovery_code":
            left = body.recovery_codes_remaining if body else 0
            fields = {"recovery_codes_remaining": left or 0, **extra}
            return RecoveryCodeVerified, {"at": self.clock(), **fields, **subject}
        fields = {"method": Method(answer), "factor_id": factor_id, **extra}
        return FactorVerified, {"at": self.clock(), **fields, **subject}

    def _rejected(
        self,
        track: Track,
        flow: Flow,
        answer: Answer,
        reply: wire.Reply,
        creds: dict[str, str],
    ) -> StytchError:
        """Stytch refused the answer: a wrong code counts in the flow; a lockout ends it."""
        error = from_reply(reply.status_code, reply.body, flow)
        event: Event | None = None
        if error.error_type in WRONG_ANSWER or isinstance(error, MemberLocked):
            locked = isinstance(error, MemberLocked)
            event = FactorRejected(
                at=self.clock(),
                **subject_of(flow),
                method=Method(answer) if answer != "recovery_code" else answer,
                member_failures=self.engine.limits.max_failures if locked else None,
            )
        elif (
            isinstance(error, IntermediateSessionExpired) and "intermediate_session_token" in creds
        ):
            event = Aborted(
                at=self.clock(), **subject_of(flow), reason="intermediate session not found"
            )
        if event is not None:
            step = self.engine.handle(flow, event)
            if step.accepted:
                self._audit(step, error.request_id)
                error.flow = step.flow
                if isinstance(step.error, MemberLocked) and not isinstance(error, MemberLocked):
                    error = refine(step.error, flow=step.flow, request_id=error.request_id)
        track.flow = error.flow
        return error
