"""Provider errors, in the core's one tree so adapters render every error the same way."""

from __future__ import annotations

from mfa_fsm import MfaError


class OrganizationNotFound(MfaError):
    """No organization has this id or slug."""

    error_type = "organization_not_found"
    status_code = 404


class MemberNotFound(MfaError):
    """No member with this id in this organization."""

    error_type = "member_not_found"
    status_code = 404


class InvalidOrganizationMfaPolicy(MfaError):
    """mfa_policy must be REQUIRED_FOR_ALL or OPTIONAL."""

    error_type = "invalid_organization_mfa_policy"


class InvalidMfaMethods(MfaError):
    """mfa_methods must be ALL_ALLOWED or RESTRICTED, with known methods."""

    error_type = "invalid_mfa_methods"


class AllowedMfaMethodsRequired(MfaError):
    """RESTRICTED needs a non-empty allowed_mfa_methods."""

    error_type = "allowed_mfa_methods_required_for_restricted"


class DuplicateSlug(MfaError):
    """Another organization already uses this slug."""

    error_type = "organization_slug_already_used"
    status_code = 409


class DuplicateEmail(MfaError):
    """A member with this email already exists in the organization."""

    error_type = "duplicate_email"
    status_code = 409


class InvalidArgument(MfaError):
    """A field is missing or has the wrong form."""

    error_type = "invalid_request"


class UnauthorizedCredentials(MfaError):
    """The email or password is wrong."""

    error_type = "unauthorized_credentials"
    status_code = 401


class MagicLinkNotFound(MfaError):
    """The magic link is unknown, used or expired."""

    error_type = "magic_link_not_found"
    status_code = 404


class SessionNotFound(MfaError):
    """The session is unknown, revoked or expired."""

    error_type = "session_not_found"
    status_code = 404


class CredentialCombination(MfaError):
    """Pass exactly one of intermediate_session_token, session_token, session_jwt."""

    error_type = "invalid_credentials_combination"


class TotpNotFound(MfaError):
    """The member has no TOTP registration."""

    error_type = "totp_not_found"
    status_code = 404


class RecoveryCodeNotFound(MfaError):
    """The recovery code is wrong or was already used."""

    error_type = "recovery_code_not_found"
    status_code = 404
