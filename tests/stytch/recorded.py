"""Recorded Stytch B2B replies, each checked against the official SDK's response model.

Every builder validates its JSON with the `stytch` package's own pydantic model before
handing it out, so a recording that drifts from the real wire shape fails loudly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from stytch.b2b.models import otp_sms, passwords, recovery_codes, sessions, totps
from stytch.core.response_base import StytchErrorDetails

from mfa_fsm import Flow
from mfa_fsm_stytch import StytchDriver, StytchError

PROJECT_ID = "project-test-11111111-2222-3333-4444-555555555555"
SECRET = "secret-test-not-a-real-secret-0000000000="
ORG_ID = "organization-test-07971b06-ac8b-4cdb-9c15-63b17e653931"
MEMBER_ID = "member-test-32fc5024-9c09-4da3-bd2e-c9ce4da9375f"
TOTP_ID = "member-totp-test-41920359-8bbb-4fe8-8fa3-aaa83f35f02c"
PHONE = "+14155551234"
IST = "oNJB3foIA79dn_uNVMNghG_MGkKSLHnR65NsKXv0gZzY"
SESSION_TOKEN = "oFRmDIMpP-4xVHcJq1Rue4IJYn1ygGZfTjHtHyfzlyPZ"
SESSION_JWT = "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl"
NOW = 1714564800.0  # 2024-05-01T12:00:00Z


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def request_id(n: int = 1) -> str:
    return f"request-id-test-b05c992f-ebdc-489d-a754-c7e70ba1314{n}"


def organization(**over: Any) -> dict[str, Any]:
    org: dict[str, Any] = {
        "organization_id": ORG_ID,
        "organization_name": "Acme",
        "organization_logo_url": "",
        "organization_slug": "acme",
        "sso_jit_provisioning": "ALL_ALLOWED",
        "sso_jit_provisioning_allowed_connections": [],
        "sso_active_connections": [],
        "email_allowed_domains": [],
        "email_jit_provisioning": "NOT_ALLOWED",
        "email_invites": "ALL_ALLOWED",
        "auth_methods": "ALL_ALLOWED",
        "allowed_auth_methods": [],
        "mfa_policy": "REQUIRED_FOR_ALL",
        "rbac_email_implicit_role_assignments": [],
        "mfa_methods": "ALL_ALLOWED",
        "allowed_mfa_methods": [],
        "oauth_tenant_jit_provisioning": "NOT_ALLOWED",
        "claimed_email_domains": [],
        "first_party_connected_apps_allowed_type": "ALL_ALLOWED",
        "allowed_first_party_connected_apps": [],
        "third_party_connected_apps_allowed_type": "ALL_ALLOWED",
        "allowed_third_party_connected_apps": [],
        "custom_roles": [],
        "created_at": iso(NOW - 86400),
        "updated_at": iso(NOW - 86400),
    }
    return org | over


def member(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "organization_id": ORG_ID,
        "member_id": MEMBER_ID,
        "email_address": "ada@example.com",
        "status": "active",
        "name": "Ada",
        "sso_registrations": [],
        "is_breakglass": False,
        "member_password_id": "member-password-test-1",
        "oauth_registrations": [],
        "email_address_verified": True,
        "mfa_phone_number_verified": False,
        "is_admin": False,
        "totp_registration_id": "",
        "retired_email_addresses": [],
        "is_locked": False,
        "mfa_enrolled": False,
        "mfa_phone_number": "",
        "default_mfa_method": "",
        "roles": [
            {"role_id": "stytch_member", "sources": [{"type": "direct_assignment", "details": {}}]}
        ],
        "created_at": iso(NOW - 86400),
        "updated_at": iso(NOW - 86400),
    }
    return body | over


def enrolled_sms(**over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "mfa_enrolled": True,
        "mfa_phone_number": PHONE,
        "mfa_phone_number_verified": True,
        "default_mfa_method": "sms_otp",
    }
    return member(**(fields | over))


def enrolled_totp(**over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "mfa_enrolled": True,
        "totp_registration_id": TOTP_ID,
        "default_mfa_method": "totp",
    }
    return member(**(fields | over))


def factor(kind: str, delivery: str, at: float = NOW) -> dict[str, Any]:
    return {
        "type": kind,
        "delivery_method": delivery,
        "last_authenticated_at": iso(at),
        "created_at": iso(at),
        "updated_at": iso(at),
    }


PASSWORD = ("password", "knowledge")
OTP = ("otp", "sms")
TOTP = ("totp", "authenticator_app")
RECOVERY = ("recovery_codes", "recovery_code")


def member_session(*factors: dict[str, Any], **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "member_session_id": "member-session-test-8e3f5d6a-1111-2222-3333-444455556666",
        "member_id": MEMBER_ID,
        "started_at": iso(NOW),
        "last_accessed_at": iso(NOW),
        "expires_at": iso(NOW + 3600),
        "authentication_factors": list(factors),
        "organization_id": ORG_ID,
        "roles": ["stytch_member"],
        "organization_slug": "acme",
    }
    return body | over


def primary_reply(
    *,
    org: dict[str, Any] | None = None,
    mbr: dict[str, Any] | None = None,
    authenticated: bool = False,
    session: dict[str, Any] | None = None,
    initiated: str | None = None,
    n: int = 1,
) -> dict[str, Any]:
    """`passwords.authenticate` (magic links and exchange reply in the same shape)."""
    mbr = mbr or member()
    options = None
    if mbr["mfa_phone_number_verified"] or mbr["totp_registration_id"]:
        phone = mbr["mfa_phone_number"] if mbr["mfa_phone_number_verified"] else ""
        options = {"mfa_phone_number": phone, "totp_registration_id": mbr["totp_registration_id"]}
    body: dict[str, Any] = {
        "status_code": 200,
        "request_id": request_id(n),
        "member_id": mbr["member_id"],
        "organization_id": ORG_ID,
        "member": mbr,
        "organization": org or organization(),
        "session_token": SESSION_TOKEN if authenticated else "",
        "session_jwt": SESSION_JWT if authenticated else "",
        "intermediate_session_token": "" if authenticated else IST,
        "member_authenticated": authenticated,
        "member_session": session,
        "mfa_required": None
        if authenticated
        else {"member_options": options, "secondary_auth_initiated": initiated},
    }
    passwords.AuthenticateResponse.model_validate(body)
    return body


def session_reply(
    *factors: dict[str, Any], org: dict[str, Any] | None = None, mbr: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`sessions.authenticate`."""
    body = {
        "status_code": 200,
        "request_id": request_id(2),
        "member_session": member_session(*(factors or (factor(*PASSWORD, NOW - 60),))),
        "session_token": SESSION_TOKEN,
        "session_jwt": SESSION_JWT,
        "member": mbr or member(),
        "organization": org or organization(mfa_policy="OPTIONAL"),
    }
    sessions.AuthenticateResponse.model_validate(body)
    return body


