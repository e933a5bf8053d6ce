"""Read-only views of a flow or step, in the shapes Stytch's responses use."""

from __future__ import annotations

from ._effects import SendSmsOtp
from ._engine import Step
from ._flow import Flow, State
from ._types import Method


def offered_methods(flow: Flow) -> tuple[Method, ...]:
    """The methods to show now: allowed ones to enroll, or usable ones to answer with."""
    allowed = tuple(Method(m) for m in flow.allowed)
    if flow.state in (State.PRIMARY_DONE, State.ENROLLING_SMS, State.ENROLLING_TOTP):
        return allowed
    if flow.state == State.CHALLENGED:
        return tuple(m for m in allowed if m.value in flow.enrolled)
    return ()


def member_options(flow: Flow) -> dict[str, str] | None:
    """`mfa_required.member_options`: null until the member has a verified factor."""
    if not flow.enrolled:
        return None
    return {"mfa_phone_number": flow.phone or "", "totp_registration_id": flow.totp_id or ""}


def secondary_auth_initiated(step: Step) -> str | None:
    """`"sms_otp"` when starting the flow sent the member's default SMS at once."""
    if step.flow.state == State.CHALLENGED and step.of(SendSmsOtp):
        return Method.SMS_OTP.value
    return None
