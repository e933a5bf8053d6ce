"""Sessions: authenticate by token or JWT, list, revoke; the public JWKS."""

from __future__ import annotations

from typing import Any

from mfa_fsm_local.errors import CredentialCombination
from mfa_fsm_local.provider import LocalProvider

from .bodies import JwksQuery, MemberRefQuery, SessionAuthenticate, SessionRevoke
from .endpoint import Call, Endpoint
from .errors import ApiError
from .responses import (
    EmptyResponse,
    Jwk,
    JwksResponse,
    SessionAuthenticateResponse,
    SessionsGetResponse,
)
from .wire import member_json, organization_json, session_json


def _authenticate(p: LocalProvider, body: SessionAuthenticate) -> Any:
    session, jwt = p.sessions_authenticate(body.session_token, body.session_jwt)
    org = p.organizations_get(session.organization_id)
    member = p.members_get(session.organization_id, session.member_id)
    return session, jwt, org, member


async def sessions_authenticate(call: Call) -> SessionAuthenticateResponse:
    body = call.body_as(SessionAuthenticate)
    session, jwt, org, member = await call.run(_authenticate, call.provider, body)
    return SessionAuthenticateResponse(
        status_code=200,
        request_id=call.request_id,
        member_session=session_json(session, org, member),
        session_token=body.session_token or "",
        session_jwt=jwt,
        member=member_json(member, call.now()),
        organization=organization_json(org),
    )


def _list(p: LocalProvider, organization_id: str, member_id: str) -> Any:
    sessions = p.sessions_get(organization_id, member_id)
    org = p.organizations_get(organization_id)
    member = p.members_get(organization_id, member_id)
    return [session_json(s, org, member) for s in sessions]


async def sessions_get(call: Call) -> SessionsGetResponse:
    query = call.query_as(MemberRefQuery)
    found = await call.run(_list, call.provider, query.organization_id, query.member_id)
    return SessionsGetResponse(status_code=200, request_id=call.request_id, member_sessions=found)


def _revoke(p: LocalProvider, body: SessionRevoke) -> None:
    given = [v for v in (body.member_session_id, body.session_token, body.session_jwt) if v]
    if len(given) != 1:
        raise CredentialCombination(
            "pass exactly one of member_session_id, session_token and session_jwt"
        )
    session_id = body.member_session_id
    if session_id is None:
        session, _ = p.sessions_authenticate(body.session_token, body.session_jwt)
        session_id = session.member_session_id
    p.sessions_revoke(session_id)


async def sessions_revoke(call: Call) -> EmptyResponse:
    await call.run(_revoke, call.provider, call.body_as(SessionRevoke))
    return EmptyResponse(status_code=200, request_id=call.request_id)


async def sessions_jwks(call: Call) -> JwksResponse:
    """Public, as Stytch's is: the SDK's JWKS client fetches it without credentials."""
    if call.path("project_id") != call.provider.project_id:
        raise ApiError(404, "project_not_found", "No project with this id.")
    keys = [
        Jwk(key_ops=["verify"], x5c=[], x5tS256="", **jwk) for jwk in call.provider.jwks()["keys"]
    ]
    return JwksResponse(status_code=200, request_id=call.request_id, keys=keys)


ENDPOINTS = [
    Endpoint("POST", "/v1/b2b/sessions/authenticate",
             "Check a session token or JWT; returns a fresh JWT", sessions_authenticate,
             SessionAuthenticateResponse, body=SessionAuthenticate),
    Endpoint("GET", "/v1/b2b/sessions", "A member's live sessions", sessions_get,
             SessionsGetResponse, query=MemberRefQuery),
    Endpoint("POST", "/v1/b2b/sessions/revoke", "Revoke a session", sessions_revoke,
             EmptyResponse, body=SessionRevoke),
    Endpoint("GET", "/v1/b2b/sessions/jwks/{project_id}", "The keys that sign session JWTs",
             sessions_jwks, JwksResponse, query=JwksQuery, public=True, errors=(400, 404)),
]  # fmt: skip
