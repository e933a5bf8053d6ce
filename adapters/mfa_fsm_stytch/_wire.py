"""Stytch B2B's wire format: the requests the driver makes and the replies it reads.

Paths and fields follow the official SDK (`stytch.b2b.api`, `stytch.b2b.models`). The
reply models read only what the driver needs and ignore the rest, so a reply that
carries more than the SDK knows still parses; one that lacks a needed field does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mfa_fsm import AuthenticationFactor, MemberFactors, Method, MfaMethods, MfaPolicy, OrgPolicy

TEST_URL = "https://test.stytch.com"
LIVE_URL = "https://api.stytch.com"

UNKNOWN_RECOVERY_CODES = 1
"""Stytch does not report a member's recovery codes at login (only `recovery_codes.get`,
which returns the codes themselves). A member with TOTP is assumed to have some; Stytch
judges the code itself."""


@dataclass(frozen=True)
class Call:
    """One HTTP request. `idempotent`: repeating it cannot spend, send or create twice."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    idempotent: bool = False
    name: str = ""


@dataclass(frozen=True)
class Reply:
    """One HTTP response, decoded."""

    status_code: int
    body: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None

    @property
    def request_id(self) -> str:
        value = self.body.get("request_id", "")
        return value if isinstance(value, str) else ""

    @property
    def error_type(self) -> str | None:
        value = self.body.get("error_type", self.body.get("error"))
        return value if isinstance(value, str) else None


def base_url_for(base_url: str | None, project_id: str) -> str:
    """`test`, `live`, any URL, or None (from the project id, as the SDK decides)."""
    if base_url is None:
        base_url = "live" if project_id.startswith("project-live-") else "test"
    if base_url == "test":
        return TEST_URL
    if base_url == "live":
        return LIVE_URL
    if not base_url.startswith(("https://", "http://")):
        raise ValueError("base_url must be 'test', 'live' or an http(s) URL")
    return base_url.rstrip("/")


