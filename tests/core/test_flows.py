"""Every flow of the seeds, walked through the engine with invariants checked at each step."""

from __future__ import annotations

import pytest

from mfa_fsm import (
    Aborted,
    AuthenticationFactor,
    ConsumeIst,
    CreateTotpRegistration,
    FactorRejected,
    FactorVerified,
    IssueSession,
    LockMember,
    MethodChosen,
    RecordEnrollment,
    RecordFailedAttempt,
    RecoveryCodeVerified,
    RemoveFactor,
    RevokeSession,
    SendSmsOtp,
    SetDefaultMethod,
    SetMfaEnrollment,
    SmsSent,
    TimePassed,
    TotpRegistrationCreated,
    member_options,
    needs_step_up,
    offered_methods,
    satisfies,
    secondary_auth_initiated,
)

from .helpers import MEMBER, PASSWORD, PHONE, T0, TOTP_ID, Walk, member, org

REQUIRED = {"mfa_policy": "REQUIRED_FOR_ALL"}
ENROLLED_SMS = {
    "mfa_enrolled": True,
    "mfa_phone_number": PHONE,
    "mfa_phone_number_verified": True,
    "default_mfa_method": "sms_otp",
}
ENROLLED_TOTP = {
    "mfa_enrolled": True,
    "totp_registration_id": TOTP_ID,
    "default_mfa_method": "totp",
    "recovery_codes_remaining": 10,
}


def kinds(step: object) -> list[str]:
    return [e.kind for e in step.effects]  # type: ignore[attr-defined]


def test_required_enrollment_by_sms_records_factor_and_issues_two_factor_session() -> None:
    w = Walk()
    step = w.login(org(**REQUIRED), member())
    assert step.flow.state == "primary_done"
    assert member_options(step.flow) is None
    assert secondary_auth_initiated(step) is None
    assert [m.value for m in offered_methods(step.flow)] == ["sms_otp", "totp"]

    step = w.ev(MethodChosen, method="sms_otp", phone_number=PHONE)
    assert step.flow.state == "enrolling_sms"
    assert step.of(SendSmsOtp)[0].phone_number == PHONE
    w.ev(SmsSent, phone_number=PHONE, code_expires_at=w.now + 120)
    step = w.ev(FactorVerified, method="sms_otp", factor_id=PHONE)

    assert step.flow.state == "authenticated"
    assert kinds(step) == [
        "consume_ist",
        "record_enrollment",
        "set_mfa_enrollment",
        "set_default_method",
        "clear_failed_attempts",
        "issue_session",
        "audit",
    ]
    assert step.of(RecordEnrollment)[0].factor_id == PHONE
    factors = step.of(IssueSession)[0].authentication_factors
    assert [(f.type, f.delivery_method) for f in factors] == [
        ("password", "knowledge"),
        ("otp", "sms"),
    ]


def test_required_enrollment_by_totp() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member())
    step = w.ev(MethodChosen, method="totp")
    assert step.flow.state == "enrolling_totp"
    assert step.of(CreateTotpRegistration)
    w.ev(
        TotpRegistrationCreated, totp_registration_id=TOTP_ID, registration_expires_at=w.now + 3600
    )
    step = w.ev(FactorVerified, method="totp", factor_id=TOTP_ID)
    assert step.flow.state == "authenticated"
    assert step.of(RecordEnrollment)[0].method == "totp"
    assert [f.type for f in step.of(IssueSession)[0].authentication_factors] == ["password", "totp"]


def test_returning_member_with_sms_default_gets_code_at_once() -> None:
    w = Walk()
    step = w.login(org(**REQUIRED), member(**ENROLLED_SMS))
    assert step.flow.state == "challenged"
    assert secondary_auth_initiated(step) == "sms_otp"
    assert step.of(SendSmsOtp)[0].phone_number == PHONE
    assert member_options(step.flow) == {"mfa_phone_number": PHONE, "totp_registration_id": ""}
    w.ev(SmsSent, phone_number=PHONE, code_expires_at=w.now + 120)
    step = w.ev(FactorVerified, method="sms_otp", factor_id=PHONE)
    assert step.flow.state == "authenticated"
    assert not step.of(RecordEnrollment)
    assert step.of(ConsumeIst)


def test_returning_member_with_totp_answers_without_sms() -> None:
    w = Walk()
    step = w.login(org(**REQUIRED), member(**ENROLLED_TOTP))
    assert step.flow.state == "challenged"
    assert secondary_auth_initiated(step) is None
    step = w.ev(FactorVerified, method="totp", factor_id=TOTP_ID)
    assert step.flow.state == "authenticated"


def test_recovery_code_answers_a_challenge() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member(**ENROLLED_TOTP))
    step = w.ev(RecoveryCodeVerified, recovery_codes_remaining=9)
    assert step.flow.state == "authenticated"
    assert step.of(IssueSession)[0].authentication_factors[-1].type == "recovery_codes"


