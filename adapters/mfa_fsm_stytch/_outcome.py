"""What each driver call returns: the flow to keep, and what Stytch handed out."""

from __future__ import annotations

from dataclasses import dataclass, field

from mfa_fsm import AuthenticationFactor, Flow, Method, State, offered_methods

ENROLLING = frozenset(
    {State.PRIMARY_DONE.value, State.ENROLLING_SMS.value, State.ENROLLING_TOTP.value}
)


@dataclass(frozen=True)
class TotpRegistration:
    """A new TOTP registration: show the QR code once, then forget the secret."""

    totp_registration_id: str
    secret: str = field(repr=False)
    qr_code: str = field(repr=False)
    recovery_codes: tuple[str, ...] = field(repr=False, default=())


@dataclass(frozen=True)
class MemberSession:
    """The session Stytch issued, as the driver checked it."""

    member_session_id: str
    member_id: str
    organization_id: str
    authentication_factors: tuple[AuthenticationFactor, ...]
    expires_at: float | None = None


@dataclass(frozen=True)
class Outcome:
    """The result of one driver call. Store `flow` (e.g. `flow.to_json()`) for the next."""

    flow: Flow
    request_id: str = ""
    intermediate_session_token: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)
    session_jwt: str = field(default="", repr=False)
    session: MemberSession | None = None
    member_options: dict[str, str] | None = None
    secondary_auth_initiated: str | None = None
    totp: TotpRegistration | None = None
    recovery_codes_remaining: int | None = None
    organization_slug: str = ""

    @property
    def member_authenticated(self) -> bool:
        """True once a checked session was issued."""
        return self.flow.state == State.AUTHENTICATED.value and self.session is not None

    @property
    def needs_enrollment(self) -> bool:
        """The member has no usable factor yet and must enroll one."""
        return self.flow.state in ENROLLING

    @property
    def offered_methods(self) -> tuple[Method, ...]:
        """The methods to show: allowed ones to enroll, or usable ones to answer with."""
        return offered_methods(self.flow)

    @property
    def code_sent(self) -> bool:
        """An SMS code is on its way for this flow."""
        return self.flow.method == Method.SMS_OTP and self.flow.pending_expires_at is not None
