"""Provider records → Stytch's JSON objects, as pydantic models.

The models are the objects the official SDK parses (`stytch.b2b.models`): every field its
models require is present, with Stytch's names and defaults for the features this server
does not have (SSO, SCIM, connected apps). The same models give the OpenAPI schemas, so
the document and the bytes on the wire cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mfa_fsm import AuthenticationFactor
from mfa_fsm_local._jwt import rfc3339
from mfa_fsm_local._records import Member, Organization, Session


class WireModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoleSource(WireModel):
    type: str
    details: dict[str, Any] = Field(default_factory=dict)


class MemberRole(WireModel):
    role_id: str
    sources: list[RoleSource]


class WireMember(WireModel):
    organization_id: str
    member_id: str
    email_address: str
    status: str
    name: str
    sso_registrations: list[dict[str, Any]]
    is_breakglass: bool
    member_password_id: str
    oauth_registrations: list[dict[str, Any]]
    email_address_verified: bool
    mfa_phone_number_verified: bool
    is_admin: bool
    totp_registration_id: str
    retired_email_addresses: list[dict[str, Any]]
    is_locked: bool
    mfa_enrolled: bool
    mfa_phone_number: str
    default_mfa_method: str
    roles: list[MemberRole]
    trusted_metadata: dict[str, Any]
    untrusted_metadata: dict[str, Any]
    created_at: str
    updated_at: str
    external_id: str
    lock_created_at: str | None
    lock_expires_at: str | None


class WireOrganization(WireModel):
    organization_id: str
    organization_name: str
    organization_logo_url: str
    organization_slug: str
    sso_jit_provisioning: str
    sso_jit_provisioning_allowed_connections: list[str]
    sso_active_connections: list[dict[str, Any]]
    email_allowed_domains: list[str]
    email_jit_provisioning: str
    email_invites: str
    auth_methods: str
    allowed_auth_methods: list[str]
    mfa_policy: str
    rbac_email_implicit_role_assignments: list[dict[str, Any]]
    mfa_methods: str
    allowed_mfa_methods: list[str]
    oauth_tenant_jit_provisioning: str
    claimed_email_domains: list[str]
    first_party_connected_apps_allowed_type: str
    allowed_first_party_connected_apps: list[str]
    third_party_connected_apps_allowed_type: str
    allowed_third_party_connected_apps: list[str]
    custom_roles: list[dict[str, Any]]
    trusted_metadata: dict[str, Any]
    created_at: str
    updated_at: str
    organization_external_id: str
    sso_default_connection_id: str | None
    scim_active_connection: dict[str, Any] | None
    allowed_oauth_tenants: dict[str, Any]


class WireFactor(WireModel):
    type: str
    delivery_method: str
    last_authenticated_at: str
    created_at: str
    updated_at: str


class WireMemberSession(WireModel):
    member_session_id: str
    member_id: str
    started_at: str
    last_accessed_at: str
    expires_at: str
    authentication_factors: list[WireFactor]
    organization_id: str
    roles: list[str]
    organization_slug: str
    custom_claims: dict[str, Any]


class MemberOptions(WireModel):
    mfa_phone_number: str
    totp_registration_id: str


class MfaRequired(WireModel):
    member_options: MemberOptions | None
    secondary_auth_initiated: str | None


def _time(ts: float | None) -> str | None:
    return None if ts is None else rfc3339(ts)


def member_json(member: Member, now: float) -> WireMember:
    roles = [
        MemberRole(role_id=r, sources=[RoleSource(type="direct_assignment")]) for r in member.roles
    ]
    return WireMember(
        organization_id=member.organization_id,
        member_id=member.member_id,
        email_address=member.email_address,
        status=member.status,
        name=member.name,
        sso_registrations=[],
        is_breakglass=member.is_breakglass,
        member_password_id=member.member_password_id,
        oauth_registrations=[],
        email_address_verified=member.email_address_verified,
        mfa_phone_number_verified=member.mfa_phone_number_verified,
        is_admin=False,
        totp_registration_id=member.totp_registration_id,
        retired_email_addresses=[],
        is_locked=member.is_locked(now),
        mfa_enrolled=member.mfa_enrolled,
        mfa_phone_number=member.mfa_phone_number,
        default_mfa_method=member.default_mfa_method,
        roles=roles,
        trusted_metadata={},
        untrusted_metadata={},
        created_at=rfc3339(member.created_at),
        updated_at=rfc3339(member.updated_at),
        external_id="",
        lock_created_at=_time(member.lock_created_at),
        lock_expires_at=_time(member.lock_expires_at),
    )


def organization_json(org: Organization) -> WireOrganization:
    return WireOrganization(
        organization_id=org.organization_id,
        organization_name=org.organization_name,
        organization_logo_url="",
        organization_slug=org.organization_slug,
        sso_jit_provisioning="NOT_ALLOWED",
        sso_jit_provisioning_allowed_connections=[],
        sso_active_connections=[],
        email_allowed_domains=[],
        email_jit_provisioning="NOT_ALLOWED",
        email_invites="ALL_ALLOWED",
        auth_methods="ALL_ALLOWED",
        allowed_auth_methods=[],
        mfa_policy=org.mfa_policy.value,
        rbac_email_implicit_role_assignments=[],
        mfa_methods=org.mfa_methods.value,
        allowed_mfa_methods=[m.value for m in org.allowed_mfa_methods],
        oauth_tenant_jit_provisioning="NOT_ALLOWED",
        claimed_email_domains=[],
        first_party_connected_apps_allowed_type="ALL_ALLOWED",
        allowed_first_party_connected_apps=[],
        third_party_connected_apps_allowed_type="ALL_ALLOWED",
        allowed_third_party_connected_apps=[],
        custom_roles=[],
        trusted_metadata={},
        created_at=rfc3339(org.created_at),
        updated_at=rfc3339(org.updated_at),
        organization_external_id="",
        sso_default_connection_id=None,
        scim_active_connection=None,
        allowed_oauth_tenants={},
    )


def factor_json(factor: AuthenticationFactor) -> WireFactor:
    at = rfc3339(factor.last_authenticated_at)
    return WireFactor(
        type=factor.type,
        delivery_method=factor.delivery_method,
        last_authenticated_at=at,
        created_at=at,
        updated_at=at,
    )


def session_json(session: Session, org: Organization, member: Member) -> WireMemberSession:
    return WireMemberSession(
        member_session_id=session.member_session_id,
        member_id=session.member_id,
        started_at=rfc3339(session.started_at),
        last_accessed_at=rfc3339(session.last_accessed_at),
        expires_at=rfc3339(session.expires_at),
        authentication_factors=[factor_json(f) for f in session.authentication_factors],
        organization_id=session.organization_id,
        roles=list(member.roles),
        organization_slug=org.organization_slug,
        custom_claims={},
    )


def mfa_required_json(mfa: dict[str, Any] | None) -> MfaRequired | None:
    if mfa is None:
        return None
    options = mfa.get("member_options")
    return MfaRequired(
        member_options=MemberOptions(
            mfa_phone_number=str(options.get("mfa_phone_number") or ""),
            totp_registration_id=str(options.get("totp_registration_id") or ""),
        )
        if options
        else None,
        secondary_auth_initiated=mfa.get("secondary_auth_initiated"),
    )


def timestamp(ts: float) -> str:
    """RFC 3339 with milliseconds, for outbox entries that may share a second."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