def test_sms_challenge_needs_a_sent_code() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member(**ENROLLED_SMS, totp_registration_id=TOTP_ID))
    step = w.ev(FactorVerified, method="sms_otp", factor_id=PHONE)
    assert step.error is not None and step.error.error_type == "otp_code_not_found"
    assert step.flow.state == "challenged"


def test_optional_not_enrolled_gets_session_with_primary_only() -> None:
    w = Walk()
    step = w.login(org(), member())
    assert step.flow.state == "authenticated"
    assert [f.type for f in step.of(IssueSession)[0].authentication_factors] == ["password"]


def test_optional_but_enrolled_is_challenged() -> None:
    w = Walk()
    step = w.login(org(), member(**ENROLLED_SMS))
    assert step.flow.state == "challenged"
    assert secondary_auth_initiated(step) == "sms_otp"


def test_optional_with_verified_phone_but_unenrolled_is_not_challenged() -> None:
    w = Walk()
    step = w.login(org(), member(**(ENROLLED_SMS | {"mfa_enrolled": False})))
    assert step.flow.state == "authenticated"


def test_optional_enrollment_from_session_sets_mfa_enrolled_and_rotates() -> None:
    w = Walk()
    step = w.present(org(), member(), "enroll")
    assert step.flow.state == "primary_done"
    w.ev(MethodChosen, method="sms_otp", phone_number=PHONE)
    w.ev(SmsSent, phone_number=PHONE, code_expires_at=w.now + 120)
    step = w.ev(FactorVerified, method="sms_otp", factor_id=PHONE, set_mfa_enrollment="enroll")
    assert step.flow.state == "authenticated"
    assert step.of(SetMfaEnrollment)[0].enrolled is True
    kinds_ = kinds(step)
    assert kinds_.index("revoke_session") < kinds_.index("issue_session")
    assert step.of(RevokeSession)[0].session_id == "session-1"
    assert not step.of(ConsumeIst)


def test_optional_factor_without_set_mfa_enrollment_is_for_step_up_only() -> None:
    """Seed 002: leaving out `set_mfa_enrollment` adds the factor without enrolling."""
    w = Walk()
    w.present(org(), member(), "enroll")
    w.ev(MethodChosen, method="sms_otp", phone_number=PHONE)
    w.ev(SmsSent, phone_number=PHONE, code_expires_at=w.now + 120)
    step = w.ev(FactorVerified, method="sms_otp", factor_id=PHONE)
    assert step.flow.state == "authenticated"
    assert step.of(RecordEnrollment) and not step.of(SetMfaEnrollment)


def test_unenroll_under_optional_needs_a_second_factor_then_clears_the_flag() -> None:
    w = Walk()
    step = w.present(org(), member(**ENROLLED_SMS), "unenroll")
    assert step.flow.state == "challenged"
    assert not step.of(SendSmsOtp)  # from a session, the caller asks for the code
    step = w.ev(MethodChosen, method="sms_otp")
    assert step.of(SendSmsOtp)[0].phone_number == PHONE
    w.ev(SmsSent, phone_number=PHONE, code_expires_at=w.now + 120)
    step = w.ev(FactorVerified, method="sms_otp", factor_id=PHONE)
    assert step.flow.state == "authenticated"
    assert step.of(SetMfaEnrollment)[0].enrolled is False


def test_unenroll_of_last_factor_refused_under_required() -> None:
    w = Walk()
    step = w.present(org(**REQUIRED), member(**ENROLLED_SMS), "unenroll", unenroll_method="sms_otp")
    assert step.flow.state == "failed"
    assert step.error is not None and step.error.error_type == "cannot_unenroll_required_mfa"


def test_unenroll_of_one_of_two_factors_allowed_under_required() -> None:
    w = Walk()
    both = member(**ENROLLED_SMS, totp_registration_id=TOTP_ID)
    session = (
        PASSWORD,
        AuthenticationFactor(
            type="totp", delivery_method="authenticator_app", last_authenticated_at=T0
        ),
    )
    w.present(org(**REQUIRED), both, "unenroll", session_factors=session, unenroll_method="sms_otp")
    step = w.ev(FactorVerified, method="totp", factor_id=TOTP_ID)
    assert step.flow.state == "authenticated"
    assert step.of(RemoveFactor)[0].method == "sms_otp"
    assert not step.of(SetMfaEnrollment)


