"""Request bodies and query strings as the official SDK sends them, validated on the way in.

Only the fields this server acts on are declared; the SDK's other optional fields (locale,
telemetry ids, metadata, custom claims) are accepted and ignored, as an unknown optional
field would be by Stytch. Types are checked, so a number where a string belongs is a 400.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Id = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=1000)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
Method = Literal["sms_otp", "totp"]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Credentials(Body):
    """Exactly one of these must be set; the provider refuses any other combination."""

    intermediate_session_token: Token | None = None
    session_token: Token | None = None
    session_jwt: Token | None = None


class OrganizationCreate(Body):
    organization_name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    organization_slug: Annotated[str, StringConstraints(min_length=2, max_length=128)]
    mfa_policy: Literal["REQUIRED_FOR_ALL", "OPTIONAL"] | None = None
    mfa_methods: Literal["ALL_ALLOWED", "RESTRICTED"] | None = None
    allowed_mfa_methods: list[Method] | None = None


class OrganizationUpdate(Body):
    organization_name: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    mfa_policy: Literal["REQUIRED_FOR_ALL", "OPTIONAL"] | None = None
    mfa_methods: Literal["ALL_ALLOWED", "RESTRICTED"] | None = None
    allowed_mfa_methods: list[Method] | None = None


class MemberFields(Body):
    name: Text | None = None
    is_breakglass: bool | None = None
    mfa_phone_number: Annotated[str, StringConstraints(max_length=40)] | None = None
    mfa_enrolled: bool | None = None
    roles: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] | None = None


class MemberCreate(MemberFields):
    email_address: Annotated[str, StringConstraints(min_length=3, max_length=254)]


class MemberUpdate(MemberFields):
    default_mfa_method: Literal["sms_otp", "totp", ""] | None = None


class Query(BaseModel):
    """Query strings: the SDK repeats path parameters here; anything else is refused."""

    model_config = ConfigDict(extra="forbid")


class OrganizationQuery(Query):
    organization_id: Id | None = None


class MemberQuery(OrganizationQuery):
    member_id: Id | None = None
    email_address: Annotated[str, StringConstraints(min_length=3, max_length=254)] | None = None


class PasswordMigrate(Body):
    organization_id: Id
    email_address: Annotated[str, StringConstraints(min_length=3, max_length=254)]
    hash: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    hash_type: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    name: Text | None = None
    roles: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] | None = None
    mfa_phone_number: Annotated[str, StringConstraints(max_length=40)] | None = None


class PrimaryNoSession(Body):
    """Primary authentication starts a login; adding to an existing session is not served."""

    session_duration_minutes: Annotated[int, Field(ge=5, le=527040)] | None = None
    intermediate_session_token: Token | None = None
    session_token: Token | None = None
    session_jwt: Token | None = None


class PasswordAuthenticate(PrimaryNoSession):
    organization_id: Id
    email_address: Annotated[str, StringConstraints(min_length=3, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class MagicLinkLoginOrSignup(Body):
    organization_id: Id
    email_address: Annotated[str, StringConstraints(min_length=3, max_length=254)]


class MagicLinkAuthenticate(PrimaryNoSession):
    magic_links_token: Token


class OtpSmsSend(Credentials):
    organization_id: Id
    member_id: Id
    mfa_phone_number: Annotated[str, StringConstraints(max_length=40)] | None = None


class CodeAnswer(Credentials):
    organization_id: Id
    member_id: Id
    code: Annotated[str, StringConstraints(max_length=20)]
    set_mfa_enrollment: Literal["enroll", "unenroll"] | None = None
    set_default_mfa: bool | None = None
    session_duration_minutes: Annotated[int, Field(ge=5, le=527040)] | None = None


class TotpCreate(Credentials):
    organization_id: Id
    member_id: Id
    expiration_minutes: int | None = None


class TotpMigrate(Body):
    organization_id: Id
    member_id: Id
    secret: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    recovery_codes: list[Annotated[str, StringConstraints(max_length=40)]] = Field(max_length=50)


class RecoveryCodeRecover(Credentials):
    organization_id: Id
    member_id: Id
    recovery_code: Annotated[str, StringConstraints(max_length=40)]
    session_duration_minutes: Annotated[int, Field(ge=5, le=527040)] | None = None


class MemberRef(Body):
    organization_id: Id
    member_id: Id


class SessionAuthenticate(Body):
    session_token: Token | None = None
    session_jwt: Token | None = None
    session_duration_minutes: Annotated[int, Field(ge=5, le=527040)] | None = None


class SessionRevoke(Body):
    member_session_id: Id | None = None
    session_token: Token | None = None
    session_jwt: Token | None = None


class MemberRefQuery(Query):
    organization_id: Id
    member_id: Id


class RecoveryCodesQuery(OrganizationQuery):
    member_id: Id | None = None


class JwksQuery(Query):
    project_id: Id | None = None


class OutboxQuery(Query):
    kind: Literal["sms", "email"] | None = None
    to: Annotated[str, StringConstraints(min_length=1, max_length=254)] | None = None
