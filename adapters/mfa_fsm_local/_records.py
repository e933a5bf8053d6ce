"""What the provider stores: organizations, members and the short-lived MFA records.

Secrets are never stored in the clear: codes and tokens as keyed hashes, TOTP secrets
encrypted. Field names follow Stytch's objects so the HTTP server maps them one to one.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from mfa_fsm import AuthenticationFactor, Method, MfaMethods, MfaPolicy


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Organization(Record):
    organization_id: str
    organization_name: str = Field(min_length=1, max_length=128)
    organization_slug: str = Field(min_length=2, max_length=128, pattern=r"^[A-Za-z0-9._~-]+$")
    mfa_policy: MfaPolicy = MfaPolicy.OPTIONAL
    mfa_methods: MfaMethods = MfaMethods.ALL_ALLOWED
    allowed_mfa_methods: list[Method] = Field(default_factory=list)
    created_at: float
    updated_at: float


class Member(Record):
    organization_id: str
    member_id: str
    email_address: str = Field(min_length=3, max_length=254)
    name: str = ""
    status: str = "active"
    email_address_verified: bool = False
    mfa_enrolled: bool = False
    mfa_phone_number: str = ""
    mfa_phone_number_verified: bool = False
    totp_registration_id: str = ""
    default_mfa_method: str = ""
    is_breakglass: bool = False
    roles: list[str] = Field(default_factory=list)
    password_hash: str = ""
    member_password_id: str = ""
    failed_attempts: int = 0
    lock_created_at: float | None = None
    lock_expires_at: float | None = None
    created_at: float
    updated_at: float

    def is_locked(self, now: float) -> bool:
        return self.lock_expires_at is not None and self.lock_expires_at > now


class SmsCode(Record):
    """The member's one active SMS code; a new send replaces it."""

    code_hash: str
    phone_number: str
    expires_at: float
    sent_at: float
    spent: bool = False  # kept until replaced or expired, so a replay is known as one


class TotpRegistration(Record):
    totp_registration_id: str
    member_id: str
    organization_id: str
    secret_enc: str
    verified: bool = False
    expires_at: float | None = None
    last_step: int | None = None
    recovery_code_hashes: list[str] = Field(default_factory=list)
    created_at: float


class IntermediateSession(Record):
    """An IST, keyed by the hash of its token, bound to one org + member + flow."""

    organization_id: str
    member_id: str
    flow_id: str
    expires_at: float
    consumed: bool = False


class Session(Record):
    member_session_id: str
    organization_id: str
    member_id: str
    token_hash: str
    authentication_factors: list[AuthenticationFactor]
    started_at: float
    last_accessed_at: float
    expires_at: float
    revoked: bool = False


class MagicLink(Record):
    organization_id: str
    member_id: str
    expires_at: float
    used: bool = False