def test_adding_second_method_and_making_it_default() -> None:
    w = Walk()
    session = (
        PASSWORD,
        AuthenticationFactor(type="otp", delivery_method="sms", last_authenticated_at=T0),
    )
    step = w.present(org(**REQUIRED), member(**ENROLLED_SMS), "add_method", session_factors=session)
    assert step.flow.state == "primary_done"
    w.ev(MethodChosen, method="totp")
    w.ev(
        TotpRegistrationCreated, totp_registration_id=TOTP_ID, registration_expires_at=w.now + 3600
    )
    step = w.ev(FactorVerified, method="totp", factor_id=TOTP_ID, set_default_mfa=True)
    assert step.flow.state == "authenticated"
    assert step.of(SetDefaultMethod)[0].method == "totp"
    assert not step.of(SetMfaEnrollment)
    assert [f.type for f in step.of(IssueSession)[0].authentication_factors] == ["password", "totp"]


def test_adding_a_method_needs_a_session_with_a_second_factor() -> None:
    w = Walk()
    step = w.present(org(**REQUIRED), member(**ENROLLED_SMS), "add_method")
    assert step.flow.state == "failed"
    assert step.error is not None and step.error.error_type == "unauthorized_action"


def test_enrolled_member_cannot_enroll_new_factor_from_ist() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member(**ENROLLED_SMS))
    step = w.ev(MethodChosen, method="totp")
    assert not step.accepted and step.error is not None
    assert step.error.error_type == "unauthorized_action"
    step = w.ev(MethodChosen, method="sms_otp", phone_number="+442071838750")
    assert not step.accepted and not step.of(SendSmsOtp)


def test_step_up_when_second_factor_is_stale() -> None:
    stale = AuthenticationFactor(type="otp", delivery_method="sms", last_authenticated_at=T0 - 3600)
    factors = (PASSWORD, stale)
    assert needs_step_up(factors, now=T0, max_age=900)
    assert not needs_step_up(factors, now=T0, max_age=7200)
    assert needs_step_up((PASSWORD,), now=T0, max_age=7200)
    w = Walk()
    step = w.present(org(**REQUIRED), member(**ENROLLED_SMS), "step_up", session_factors=factors)
    # Only primary authentication sends the default method's code by itself (seed 002);
    # a step-up is asked for by the caller with the method it wants.
    assert step.flow.state == "challenged" and secondary_auth_initiated(step) is None
    step = w.ev(MethodChosen, method="sms_otp")
    assert step.of(SendSmsOtp)[0].phone_number == PHONE
    w.ev(SmsSent, phone_number=PHONE, code_expires_at=w.now + 120)
    step = w.ev(FactorVerified, method="sms_otp", factor_id=PHONE)
    fresh = step.of(IssueSession)[0].authentication_factors
    assert [f.type for f in fresh] == ["password", "otp"]
    assert fresh[-1].last_authenticated_at == w.now
    assert not needs_step_up(fresh, now=w.now, max_age=900)


def test_enforcement_by_authentication_factors() -> None:
    otp = AuthenticationFactor(type="otp", delivery_method="sms", last_authenticated_at=T0)
    assert satisfies((PASSWORD, otp), ["password", "otp"])
    assert not satisfies((PASSWORD,), ["password", "otp"])


@pytest.mark.parametrize("allowed", [("totp",), ("sms_otp",)])
def test_restricted_methods_are_never_offered_or_started(allowed: tuple[str, ...]) -> None:
    w = Walk()
    step = w.login(org(**REQUIRED, mfa_methods="RESTRICTED", allowed_mfa_methods=allowed), member())
    assert [m.value for m in offered_methods(step.flow)] == list(allowed)
    forbidden = "sms_otp" if allowed == ("totp",) else "totp"
    step = w.ev(MethodChosen, method=forbidden, phone_number=PHONE)
    assert step.error is not None
    assert step.error.error_type == "operation_restricted_by_organization_mfa_methods"
    assert step.flow.state == "primary_done"


def test_restricted_challenge_refuses_forbidden_method() -> None:
    w = Walk()
    both = member(**ENROLLED_SMS, totp_registration_id=TOTP_ID)
    step = w.login(org(**REQUIRED, mfa_methods="RESTRICTED", allowed_mfa_methods=("totp",)), both)
    assert step.flow.state == "challenged"
    assert secondary_auth_initiated(step) is None  # SMS default but SMS forbidden
    step = w.ev(MethodChosen, method="sms_otp")
    assert step.error is not None and step.error.status_code == 403
    step = w.ev(FactorVerified, method="sms_otp", factor_id=PHONE)
    assert step.error is not None
    assert w.ev(FactorVerified, method="totp", factor_id=TOTP_ID).flow.state == "authenticated"


def test_restricted_member_with_only_forbidden_factor_fails_closed() -> None:
    w = Walk()
    step = w.login(
        org(**REQUIRED, mfa_methods="RESTRICTED", allowed_mfa_methods=("totp",)),
        member(**ENROLLED_SMS),
    )
    assert step.flow.state == "failed"
    assert step.error is not None
    assert step.error.error_type == "operation_restricted_by_organization_mfa_methods"


