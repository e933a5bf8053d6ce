"""Success bodies, one per endpoint, named after the SDK's response models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from .wire import MfaRequired, WireMember, WireMemberSession, WireOrganization


class Ok(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status_code: int
    request_id: str


class OrganizationResponse(Ok):
    organization: WireOrganization


class MemberResponse(Ok):
    member_id: str
    member: WireMember
    organization: WireOrganization


class MemberCreatedResponse(MemberResponse):
    member_created: bool


class PrimaryAuthenticateResponse(MemberResponse):
    organization_id: str
    session_token: str
    session_jwt: str
    intermediate_session_token: str
    member_authenticated: bool
    member_session: WireMemberSession | None
    mfa_required: MfaRequired | None
    primary_required: None = None


class MagicLinkAuthenticateResponse(PrimaryAuthenticateResponse):
    method_id: str
    reset_sessions: bool


class MfaAuthenticateResponse(MemberResponse):
    session_token: str
    session_jwt: str
    member_session: WireMemberSession | None


class RecoverResponse(MfaAuthenticateResponse):
    recovery_codes_remaining: int


class TotpCreateResponse(MemberResponse):
    totp_registration_id: str
    secret: str
    qr_code: str
    recovery_codes: list[str]


class TotpMigrateResponse(MemberResponse):
    totp_registration_id: str
    recovery_codes: list[str]


class RecoveryCodesResponse(MemberResponse):
    recovery_codes: list[str]


class RecoveryCodesGetResponse(RecoveryCodesResponse):
    recovery_codes_remaining: int


class SessionAuthenticateResponse(Ok):
    member_session: WireMemberSession
    session_token: str
    session_jwt: str
    member: WireMember
    organization: WireOrganization


class SessionsGetResponse(Ok):
    member_sessions: list[WireMemberSession]


class EmptyResponse(Ok):
    pass


class Jwk(BaseModel):
    kty: str
    use: str
    key_ops: list[str]
    alg: str
    kid: str
    x5c: list[str]
    x5tS256: str
    n: str
    e: str


class JwksResponse(Ok):
    keys: list[Jwk]


class OutboxMessage(BaseModel):
    kind: Literal["sms", "email"]
    to: str
    body: str
    code: str | None
    token: str | None
    sent_at: str


class OutboxResponse(BaseModel):
    messages: list[OutboxMessage]
