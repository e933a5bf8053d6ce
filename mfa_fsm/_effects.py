"""Effects: what the engine asks adapters to do. Frozen; the engine never performs them.

An adapter carries out a step's effects in order, for the flow's organization and
member. The engine builds them from already validated data, so they skip validation.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from ._types import AuthenticationFactor, Method


class Effect(BaseModel):
    """Base of every effect."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: ClassVar[str] = "effect"


class SendSmsOtp(Effect):
    """Send a fresh SMS code to this number; any earlier code of the member dies."""

    kind: ClassVar[str] = "send_sms_otp"
    phone_number: str


class CreateTotpRegistration(Effect):
    """Create a pending TOTP registration (secret, QR, recovery codes)."""

    kind: ClassVar[str] = "create_totp_registration"


class RecordEnrollment(Effect):
    """Mark this factor verified: its code was just proven."""

    kind: ClassVar[str] = "record_enrollment"
    method: Method
    factor_id: str


class SetMfaEnrollment(Effect):
    """Set the member's `mfa_enrolled` flag."""

    kind: ClassVar[str] = "set_mfa_enrollment"
    enrolled: bool


class RemoveFactor(Effect):
    """Delete one of the member's second factors."""

    kind: ClassVar[str] = "remove_factor"
    method: Method


class SetDefaultMethod(Effect):
    """Make this method the member's default."""

    kind: ClassVar[str] = "set_default_method"
    method: Method


class ConsumeIst(Effect):
    """Invalidate the intermediate session token: it is single use."""

    kind: ClassVar[str] = "consume_ist"
    ist_id: str


class RevokeSession(Effect):
    """Revoke the pre-MFA session, so the new token replaces it."""

    kind: ClassVar[str] = "revoke_session"
    session_id: str


class IssueSession(Effect):
    """Issue a new session token carrying these factors."""

    kind: ClassVar[str] = "issue_session"
    authentication_factors: tuple[AuthenticationFactor, ...]


class RecordFailedAttempt(Effect):
    """Count one more consecutive failure for the member."""

    kind: ClassVar[str] = "record_failed_attempt"
    method: str
    member_failures: int


class ClearFailedAttempts(Effect):
    """A second factor succeeded: the consecutive failure count restarts."""

    kind: ClassVar[str] = "clear_failed_attempts"


class LockMember(Effect):
    """Lock the member until this time."""

    kind: ClassVar[str] = "lock_member"
    until: float


class Audit(Effect):
    """One line of the audit log: never a code, secret or token."""

    kind: ClassVar[str] = "audit"
    flow_id: str
    source: str
    dest: str
    event: str
    decision: Literal["accepted", "refused"]
    detail: str
    at: float


E = TypeVar("E", bound=Effect)


def make(cls: type[E], **fields: Any) -> E:
    """Build an effect. (Validated construction measures faster than `model_construct`.)"""
    return cls(**fields)