def sent_reply(
    mbr: dict[str, Any] | None = None, org: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`otps.sms.send`."""
    mbr = mbr or member()
    body = {
        "status_code": 200,
        "request_id": request_id(3),
        "member_id": mbr["member_id"],
        "member": mbr,
        "organization": org or organization(),
    }
    otp_sms.SendResponse.model_validate(body)
    return body


def totp_created_reply(mbr: dict[str, Any] | None = None) -> dict[str, Any]:
    """`totps.create`."""
    body = {
        "status_code": 200,
        "request_id": request_id(4),
        "member_id": MEMBER_ID,
        "totp_registration_id": TOTP_ID,
        "secret": "JBSWY3DPEHPK3PXP",
        "qr_code": "data:image/png;base64,iVBORw0KGgo=",
        "recovery_codes": [f"ckss-2skx-ebo{i}" for i in range(10)],
        "member": mbr or member(),
        "organization": organization(),
    }
    totps.CreateResponse.model_validate(body)
    return body


def authenticated_reply(
    kind: str,
    mbr: dict[str, Any],
    *factors: dict[str, Any],
    org: dict[str, Any] | None = None,
    remaining: int = 9,
) -> dict[str, Any]:
    """`otps.sms.authenticate`, `totps.authenticate` or `recovery_codes.recover`."""
    body: dict[str, Any] = {
        "status_code": 200,
        "request_id": request_id(5),
        "member_id": mbr["member_id"],
        "member": mbr,
        "organization": org or organization(),
        "session_token": SESSION_TOKEN + "-new",
        "session_jwt": SESSION_JWT + "-new",
        "member_session": member_session(*factors),
    }
    if kind == "recovery":
        body["recovery_codes_remaining"] = remaining
        recovery_codes.RecoverResponse.model_validate(body)
    elif kind == "totp":
        totps.AuthenticateResponse.model_validate(body)
    else:
        otp_sms.AuthenticateResponse.model_validate(body)
    return body


def error_reply(status: int, error_type: str, message: str = "", n: int = 9) -> dict[str, Any]:
    body = {
        "status_code": status,
        "request_id": request_id(n),
        "error_type": error_type,
        "error_message": message or error_type.replace("_", " "),
        "error_url": f"https://stytch.com/docs/api/errors/{status}#{error_type}",
    }
    StytchErrorDetails.model_validate(body)
    return body


Item = tuple[int, dict[str, Any]] | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class Script:
    """A transport that answers with recordings, in order, and keeps every request."""

    replies: list[Item] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def add(self, *items: Item) -> Script:
        self.replies.extend(items)
        return self

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert self.replies, f"unexpected request {request.method} {request.url.path}"
        item = self.replies.pop(0)
        if isinstance(item, Exception):
            raise item
        if callable(item):
            return item(request)
        status, body = item
        return httpx.Response(status, json=body)

    @property
    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]

    def body(self, index: int = -1) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.requests[index].content)
        return data


def kept(error: BaseException) -> Flow:
    """The flow a driver error hands back for the caller to keep."""
    assert isinstance(error, StytchError) and error.flow is not None
    return error.flow


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


def driver(script: Script, clock: Clock | None = None, **kw: Any) -> StytchDriver:
    kw.setdefault("sleep", lambda seconds: None)
    return StytchDriver(
        PROJECT_ID,
        SECRET,
        transport=httpx.MockTransport(script.handler),
        clock=clock or Clock(),
        **kw,
    )
