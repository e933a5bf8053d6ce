"""Second factors: SMS OTP, TOTP and recovery codes, each one provider call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mfa_fsm_local.provider import AuthResult, LocalProvider

from .bodies import (
    CodeAnswer,
    MemberRef,
    OtpSmsSend,
    RecoveryCodeRecover,
    RecoveryCodesQuery,
    TotpCreate,
    TotpMigrate,
)
from .endpoint import Call, Endpoint
from .render import member_fields, member_response, mfa_response, session_fields, with_org
from .responses import (
    MemberResponse,
    MfaAuthenticateResponse,
    RecoverResponse,
    RecoveryCodesGetResponse,
    RecoveryCodesResponse,
    TotpCreateResponse,
    TotpMigrateResponse,
)

MASKED_RECOVERY_CODE = "****-****-****"


def _creds(body: Any) -> dict[str, str | None]:
    return {
        "intermediate_session_token": body.intermediate_session_token,
        "session_token": body.session_token,
        "session_jwt": body.session_jwt,
    }


async def otps_sms_send(call: Call) -> MemberResponse:
    body = call.body_as(OtpSmsSend)
    result = await call.run(
        call.provider.otps_sms_send,
        body.organization_id,
        body.member_id,
        mfa_phone_number=body.mfa_phone_number or None,
        request_id=call.request_id,
        **_creds(body),
    )
    return member_response(call, result.member, result.organization)


async def _check_code(call: Call, check: Callable[..., AuthResult]) -> MfaAuthenticateResponse:
    """An SMS or TOTP code: the same body, the same provider arguments, the same reply."""
    body = call.body_as(CodeAnswer)
    result = await call.run(
        check,
        body.organization_id,
        body.member_id,
        body.code,
        set_mfa_enrollment=body.set_mfa_enrollment,
        set_default_mfa=bool(body.set_default_mfa),
        session_duration_minutes=body.session_duration_minutes,
        request_id=call.request_id,
        **_creds(body),
    )
    return mfa_response(call, result)


async def otps_sms_authenticate(call: Call) -> MfaAuthenticateResponse:
    return await _check_code(call, call.provider.otps_sms_authenticate)


async def totps_create(call: Call) -> TotpCreateResponse:
    body = call.body_as(TotpCreate)
    p = call.provider
    result = await call.run(
        p.totps_create,
        body.organization_id,
        body.member_id,
        expiration_minutes=60 if body.expiration_minutes is None else body.expiration_minutes,
        request_id=call.request_id,
        **_creds(body),
    )
    totp = result.totp or {}
    return TotpCreateResponse(
        **member_fields(call, result.member, result.organization),
        totp_registration_id=str(totp.get("totp_registration_id", "")),
        secret=str(totp.get("secret", "")),
        qr_code=str(totp.get("qr_code", "")),
        recovery_codes=list(totp.get("recovery_codes", [])),
    )


async def totps_authenticate(call: Call) -> MfaAuthenticateResponse:
    return await _check_code(call, call.provider.totps_authenticate)


def _migrate(p: LocalProvider, body: TotpMigrate) -> Any:
    member = p.totps_migrate(
        body.organization_id, body.member_id, body.secret, list(body.recovery_codes)
    )
    return with_org(p, member)


async def totps_migrate(call: Call) -> TotpMigrateResponse:
    body = call.body_as(TotpMigrate)
    member, org = await call.run(_migrate, call.provider, body)
    return TotpMigrateResponse(
        **member_fields(call, member, org),
        totp_registration_id=member.totp_registration_id,
        recovery_codes=list(body.recovery_codes),
    )


async def recovery_codes_recover(call: Call) -> RecoverResponse:
    body = call.body_as(RecoveryCodeRecover)
    result, left = await call.run(
        call.provider.recovery_codes_recover,
        body.organization_id,
        body.member_id,
        body.recovery_code,
        session_duration_minutes=body.session_duration_minutes,
        request_id=call.request_id,
        **_creds(body),
    )
    return RecoverResponse(
        **member_fields(call, result.member, result.organization),
        **session_fields(call, result),
        recovery_codes_remaining=left,
    )


def _get_codes(p: LocalProvider, organization_id: str, member_id: str) -> Any:
    left = p.recovery_codes_get(organization_id, member_id)
    return (*with_org(p, p.members_get(organization_id, member_id)), left)


async def recovery_codes_get(call: Call) -> RecoveryCodesGetResponse:
    """Codes are stored hashed only, so each unused code is listed masked."""
    member, org, left = await call.run(
        _get_codes, call.provider, call.path("organization_id"), call.path("member_id")
    )
    return RecoveryCodesGetResponse(
        **member_fields(call, member, org),
        recovery_codes=[MASKED_RECOVERY_CODE] * left,
        recovery_codes_remaining=left,
    )


def _rotate(p: LocalProvider, body: MemberRef) -> Any:
    codes = p.recovery_codes_rotate(body.organization_id, body.member_id)
    return (*with_org(p, p.members_get(body.organization_id, body.member_id)), codes)


async def recovery_codes_rotate(call: Call) -> RecoveryCodesResponse:
    member, org, codes = await call.run(_rotate, call.provider, call.body_as(MemberRef))
    return RecoveryCodesResponse(**member_fields(call, member, org), recovery_codes=codes)


ENDPOINTS = [
    Endpoint("POST", "/v1/b2b/otps/sms/send", "Send an SMS one-time code",
             otps_sms_send, MemberResponse, body=OtpSmsSend),
    Endpoint("POST", "/v1/b2b/otps/sms/authenticate", "Check an SMS one-time code",
             otps_sms_authenticate, MfaAuthenticateResponse, body=CodeAnswer),
    Endpoint("POST", "/v1/b2b/totp", "Create a TOTP registration", totps_create,
             TotpCreateResponse, body=TotpCreate),
    Endpoint("POST", "/v1/b2b/totp/authenticate", "Check a TOTP code", totps_authenticate,
             MfaAuthenticateResponse, body=CodeAnswer),
    Endpoint("POST", "/v1/b2b/totp/migrate", "Import a TOTP secret and recovery codes",
             totps_migrate, TotpMigrateResponse, body=TotpMigrate),
    Endpoint("POST", "/v1/b2b/recovery_codes/recover", "Log in with a recovery code",
             recovery_codes_recover, RecoverResponse, body=RecoveryCodeRecover),
    Endpoint("GET", "/v1/b2b/recovery_codes/{organization_id}/{member_id}",
             "How many recovery codes are left", recovery_codes_get,
             RecoveryCodesGetResponse, query=RecoveryCodesQuery),
    Endpoint("POST", "/v1/b2b/recovery_codes/rotate", "Replace all recovery codes",
             recovery_codes_rotate, RecoveryCodesResponse, body=MemberRef),
]  # fmt: skip