def _compact(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


# ---------------------------------------------------------------- requests


def magic_links_authenticate(token: str, session_duration_minutes: int | None) -> Call:
    body = _compact(magic_links_token=token, session_duration_minutes=session_duration_minutes)
    return Call("POST", "/v1/b2b/magic_links/authenticate", body, name="magic_links.authenticate")


def passwords_authenticate(
    organization_id: str, email_address: str, password: str, session_duration_minutes: int | None
) -> Call:
    body = _compact(
        organization_id=organization_id,
        email_address=email_address,
        password=password,
        session_duration_minutes=session_duration_minutes,
    )
    return Call("POST", "/v1/b2b/passwords/authenticate", body, name="passwords.authenticate")


def sessions_exchange(
    organization_id: str, creds: dict[str, str], session_duration_minutes: int | None
) -> Call:
    body = _compact(
        organization_id=organization_id, session_duration_minutes=session_duration_minutes
    )
    return Call("POST", "/v1/b2b/sessions/exchange", body | creds, name="sessions.exchange")


def sessions_authenticate(creds: dict[str, str]) -> Call:
    """Safe to repeat: it reads the session (and stamps its last access)."""
    return Call(
        "POST",
        "/v1/b2b/sessions/authenticate",
        creds,
        idempotent=True,
        name="sessions.authenticate",
    )


def sessions_revoke(session_token: str) -> Call:
    """Revoking twice revokes once."""
    body = {"session_token": session_token}
    return Call("POST", "/v1/b2b/sessions/revoke", body, idempotent=True, name="sessions.revoke")


def otps_sms_send(subject: dict[str, str], phone: str | None, creds: dict[str, str]) -> Call:
    body = subject | _compact(mfa_phone_number=phone) | creds
    return Call("POST", "/v1/b2b/otps/sms/send", body, name="otps.sms.send")


def totps_create(subject: dict[str, str], minutes: int | None, creds: dict[str, str]) -> Call:
    body = subject | _compact(expiration_minutes=minutes) | creds
    return Call("POST", "/v1/b2b/totp", body, name="totps.create")


def code_authenticate(
    path: str,
    name: str,
    subject: dict[str, str],
    creds: dict[str, str],
    answer: dict[str, str],
    *,
    set_mfa_enrollment: str | None = None,
    set_default_mfa: bool | None = None,
    session_duration_minutes: int | None = None,
) -> Call:
    body = (
        subject
        | answer
        | creds
        | _compact(
            set_mfa_enrollment=set_mfa_enrollment,
            set_default_mfa=set_default_mfa,
            session_duration_minutes=session_duration_minutes,
        )
    )
    return Call("POST", path, body, name=name)


SMS_AUTHENTICATE = "/v1/b2b/otps/sms/authenticate"
TOTP_AUTHENTICATE = "/v1/b2b/totp/authenticate"
RECOVER = "/v1/b2b/recovery_codes/recover"


def delete_factor(subject: dict[str, str], method: Method) -> Call:
    """Removing a factor that is already gone leaves it gone: safe to repeat."""
    org, member = subject["organization_id"], subject["member_id"]
    path = (
        f"/v1/b2b/organizations/{org}/members/mfa_phone_numbers/{member}"
        if method is Method.SMS_OTP
        else f"/v1/b2b/organizations/{org}/members/{member}/totp"
    )
    return Call("DELETE", path, None, idempotent=True, name=f"members.delete_{method.value}")


# ---------------------------------------------------------------- replies


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Convertible(_Wire):
    """A wire object the engine takes in its own type: a reply that parses converts."""

    def to_engine(self) -> BaseModel:
        raise NotImplementedError

    @model_validator(mode="after")
    def _converts(self) -> _Convertible:
        try:
            self.to_engine()
        except ValidationError as exc:
            where = ".".join(str(p) for p in exc.errors()[0]["loc"])
            raise ValueError(f"not acceptable to the engine: {where}") from None
        return self


class WireFactor(_Convertible):
    type: str
    delivery_method: str
    last_authenticated_at: datetime | None = None

    def to_engine(self) -> AuthenticationFactor:
        at = _epoch(self.last_authenticated_at) if self.last_authenticated_at else 0.0
        return AuthenticationFactor(
            type=self.type, delivery_method=self.delivery_method, last_authenticated_at=at
        )


class WireSession(_Wire):
    member_session_id: str = Field(min_length=1)
    member_id: str
    organization_id: str
    started_at: datetime | None = None
    expires_at: datetime | None = None
    authentication_factors: list[WireFactor] = Field(default_factory=list)


class WireRole(_Wire):
    role_id: str


class WireMember(_Convertible):
    member_id: str = Field(min_length=1)
    organization_id: str = ""
    email_address: str = ""
    mfa_enrolled: bool = False
    mfa_phone_number: str = ""
    mfa_phone_number_verified: bool = False
    totp_registration_id: str = ""
    default_mfa_method: str = ""
    is_breakglass: bool = False
    is_locked: bool = False
    lock_expires_at: datetime | None = None
    roles: list[WireRole] = Field(default_factory=list)

    def to_engine(self) -> MemberFactors:
        default = self.default_mfa_method if self.default_mfa_method in _METHODS else None
        return MemberFactors(
            member_id=self.member_id,
            mfa_enrolled=self.mfa_enrolled,
            mfa_phone_number=self.mfa_phone_number or None,
            mfa_phone_number_verified=self.mfa_phone_number_verified,
            totp_registration_id=self.totp_registration_id or None,
            default_mfa_method=Method(default) if default else None,
            recovery_codes_remaining=UNKNOWN_RECOVERY_CODES if self.totp_registration_id else 0,
            is_breakglass=self.is_breakglass,
            roles=tuple(r.role_id for r in self.roles),
            locked_until=_epoch(self.lock_expires_at)
            if self.is_locked and self.lock_expires_at
            else None,
        )


class WireOrganization(_Convertible):
    organization_id: str = Field(min_length=1)
    organization_slug: str = ""
    mfa_policy: MfaPolicy
    mfa_methods: MfaMethods = MfaMethods.ALL_ALLOWED
    allowed_mfa_methods: list[str] = Field(default_factory=list)

    def to_engine(self) -> OrgPolicy:
        allowed = tuple(Method(m) for m in self.allowed_mfa_methods if m in _METHODS)
        return OrgPolicy(
            organization_id=self.organization_id,
            mfa_policy=self.mfa_policy,
            mfa_methods=self.mfa_methods,
            allowed_mfa_methods=allowed,
        )


class WireMemberOptions(_Wire):
    mfa_phone_number: str = ""
    totp_registration_id: str = ""


class WireMfaRequired(_Wire):
    member_options: WireMemberOptions | None = None
    secondary_auth_initiated: str | None = None


class _Subject(_Wire):
    request_id: str = ""
    member: WireMember
    organization: WireOrganization


class PrimaryReply(_Subject):
    """Magic link, password and session exchange authenticate replies."""

    member_authenticated: bool
    intermediate_session_token: str = ""
    session_token: str = ""
    session_jwt: str = ""
    member_session: WireSession | None = None
    mfa_required: WireMfaRequired | None = None


class SessionReply(_Subject):
    member_session: WireSession
    session_token: str = ""
    session_jwt: str = ""


class SentReply(_Subject):
    pass


class TotpCreatedReply(_Subject):
    totp_registration_id: str = Field(min_length=1)
    secret: str
    qr_code: str
    recovery_codes: list[str] = Field(default_factory=list)


class AuthenticatedReply(_Subject):
    """The reply to a code authenticate or a recovery: a session."""

    session_token: str = ""
    session_jwt: str = ""
    member_session: WireSession | None = None
    recovery_codes_remaining: int | None = None


_METHODS = frozenset(m.value for m in Method)
R = TypeVar("R", bound=_Wire)


class MalformedReply(ValueError):
    """A 2xx reply that does not have the shape the endpoint promises."""


def parse(model: type[R], reply: Reply) -> R:
    try:
        return model.model_validate(reply.body)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})[:5]
        raise MalformedReply(f"{model.__name__}: bad or missing {', '.join(fields)}") from None


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()
