"""What the provider's calls share: the result they return and how records become events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mfa_fsm import Flow, Intent, MemberFactors, Method, OrgPolicy

from ._records import Member, Organization, Session

Enrollment = Literal["enroll", "unenroll"] | None
SessionIntent = Literal[Intent.ENROLL, Intent.UNENROLL, Intent.ADD_METHOD, Intent.STEP_UP]


@dataclass
class AuthResult:
    """What an authenticate call returns: a session, or an IST and what MFA needs."""

    member: Member
    organization: Organization
    member_authenticated: bool
    session: Session | None = None
    session_token: str = ""
    session_jwt: str = ""
    intermediate_session_token: str = ""
    mfa_required: dict[str, Any] | None = None
    flow: Flow | None = None
    totp: dict[str, Any] | None = None


def credentials(ist: str | None, token: str | None, jwt: str | None) -> dict[str, str | None]:
    return {"intermediate_session_token": ist, "session_token": token, "session_jwt": jwt}


def adding_intent(member: Member) -> Intent:
    has_factor = (
        member.mfa_phone_number and member.mfa_phone_number_verified
    ) or member.totp_registration_id
    return Intent.ADD_METHOD if has_factor else Intent.ENROLL


def org_policy(org: Organization) -> OrgPolicy:
    return OrgPolicy(
        organization_id=org.organization_id,
        mfa_policy=org.mfa_policy,
        mfa_methods=org.mfa_methods,
        allowed_mfa_methods=tuple(org.allowed_mfa_methods),
    )


def member_factors(member: Member, recovery_codes: int) -> MemberFactors:
    return MemberFactors(
        recovery_codes_remaining=recovery_codes,
        member_id=member.member_id,
        mfa_enrolled=member.mfa_enrolled,
        mfa_phone_number=member.mfa_phone_number or None,
        mfa_phone_number_verified=member.mfa_phone_number_verified,
        totp_registration_id=member.totp_registration_id or None,
        default_mfa_method=Method(member.default_mfa_method) if member.default_mfa_method else None,
        is_breakglass=member.is_breakglass,
        roles=tuple(member.roles),
        failed_attempts=member.failed_attempts,
        locked_until=member.lock_expires_at,
    )
