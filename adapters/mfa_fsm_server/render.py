"""Shared response builders: a member with its organization, an authenticate result."""

from __future__ import annotations

from typing import Any

from mfa_fsm_local._records import Member, Organization
from mfa_fsm_local.provider import AuthResult, LocalProvider

from .endpoint import Call
from .responses import MemberResponse, MfaAuthenticateResponse
from .wire import member_json, organization_json, session_json


def with_org(provider: LocalProvider, member: Member) -> tuple[Member, Organization]:
    """The member and its organization (call in the threadpool)."""
    return member, provider.organizations_get(member.organization_id)


def member_fields(call: Call, member: Member, org: Organization) -> dict[str, Any]:
    return {
        "status_code": 200,
        "request_id": call.request_id,
        "member_id": member.member_id,
        "member": member_json(member, call.now()),
        "organization": organization_json(org),
    }


def member_response(call: Call, member: Member, org: Organization) -> MemberResponse:
    return MemberResponse(**member_fields(call, member, org))


def session_fields(call: Call, result: AuthResult) -> dict[str, Any]:
    """Token, JWT and member session of an authenticate result (empty while MFA is due)."""
    session = result.session
    return {
        "session_token": result.session_token,
        "session_jwt": result.session_jwt,
        "member_session": session_json(session, result.organization, result.member)
        if session is not None
        else None,
    }


def mfa_response(call: Call, result: AuthResult) -> MfaAuthenticateResponse:
    return MfaAuthenticateResponse(
        **member_fields(call, result.member, result.organization), **session_fields(call, result)
    )
