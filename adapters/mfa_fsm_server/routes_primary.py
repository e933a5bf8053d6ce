"""Primary factors: password migration and login, email magic links.

A primary login ends in a session, or in an intermediate session token with
`mfa_required` saying what the member must do next, exactly as Stytch answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mfa_fsm_local.provider import AuthResult, LocalProvider

from .bodies import (
    MagicLinkAuthenticate,
    MagicLinkLoginOrSignup,
    PasswordAuthenticate,
    PasswordMigrate,
    PrimaryNoSession,
)
from .endpoint import Call, Endpoint
from .errors import ApiError
from .render import member_fields, session_fields, with_org
from .responses import (
    MagicLinkAuthenticateResponse,
    MemberCreatedResponse,
    PrimaryAuthenticateResponse,
)
from .wire import mfa_required_json


def _fresh_login_only(body: PrimaryNoSession) -> None:
    if body.intermediate_session_token or body.session_token or body.session_jwt:
        raise ApiError(
            400,
            "invalid_request",
            "This server starts a new login here; adding a primary factor to an existing "
            "session or intermediate session is not supported.",
        )


async def _login(
    call: Call, body: PrimaryNoSession, login: Callable[..., AuthResult], *args: str
) -> AuthResult:
    """A fresh primary login through the provider, with the body's session length."""
    _fresh_login_only(body)
    return await call.run(
        login,
        *args,
        session_duration_minutes=body.session_duration_minutes,
        request_id=call.request_id,
    )


def _auth_fields(call: Call, result: AuthResult) -> dict[str, Any]:
    return {
        **member_fields(call, result.member, result.organization),
        **session_fields(call, result),
        "organization_id": result.organization.organization_id,
        "intermediate_session_token": result.intermediate_session_token,
        "member_authenticated": result.member_authenticated,
        "mfa_required": mfa_required_json(result.mfa_required),
    }


def _migrate(p: LocalProvider, body: PasswordMigrate) -> Any:
    existed = p.member_by_email(body.organization_id, body.email_address) is not None
    extra = body.model_dump(include={"name", "roles", "mfa_phone_number"}, exclude_none=True)
    member = p.passwords_migrate(
        body.organization_id, body.email_address, body.hash, body.hash_type, **extra
    )
    return (*with_org(p, member), not existed)


async def passwords_migrate(call: Call) -> MemberCreatedResponse:
    member, org, created = await call.run(_migrate, call.provider, call.body_as(PasswordMigrate))
    return MemberCreatedResponse(**member_fields(call, member, org), member_created=created)


async def passwords_authenticate(call: Call) -> PrimaryAuthenticateResponse:
    body = call.body_as(PasswordAuthenticate)
    login = call.provider.passwords_authenticate
    result = await _login(
        call, body, login, body.organization_id, body.email_address, body.password
    )
    return PrimaryAuthenticateResponse(**_auth_fields(call, result))


def _login_or_signup(p: LocalProvider, body: MagicLinkLoginOrSignup) -> Any:
    existed = p.member_by_email(body.organization_id, body.email_address) is not None
    member = p.magic_links_email_login_or_signup(body.organization_id, body.email_address)
    return (*with_org(p, member), not existed)


async def magic_links_email_login_or_signup(call: Call) -> MemberCreatedResponse:
    body = call.body_as(MagicLinkLoginOrSignup)
    member, org, created = await call.run(_login_or_signup, call.provider, body)
    return MemberCreatedResponse(**member_fields(call, member, org), member_created=created)


async def magic_links_authenticate(call: Call) -> MagicLinkAuthenticateResponse:
    body = call.body_as(MagicLinkAuthenticate)
    result = await _login(
        call, body, call.provider.magic_links_authenticate, body.magic_links_token
    )
    email_id = f"member-email-{result.member.member_id.removeprefix('member-')}"
    return MagicLinkAuthenticateResponse(
        **_auth_fields(call, result), method_id=email_id, reset_sessions=False
    )


ENDPOINTS = [
    Endpoint("POST", "/v1/b2b/passwords/migrate", "Import a member's password hash",
             passwords_migrate, MemberCreatedResponse, body=PasswordMigrate),
    Endpoint("POST", "/v1/b2b/passwords/authenticate", "Log in with email and password",
             passwords_authenticate, PrimaryAuthenticateResponse, body=PasswordAuthenticate),
    Endpoint("POST", "/v1/b2b/magic_links/email/login_or_signup",
             "Email a login (or signup) magic link", magic_links_email_login_or_signup,
             MemberCreatedResponse, body=MagicLinkLoginOrSignup),
    Endpoint("POST", "/v1/b2b/magic_links/authenticate", "Log in with a magic-link token",
             magic_links_authenticate, MagicLinkAuthenticateResponse,
             body=MagicLinkAuthenticate),
]  # fmt: skip
