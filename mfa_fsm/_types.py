"""Value types shared by events, effects and flows: policy and factor snapshots."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MfaPolicy(StrEnum):
    """Whether an organization requires a second factor of every member."""

    REQUIRED_FOR_ALL = "REQUIRED_FOR_ALL"
    OPTIONAL = "OPTIONAL"


class MfaMethods(StrEnum):
    """Whether every second-factor method is allowed or only a listed few."""

    ALL_ALLOWED = "ALL_ALLOWED"
    RESTRICTED = "RESTRICTED"


class Method(StrEnum):
    """A second-factor method, named as Stytch names it."""

    SMS_OTP = "sms_otp"
    TOTP = "totp"


class Intent(StrEnum):
    """Why a flow was started: to log in, or to change factors from a session."""

    LOGIN = "login"
    ENROLL = "enroll"
    UNENROLL = "unenroll"
    ADD_METHOD = "add_method"
    STEP_UP = "step_up"


class FailReason(StrEnum):
    """Why a flow ended in `failed`."""

    EXPIRED = "expired"
    LOCKED = "locked"
    ABORTED = "aborted"
    REFUSED = "refused"


ALL_METHODS: frozenset[Method] = frozenset(Method)


class OrgPolicy(_Frozen):
    """An organization's MFA settings, as the primary factor's response carries them."""

    organization_id: str = Field(min_length=1, max_length=128)
    mfa_policy: MfaPolicy = MfaPolicy.OPTIONAL
    mfa_methods: MfaMethods = MfaMethods.ALL_ALLOWED
    allowed_mfa_methods: tuple[Method, ...] = ()


class MemberFactors(_Frozen):
    """A member's second factors and flags at the moment a flow starts."""

    member_id: str = Field(min_length=1, max_length=128)
    mfa_enrolled: bool = False
    mfa_phone_number: str | None = Field(default=None, max_length=20)
    mfa_phone_number_verified: bool = False
    totp_registration_id: str | None = Field(default=None, max_length=128)
    default_mfa_method: Method | None = None
    recovery_codes_remaining: int = Field(default=0, ge=0, le=100)
    is_breakglass: bool = False
    roles: tuple[str, ...] = ()
    failed_attempts: int = Field(default=0, ge=0)
    locked_until: float | None = None

    @property
    def verified_methods(self) -> frozenset[Method]:
        """Methods the member has proven possession of."""
        found: set[Method] = set()
        if self.mfa_phone_number and self.mfa_phone_number_verified:
            found.add(Method.SMS_OTP)
        if self.totp_registration_id:
            found.add(Method.TOTP)
        return frozenset(found)


class AuthenticationFactor(_Frozen):
    """One entry of a session's `authentication_factors`, as Stytch reports it."""

    type: str = Field(min_length=1, max_length=32)
    delivery_method: str = Field(min_length=1, max_length=32)
    last_authenticated_at: float


SECOND_FACTOR_TYPES = frozenset({"otp", "totp", "recovery_codes"})
"""Factor types that count as a second factor in a session."""


def second_factor(method: Method, at: float) -> AuthenticationFactor:
    """The session factor Stytch records for a verified second factor."""
    if method is Method.SMS_OTP:
        return AuthenticationFactor(type="otp", delivery_method="sms", last_authenticated_at=at)
    return AuthenticationFactor(
        type="totp", delivery_method="authenticator_app", last_authenticated_at=at
    )


RECOVERY_FACTOR_TYPE = "recovery_codes"