def test_breakglass_member_is_exempt_from_restriction() -> None:
    w = Walk()
    w.login(
        org(**REQUIRED, mfa_methods="RESTRICTED", allowed_mfa_methods=("totp",)),
        member(is_breakglass=True),
    )
    assert w.ev(MethodChosen, method="sms_otp", phone_number=PHONE).flow.state == "enrolling_sms"


def test_wrong_code_counts_and_stays() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member(**ENROLLED_TOTP))
    step = w.ev(FactorRejected, method="totp")
    assert step.flow.state == "challenged" and step.flow.failures == 1
    assert step.of(RecordFailedAttempt)[0].member_failures == 1


def test_too_many_failures_lock_the_member_and_fail_the_flow() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member(**ENROLLED_TOTP, failed_attempts=7))
    for _ in range(2):
        assert w.ev(FactorRejected, method="totp").flow.state == "challenged"
    step = w.ev(FactorRejected, method="totp")
    assert step.flow.state == "failed" and step.flow.reason == "locked"
    assert step.error is not None and step.error.error_type == "user_lock_limit_reached"
    assert step.error.status_code == 429
    assert step.of(LockMember)[0].until == w.now + 3600


def test_resend_never_resets_the_failure_count() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member())
    w.ev(MethodChosen, method="sms_otp", phone_number=PHONE)
    w.ev(FactorRejected, method="sms_otp")
    step = w.ev(MethodChosen, method="sms_otp", phone_number=PHONE)
    assert step.flow.failures == 1 and step.of(SendSmsOtp)


def test_adapter_count_across_flows_wins_when_higher() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member(**ENROLLED_TOTP))
    step = w.ev(FactorRejected, method="totp", member_failures=10)
    assert step.flow.state == "failed" and step.flow.reason == "locked"


def test_locked_member_fails_at_start() -> None:
    w = Walk()
    step = w.login(org(**REQUIRED), member(**ENROLLED_TOTP, locked_until=T0 + 60))
    assert step.flow.state == "failed" and step.flow.reason == "locked"


def test_ist_expiry_fails_the_flow() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member(**ENROLLED_TOTP))
    w.tick(600)
    step = w.ev(FactorVerified, method="totp", factor_id=TOTP_ID)
    assert step.flow.state == "failed" and step.flow.reason == "expired"
    assert not step.of(IssueSession)
    assert step.error is not None and step.error.error_type == "intermediate_session_not_found"


def test_time_passing_expires_a_live_flow() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member())
    assert w.ev(TimePassed).flow.state == "primary_done"
    w.tick(700)
    assert w.ev(TimePassed).flow.reason == "expired"


def test_abort_fails_the_flow() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member())
    step = w.ev(Aborted)
    assert step.flow.state == "failed" and step.flow.reason == "aborted"


def test_expired_sms_code_is_refused() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member())
    w.ev(MethodChosen, method="sms_otp", phone_number=PHONE)
    w.ev(SmsSent, phone_number=PHONE, code_expires_at=w.now + 120)
    w.tick(200)
    step = w.ev(FactorVerified, method="sms_otp", factor_id=PHONE)
    assert step.error is not None and step.error.error_type == "otp_code_not_found"


def test_enrollment_needs_the_very_factor_that_was_sent() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member())
    w.ev(MethodChosen, method="sms_otp", phone_number=PHONE)
    w.ev(SmsSent, phone_number=PHONE, code_expires_at=w.now + 120)
    step = w.ev(FactorVerified, method="sms_otp", factor_id="+442071838750")
    assert not step.accepted and not step.of(RecordEnrollment)


def test_invalid_phone_is_a_clear_error() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member())
    for bad in ("4155551234", "+0123", "+1 415 555 1234", None):
        step = w.ev(MethodChosen, method="sms_otp", phone_number=bad)
        assert step.error is not None and step.error.error_type == "invalid_phone_number"


def test_member_id_is_kept() -> None:
    w = Walk()
    assert w.login(org(**REQUIRED), member()).flow.member_id == MEMBER


def test_set_mfa_enrollment_unenroll_on_a_challenge_under_optional() -> None:
    w = Walk()
    w.login(org(), member(**ENROLLED_TOTP))
    step = w.ev(FactorVerified, method="totp", factor_id=TOTP_ID, set_mfa_enrollment="unenroll")
    assert step.of(SetMfaEnrollment)[0].enrolled is False


def test_set_mfa_enrollment_unenroll_is_ignored_under_required() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member())
    w.ev(MethodChosen, method="totp")
    w.ev(
        TotpRegistrationCreated, totp_registration_id=TOTP_ID, registration_expires_at=w.now + 3600
    )
    step = w.ev(FactorVerified, method="totp", factor_id=TOTP_ID, set_mfa_enrollment="unenroll")
    assert [e.enrolled for e in step.of(SetMfaEnrollment)] == [True]
