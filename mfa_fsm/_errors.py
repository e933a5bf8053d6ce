"""One exception tree; each error names its Stytch `error_type` and an HTTP status hint.

Adapters turn an error into Stytch's error JSON with `to_dict()`; callers catch
`MfaError` for everything or a subclass for one case.
"""

from __future__ import annotations

from typing import ClassVar


class MfaError(Exception):
    """Base of every error the engine reports."""

    error_type: ClassVar[str] = "mfa_error"
    status_code: ClassVar[int] = 400

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.__doc__ or self.error_type
        super().__init__(self.message)

    def to_dict(self) -> dict[str, object]:
        """The error in Stytch's wire shape, less the request id the adapter adds."""
        return {
            "status_code": self.status_code,
            "error_type": self.error_type,
            "error_message": self.message,
            "error_url": f"https://stytch.com/docs/api/errors/{self.status_code}#{self.error_type}",
        }


class InvalidEvent(MfaError):
    """The event is malformed."""

    error_type = "invalid_request"


class InvalidPhoneNumber(InvalidEvent):
    """The phone number is not a valid E.164 number."""

    error_type = "invalid_phone_number"


class RuleError(MfaError):
    """A custom rule returned something other than a `Requirement` or None."""

    error_type = "invalid_rule"
    status_code = 500


class StateError(MfaError):
    """The flow cannot take this event in its current state."""

    error_type = "unauthorized_action"
    status_code = 403


class FlowFinished(StateError):
    """The flow already ended; start a new one."""

    error_type = "intermediate_session_not_found"
    status_code = 404


class SubjectMismatch(MfaError):
    """The event names another organization or member than the flow's."""

    error_type = "unauthorized_action"
    status_code = 403


class IntermediateSessionExpired(MfaError):
    """The intermediate session expired before MFA completed."""

    error_type = "intermediate_session_not_found"
    status_code = 404


class UnauthorizedAction(MfaError):
    """This credential may not perform this action."""

    error_type = "unauthorized_action"
    status_code = 403


class MethodRestricted(MfaError):
    """The organization does not allow this MFA method."""

    error_type = "operation_restricted_by_organization_mfa_methods"
    status_code = 403


class OtpCodeNotFound(MfaError):
    """No SMS code is pending for this member, or the code is wrong or expired."""

    error_type = "otp_code_not_found"
    status_code = 404


class InvalidTotpCode(MfaError):
    """The TOTP code is wrong."""

    error_type = "invalid_totp_code"
    status_code = 401


class TotpRegistrationNotFound(MfaError):
    """No TOTP registration is pending or enrolled for this member."""

    error_type = "totp_not_found"
    status_code = 404


class TooManyUnverifiedFactors(MfaError):
    """A factor is already being enrolled; verify it first."""

    error_type = "too_many_unverified_factors"
    status_code = 400


class PhoneNumberMismatch(MfaError):
    """The phone number differs from the member's enrolled MFA number."""

    error_type = "unauthorized_action"
    status_code = 403


class UnenrollRefused(MfaError):
    """The organization requires MFA, so its last factor cannot be removed."""

    error_type = "cannot_unenroll_required_mfa"
    status_code = 400


class MemberLocked(MfaError):
    """Too many failed second-factor attempts; the member is locked."""

    error_type = "user_lock_limit_reached"
    status_code = 429


class FlowAborted(MfaError):
    """The flow was aborted."""

    error_type = "intermediate_session_not_found"
    status_code = 404
