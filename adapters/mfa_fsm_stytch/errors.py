"""The driver's errors: the core's tree, plus what only an HTTP provider can do wrong.

Every error raised by the driver is a `StytchError`, and also the core error its
`error_type` names (catch `mfa_fsm.OtpCodeNotFound` or `StytchError`, either works).
Each carries the Stytch `request_id` and the `flow` the caller should keep: a wrong
code still counts against the flow, so the caller must store the flow it gets back.
"""

from __future__ import annotations

from typing import Any

from mfa_fsm import (
    Flow,
    IntermediateSessionExpired,
    InvalidEvent,
    InvalidPhoneNumber,
    InvalidTotpCode,
    MemberLocked,
    MethodRestricted,
    MfaError,
    OtpCodeNotFound,
    TooManyUnverifiedFactors,
    TotpRegistrationNotFound,
    UnauthorizedAction,
    UnenrollRefused,
)


class StytchError(MfaError):
    """Base of the driver's errors; `status_code` and `error_type` are per instance."""

    error_type = "stytch_error"
    status_code = 502

    def __init__(
        self,
        message: str | None = None,
        *,
        request_id: str = "",
        flow: Flow | None = None,
        status_code: int | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.flow = flow
        # Per instance: Stytch may answer with a type or status this tree has no class for.
        if status_code is not None:
            vars(self)["status_code"] = status_code
        if error_type is not None:
            vars(self)["error_type"] = error_type

    def to_dict(self) -> dict[str, object]:
        return super().to_dict() | {"request_id": self.request_id}

    def __str__(self) -> str:
        suffix = f" (request_id {self.request_id})" if self.request_id else ""
        return f"{self.error_type}: {self.message}{suffix}"


class StytchApiError(StytchError):
    """Stytch answered with an error this driver has no closer class for."""


class ProviderUnavailable(StytchError):
    """Stytch could not be reached or kept failing, after the retries that were safe."""

    error_type = "provider_unavailable"
    status_code = 503


class RateLimited(StytchError):
    """Stytch's rate limit (`too_many_requests`) held after the allowed retries."""

    error_type = "too_many_requests"
    status_code = 429


class ResponseRefused(StytchError):
    """Stytch's answer would move the flow in a way the engine forbids, so it is not trusted.

    Any session it carried has been revoked (when that could be done)."""

    error_type = "response_refused"
    status_code = 502


class MalformedResponse(ResponseRefused):
    """Stytch's answer does not have the shape its API promises."""

    error_type = "malformed_response"


class CredentialMismatch(StytchError):
    """Pass exactly one credential, and the intermediate session token this flow started with."""

    error_type = "invalid_credentials_combination"
    status_code = 400


class RecoveryCodeNotFound(StytchError):
    """The recovery code is wrong or already used."""

    error_type = "recovery_code_not_found"
    status_code = 404


class SessionNotFound(StytchError):
    """The session is unknown, expired or revoked."""

    error_type = "session_not_found"
    status_code = 404


_BY_TYPE: dict[str, type[MfaError]] = {
    "intermediate_session_not_found": IntermediateSessionExpired,
    "otp_code_not_found": OtpCodeNotFound,
    "invalid_totp_code": InvalidTotpCode,
    "totp_code_already_authenticated": InvalidTotpCode,
    "totp_not_found": TotpRegistrationNotFound,
    "operation_restricted_by_organization_mfa_methods": MethodRestricted,
    "invalid_phone_number": InvalidPhoneNumber,
    "invalid_phone_number_country_code": InvalidPhoneNumber,
    "too_many_unverified_factors": TooManyUnverifiedFactors,
    "user_lock_limit_reached": MemberLocked,
    "unauthorized_action": UnauthorizedAction,
    "cannot_unenroll_required_mfa": UnenrollRefused,
    "invalid_request": InvalidEvent,
    "recovery_code_not_found": RecoveryCodeNotFound,
    "session_not_found": SessionNotFound,
    "too_many_requests": RateLimited,
}


_MADE: dict[str, type[StytchError]] = {}


def _driver_class(core: type[MfaError]) -> type[StytchError]:
    """`StytchError` and `core` at once, so callers may catch either."""
    if issubclass(core, StytchError):
        return core
    key = f"{core.__module__}.{core.__qualname__}"
    if key not in _MADE:
        _MADE[key] = _combine(core)
    return _MADE[key]


def _combine(core: type[MfaError]) -> type[StytchError]:
    attrs = {
        "__doc__": core.__doc__,
        "__module__": __name__,
        "error_type": core.error_type,
        "status_code": core.status_code,
    }
    return type(core.__name__, (StytchError, core), attrs)


def error_class(error_type: str | None, status_code: int) -> type[StytchError]:
    """The class for a Stytch error reply: by `error_type`, else by status."""
    core = _BY_TYPE.get(error_type or "")
    if core is not None:
        return _driver_class(core)
    if status_code >= 500:
        return ProviderUnavailable
    return StytchApiError


def from_reply(status_code: int, body: dict[str, Any], flow: Flow | None = None) -> StytchError:
    """Build the error for a Stytch error reply; the message is Stytch's own."""
    error_type = body.get("error_type", body.get("error"))
    error_type = error_type if isinstance(error_type, str) else None
    message = body.get("error_message", body.get("error_description"))
    request_id = body.get("request_id", "")
    cls = error_class(error_type, status_code)
    return cls(
        message if isinstance(message, str) else f"Stytch answered {status_code}",
        request_id=request_id if isinstance(request_id, str) else "",
        flow=flow,
        status_code=status_code,
        error_type=error_type or cls.error_type,
    )


def refine(error: MfaError, *, flow: Flow | None, request_id: str = "") -> StytchError:
    """An engine refusal as a driver error of the same core class, with the flow to keep."""
    if isinstance(error, StytchError):
        if error.flow is None:
            error.flow = flow
        return error
    cls = _driver_class(type(error))
    return cls(error.message, request_id=request_id, flow=flow)
