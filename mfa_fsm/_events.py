"""Events: what adapters tell the engine happened. Frozen, validated, JSON-friendly.

Every event carries `at` (seconds since the epoch, from the adapter's clock) so the
core never reads a clock, and names the organization and member it is about.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._types import AuthenticationFactor, Intent, MemberFactors, Method, OrgPolicy

_Id = Annotated[str, Field(min_length=1, max_length=128)]


class Event(BaseModel):
    """Base of every event; `kind` is the trigger name in the machine's table."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: ClassVar[str] = "event"
    at: float = Field(allow_inf_nan=False)


class SubjectEvent(Event):
    """An event about one member of one organization."""

    organization_id: _Id
    member_id: _Id


class PrimaryAuthenticated(Event):
    """A primary factor succeeded and an intermediate session token was issued."""

    kind: ClassVar[str] = "primary_authenticated"
    organization: OrgPolicy
    member: MemberFactors
    primary_factor: AuthenticationFactor
    ist_id: _Id
    attributes: dict[str, str] = Field(default_factory=dict, max_length=16)


class SessionPresented(Event):
    """A member presented an existing session to change factors or to step up."""

    kind: ClassVar[str] = "session_presented"
    organization: OrgPolicy
    member: MemberFactors
    session_id: _Id
    session_factors: tuple[AuthenticationFactor, ...] = Field(min_length=1, max_length=8)
    intent: Literal[Intent.ENROLL, Intent.UNENROLL, Intent.ADD_METHOD, Intent.STEP_UP]
    unenroll_method: Method | None = None
    attributes: dict[str, str] = Field(default_factory=dict, max_length=16)


class MethodChosen(SubjectEvent):
    """The member picked a method; for SMS enrollment, with a new E.164 number."""

    kind: ClassVar[str] = "method_chosen"
    method: Method
    phone_number: str | None = Field(default=None, max_length=20)


class SmsSent(SubjectEvent):
    """The adapter sent the SMS code the engine asked for."""

    kind: ClassVar[str] = "sms_sent"
    phone_number: str = Field(min_length=2, max_length=20)
    code_expires_at: float = Field(allow_inf_nan=False)


class TotpRegistrationCreated(SubjectEvent):
    """The adapter created the TOTP registration the engine asked for."""

    kind: ClassVar[str] = "totp_registration_created"
    totp_registration_id: _Id
    registration_expires_at: float = Field(allow_inf_nan=False)


class FactorVerified(SubjectEvent):
    """The adapter checked a code and it was right for this very factor."""

    kind: ClassVar[str] = "factor_verified"
    method: Method
    factor_id: _Id
    set_default_mfa: bool = False
    set_mfa_enrollment: Literal["enroll", "unenroll"] | None = None


class FactorRejected(SubjectEvent):
    """A code was wrong; `member_failures` is the adapter's authoritative count, if kept."""

    kind: ClassVar[str] = "factor_rejected"
    method: Method | Literal["recovery_code"]
    member_failures: int | None = Field(default=None, ge=0)


class RecoveryCodeVerified(SubjectEvent):
    """A single-use recovery code was right and consumed."""

    kind: ClassVar[str] = "recovery_code_verified"
    recovery_codes_remaining: int = Field(ge=0)
    set_mfa_enrollment: Literal["enroll", "unenroll"] | None = None


class TimePassed(Event):
    """The adapter's clock moved; expired flows fail."""

    kind: ClassVar[str] = "time_passed"


class Aborted(SubjectEvent):
    """The member or the application gave up on the flow."""

    kind: ClassVar[str] = "aborted"
    reason: str = Field(default="aborted", max_length=200)


START_EVENTS: tuple[type[Event], ...] = (PrimaryAuthenticated, SessionPresented)
FLOW_EVENTS: tuple[type[Event], ...] = (
    MethodChosen,
    SmsSent,
    TotpRegistrationCreated,
    FactorVerified,
    FactorRejected,
    RecoveryCodeVerified,
    TimePassed,
    Aborted,
)
ALL_EVENTS: tuple[type[Event], ...] = START_EVENTS + FLOW_EVENTS
