"""Organizations and members: create, get, update, and removal of MFA factors."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from mfa_fsm_local.provider import LocalProvider

from .bodies import (
    MemberCreate,
    MemberQuery,
    MemberUpdate,
    OrganizationCreate,
    OrganizationQuery,
    OrganizationUpdate,
)
from .endpoint import Call, Endpoint
from .errors import ApiError
from .render import member_response, with_org
from .responses import MemberResponse, OrganizationResponse
from .wire import organization_json

ORGS = "/v1/b2b/organizations"


def _set(model: BaseModel) -> dict[str, Any]:
    """Only the fields the caller sent (Stytch leaves absent fields unchanged)."""
    return {k: v for k, v in model.model_dump(exclude_none=True).items()}


async def organizations_create(call: Call) -> OrganizationResponse:
    body = call.body_as(OrganizationCreate)
    fields = _set(body)
    org = await call.run(call.provider.organizations_create, **fields)
    return OrganizationResponse(
        status_code=200, request_id=call.request_id, organization=organization_json(org)
    )


async def organizations_get(call: Call) -> OrganizationResponse:
    org = await call.run(call.provider.organizations_get, call.path("organization_id"))
    return OrganizationResponse(
        status_code=200, request_id=call.request_id, organization=organization_json(org)
    )


async def organizations_update(call: Call) -> OrganizationResponse:
    fields = _set(call.body_as(OrganizationUpdate))
    org = await call.run(call.provider.organizations_update, call.path("organization_id"), **fields)
    return OrganizationResponse(
        status_code=200, request_id=call.request_id, organization=organization_json(org)
    )


async def members_create(call: Call) -> MemberResponse:
    fields = _set(call.body_as(MemberCreate))
    p = call.provider
    member, org = await call.run(
        lambda: with_org(p, p.members_create(call.path("organization_id"), **fields))
    )
    return member_response(call, member, org)


def _get_member(p: LocalProvider, organization_id: str, query: MemberQuery) -> Any:
    if query.member_id:
        return with_org(p, p.members_get(organization_id, query.member_id))
    if query.email_address:
        found = p.member_by_email(organization_id, query.email_address)
        if found is None:
            raise ApiError(404, "member_not_found", "No member with this email address.")
        return with_org(p, found)
    raise ApiError(400, "invalid_request", "Pass member_id or email_address.")


async def members_get(call: Call) -> MemberResponse:
    query = call.query_as(MemberQuery)
    member, org = await call.run(_get_member, call.provider, call.path("organization_id"), query)
    return member_response(call, member, org)


async def members_update(call: Call) -> MemberResponse:
    fields = _set(call.body_as(MemberUpdate))
    p = call.provider
    org_id, member_id = call.path("organization_id"), call.path("member_id")
    member, org = await call.run(lambda: with_org(p, p.members_update(org_id, member_id, **fields)))
    return member_response(call, member, org)


async def members_delete_mfa_phone_number(call: Call) -> MemberResponse:
    p = call.provider
    org_id, member_id = call.path("organization_id"), call.path("member_id")
    member, org = await call.run(
        lambda: with_org(p, p.members_delete_mfa_phone_number(org_id, member_id))
    )
    return member_response(call, member, org)


async def members_delete_totp(call: Call) -> MemberResponse:
    p = call.provider
    org_id, member_id = call.path("organization_id"), call.path("member_id")
    member, org = await call.run(lambda: with_org(p, p.members_delete_totp(org_id, member_id)))
    return member_response(call, member, org)


MEMBER = ORGS + "/{organization_id}/members"

ENDPOINTS = [
    Endpoint("POST", ORGS, "Create an organization", organizations_create,
             OrganizationResponse, body=OrganizationCreate),
    Endpoint("GET", ORGS + "/{organization_id}", "Get an organization", organizations_get,
             OrganizationResponse, query=OrganizationQuery),
    Endpoint("PUT", ORGS + "/{organization_id}", "Update an organization's MFA settings",
             organizations_update, OrganizationResponse, body=OrganizationUpdate),
    Endpoint("POST", MEMBER, "Create a member", members_create, MemberResponse,
             body=MemberCreate),
    Endpoint("GET", ORGS + "/{organization_id}/member", "Get a member by id or email",
             members_get, MemberResponse, query=MemberQuery),
    Endpoint("DELETE", MEMBER + "/mfa_phone_numbers/{member_id}",
             "Delete a member's MFA phone number", members_delete_mfa_phone_number,
             MemberResponse),
    Endpoint("PUT", MEMBER + "/{member_id}", "Update a member", members_update,
             MemberResponse, body=MemberUpdate),
    Endpoint("DELETE", MEMBER + "/{member_id}/totp", "Delete a member's TOTP registration",
             members_delete_totp, MemberResponse),
]  # fmt: skip
