"""What a member reads when the provider refuses: plain words per Stytch `error_type`."""

from __future__ import annotations

from mfa_fsm import MfaError

PHONE_HELP = (
    "Enter the number in international E.164 form: a plus sign, the country code, then "
    "the number, digits only — for example +14155551234."
)

MESSAGES: dict[str, str] = {
    "unauthorized_credentials": "That email address and password do not match.",
    "organization_not_found": "No organization has that name. Check the organization slug.",
    "otp_code_not_found": "That code is wrong or has expired. Check the latest text and try again.",
    "invalid_totp_code": "That code is wrong. Enter the 6-digit code your app shows now.",
    "recovery_code_not_found": "That recovery code is wrong or was already used.",
    "user_lock_limit_reached": (
        "Too many wrong codes. For your safety this account is locked for an hour."
    ),
    "intermediate_session_not_found": (
        "This sign-in is no longer valid: it expired (sign-ins last 10 minutes) or was "
        "already completed. Please sign in again."
    ),
    "session_not_found": "Your session has ended. Please sign in again.",
    "invalid_phone_number": PHONE_HELP,
    "operation_restricted_by_organization_mfa_methods": (
        "Your organization does not allow that method. Choose one of the methods offered."
    ),
    "too_many_unverified_factors": "Finish the method you started, or start over.",
    "unauthorized_action": (
        "This needs a fresh second factor first. Confirm with a code, then try again."
    ),
    "cannot_unenroll_required_mfa": (
        "Your organization requires a second factor, so your last one cannot be removed. "
        "Add another method first."
    ),
    "magic_link_not_found": "This sign-in link is invalid, expired or was already used.",
    "totp_not_found": "There is no authenticator app set up for this account.",
    "invalid_request": "Some of what was sent is not valid. Check the form and try again.",
}


def message_for(exc: MfaError) -> str:
    return MESSAGES.get(exc.error_type, exc.message)


def status_for(exc: MfaError) -> int:
    """A 4xx for the page: the provider's hint when it is a client error, else 400."""
    return exc.status_code if 400 <= exc.status_code < 500 else 400


__all__ = ["MESSAGES", "PHONE_HELP", "message_for", "status_for"]
