"""Opening a flow: a primary authenticate reply, or a live session, becomes a start event.

Stytch may issue a session at once (MFA not needed) or an IST; the engine must agree.
"""

from __future__ import annotations

from mfa_fsm import (
    AuthenticationFactor,
    Flow,
    IssueSession,
    Method,
    PrimaryAuthenticated,
    SendSmsOtp,
    SessionPresented,
    State,
    StateError,
    Step,
    member_options,
    secondary_auth_initiated,
)

from . import _wire as wire
from ._checks import (
    NO_IST,
    SECOND_FACTOR_TYPES,
    ist_digest,
    session_of,
    session_problems,
)
from ._outcome import Outcome
from ._steps import (
    Op,
    SessionIntent,
    Steps,
    Track,
    log,
    new_flow_id,
)
from .errors import (
    MalformedResponse,
    ResponseRefused,
    refine,
)


class Openings(Steps):
    """Primary authenticate replies and sessions into the two start events."""

    # ------------------------------------------------------------ primary factors

    def primary(self, track: Track, call: wire.Call, flow_id: str | None) -> Op:
        """A primary authenticate (password, magic link, session exchange) opens a flow."""
        reply = yield call
        body = yield from self._parse_issued(wire.PrimaryReply, reply, None)
        session = body.member_session
        if body.member_authenticated:
            if session is None or not session.authentication_factors:
                yield from self._revoke(body.session_token)
                raise MalformedResponse(
                    "member_authenticated without a session", request_id=body.request_id
                )
            factors = [f.to_engine() for f in session.authentication_factors]
            primary = next((f for f in factors if f.type not in SECOND_FACTOR_TYPES), factors[0])
            ist_id = NO_IST
        else:
            if not body.intermediate_session_token:
                raise MalformedResponse("no intermediate_session_token", request_id=body.request_id)
            primary = _call_factor(call.name, self.clock())
            ist_id = ist_digest(body.intermediate_session_token)
        try:
            event = self._event(
                PrimaryAuthenticated,
                body.request_id,
                at=self.clock(),
                organization=body.organization.to_engine(),
                member=body.member.to_engine(),
                primary_factor=primary,
                ist_id=ist_id,
            )
        except MalformedResponse:
            yield from self._revoke(body.session_token)
            raise
        step = self._step(track, Flow(flow_id=flow_id or new_flow_id()), event, body.request_id)
        if body.member_authenticated:
            return (yield from self._primary_session(track, step, body))
        if not step.accepted:
            raise refine(step.error or StateError(), flow=None, request_id=body.request_id)
        if step.flow.state == State.AUTHENTICATED.value:
            raise ResponseRefused(
                "Stytch requires MFA where this flow's policy does not: their data disagree",
                request_id=body.request_id,
                flow=self._abort(track, step.flow, "provider disagrees"),
            )
        if step.flow.state == State.FAILED.value:
            raise refine(step.error or StateError(), flow=step.flow, request_id=body.request_id)
        first = step
        initiated = body.mfa_required.secondary_auth_initiated if body.mfa_required else None
        creds = {"intermediate_session_token": body.intermediate_session_token}
        if initiated == Method.SMS_OTP.value and not step.of(SendSmsOtp):
            log.warning(
                "Stytch sent an SMS code this flow does not use (request_id %s)", body.request_id
            )
        for effect in step.of(SendSmsOtp):
            if initiated == Method.SMS_OTP.value:
                step = self._sms_sent(track, step, body, effect.phone_number)
            else:
                step = yield from self._send_sms(track, step, effect, creds, new_number=False)
        return Outcome(
            flow=step.flow,
            request_id=body.request_id,
            intermediate_session_token=body.intermediate_session_token,
            member_options=member_options(step.flow),
            secondary_auth_initiated=secondary_auth_initiated(first),
            organization_slug=body.organization.organization_slug,
        )

    def _primary_session(self, track: Track, step: Step, body: wire.PrimaryReply) -> Op:
        """Stytch issued a session at once: only if the engine agrees MFA was not needed."""
        wanted = step.of(IssueSession)
        problems = (
            session_problems(step.flow, wanted[0], body.session_token, body.member_session, 0.0)
            if step.flow.state == State.AUTHENTICATED.value and wanted
            else ["Stytch issued a session without the second factor this flow requires"]
        )
        if problems:
            yield from self._revoke(body.session_token)
            flow = step.flow if step.flow.is_terminal else self._abort(track, step.flow, "refused")
            raise ResponseRefused("; ".join(problems), request_id=body.request_id, flow=flow)
        assert body.member_session is not None
        return Outcome(
            flow=step.flow,
            request_id=body.request_id,
            session_token=body.session_token,
            session_jwt=body.session_jwt,
            session=session_of(body.member_session),
            organization_slug=body.organization.organization_slug,
        )

    # ------------------------------------------------------------ from a session

    def from_session(
        self,
        track: Track,
        creds: dict[str, str],
        intent: SessionIntent,
        unenroll_method: Method | None,
        flow_id: str | None,
    ) -> Op:
        """`sessions.authenticate` turns a live session into `SessionPresented`.

        Nothing is sent: only a login sends the default method's code by itself
        (`secondary_auth_initiated`). From a session the caller picks the method
        (`send_sms`, `create_totp`, or a TOTP or recovery code answered at once).
        """
        reply = yield wire.sessions_authenticate(creds)
        body = self._parse(wire.SessionReply, reply, None)
        event = self._event(
            SessionPresented,
            body.request_id,
            at=self.clock(),
            organization=body.organization.to_engine(),
            member=body.member.to_engine(),
            session_id=body.member_session.member_session_id,
            session_factors=tuple(
                f.to_engine() for f in body.member_session.authentication_factors
            ),
            intent=intent,
            unenroll_method=unenroll_method,
        )
        step = self._step(track, Flow(flow_id=flow_id or new_flow_id()), event, body.request_id)
        if not step.accepted or step.flow.state == State.FAILED.value:
            raise refine(step.error or StateError(), flow=step.flow, request_id=body.request_id)
        return Outcome(
            flow=step.flow,
            request_id=body.request_id,
            member_options=member_options(step.flow),
            organization_slug=body.organization.organization_slug,
        )


_PRIMARY_FACTORS = {
    "magic_links.authenticate": ("magic_link", "email"),
    "passwords.authenticate": ("password", "knowledge"),
}


def _call_factor(name: str, at: float) -> AuthenticationFactor:
    kind, delivery = _PRIMARY_FACTORS.get(name, ("session_exchange", "exchange"))
    return AuthenticationFactor(type=kind, delivery_method=delivery, last_authenticated_at=at)
