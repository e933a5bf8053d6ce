"""Bad input is a domain error with a Stytch error type, never an unrelated exception."""

from __future__ import annotations

import dataclasses

import pydantic
import pytest

import mfa_fsm
from mfa_fsm import (
    Engine,
    FactorVerified,
    Flow,
    MethodChosen,
    MfaError,
    PrimaryAuthenticated,
    RecoveryCodeVerified,
    Requirement,
    RuleError,
    SmsSent,
    StateError,
    TimePassed,
)

from .helpers import MEMBER, ORG, PASSWORD, PHONE, T0, TOTP_ID, Walk, member, org

REQUIRED = {"mfa_policy": "REQUIRED_FOR_ALL"}


def test_every_error_has_stytch_shape() -> None:
    for cls in [
        c for c in vars(mfa_fsm).values() if isinstance(c, type) and issubclass(c, MfaError)
    ]:
        body = cls().to_dict()
        assert set(body) == {"status_code", "error_type", "error_message", "error_url"}
        assert 400 <= int(str(body["status_code"])) < 600
        assert body["error_message"]


@pytest.mark.parametrize(
    "other", [{"organization_id": "organization-evil"}, {"member_id": "member-evil"}]
)
def test_event_for_another_org_or_member_is_refused(other: dict[str, str]) -> None:
    w = Walk()
    w.login(org(**REQUIRED), member(totp_registration_id=TOTP_ID))
    before = w.flow
    fields = {"at": w.now, "organization_id": ORG, "member_id": MEMBER} | other
    step = w.send(FactorVerified(method="totp", factor_id=TOTP_ID, **fields))
    assert not step.accepted and step.flow == before
    assert step.error is not None and step.error.error_type == "unauthorized_action"


def test_terminal_states_absorb_every_event() -> None:
    w = Walk()
    w.login(org(), member())
    assert w.flow.state == "authenticated"
    for event in (
        TimePassed(at=T0 + 1),
        MethodChosen(at=T0 + 1, organization_id=ORG, member_id=MEMBER, method="totp"),
        PrimaryAuthenticated(
            at=T0, organization=org(), member=member(), primary_factor=PASSWORD, ist_id="ist-2"
        ),
    ):
        step = w.send(event)
        assert step.flow.state == "authenticated" and not step.accepted
        assert step.error is not None and step.error.error_type == "intermediate_session_not_found"


def test_flow_event_before_start_is_a_state_error() -> None:
    step = Engine().handle(Flow(flow_id="f"), TimePassed(at=T0))
    assert step.error is not None and step.error.error_type == "unauthorized_action"


def test_event_the_state_cannot_take() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member())
    step = w.ev(SmsSent, phone_number=PHONE, code_expires_at=w.now + 60)
    assert not step.accepted and step.error is not None
    assert step.flow.state == "primary_done"


def test_not_an_event_is_invalid_not_a_crash() -> None:
    step = Engine().handle(Flow(flow_id="f"), "primary_authenticated")  # type: ignore[arg-type]
    assert step.error is not None and step.error.error_type == "invalid_request"


@pytest.mark.parametrize(
    "fields",
    [
        {"method": "email"},
        {"method": "sms_otp", "phone_number": "+1" + "5" * 40},
        {"method": "sms_otp", "at": float("nan")},
        {"method": "sms_otp", "organization_id": ""},
        {"method": "sms_otp", "surprise": 1},
    ],
)
def test_malformed_events_fail_validation_with_pydantic(fields: dict[str, object]) -> None:
    base: dict[str, object] = {"at": T0, "organization_id": ORG, "member_id": MEMBER}
    with pytest.raises(pydantic.ValidationError):
        MethodChosen(**(base | fields))


def test_events_and_effects_are_frozen() -> None:
    ev = TimePassed(at=T0)
    with pytest.raises(pydantic.ValidationError):
        ev.at = 1.0  # type: ignore[misc]


def test_a_rule_that_returns_garbage_is_a_rule_error() -> None:
    def bad(_: object) -> object:
        return True

    w = Walk(engine=Engine(rules=(bad,)))  # type: ignore[arg-type]
    with pytest.raises(RuleError):
        w.login(org(), member())


def test_flow_round_trips_through_json_exactly() -> None:
    w = Walk()
    w.login(org(**REQUIRED, mfa_methods="RESTRICTED", allowed_mfa_methods=("sms_otp",)), member())
    w.ev(MethodChosen, method="sms_otp", phone_number=PHONE)
    w.ev(SmsSent, phone_number=PHONE, code_expires_at=w.now + 120)
    for flow in (w.flow, w.ev(FactorVerified, method="sms_otp", factor_id=PHONE).flow):
        again = Flow.from_json(flow.to_json())
        assert again == flow
        assert again.to_json() == flow.to_json()
        assert dataclasses.asdict(again) == dataclasses.asdict(flow)


def test_caller_flow_is_never_mutated() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member())
    before = w.flow.replace()
    kept = w.flow
    w.ev(MethodChosen, method="sms_otp", phone_number=PHONE)
    assert kept == before


def test_raise_for_error() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member())
    with pytest.raises(MfaError) as info:
        w.ev(MethodChosen, method="sms_otp", phone_number="nope").raise_for_error()
    assert info.value.error_type == "invalid_phone_number"


def test_rules_cannot_waive_mfa() -> None:
    """A rule has no way to say 'no MFA': the only fields add requirements."""

    def waive(_: object) -> Requirement:
        return Requirement(require_mfa=False, methods=None)

    w = Walk(engine=Engine(rules=(waive,)))
    assert w.login(org(**REQUIRED), member()).flow.state == "primary_done"


def test_public_api_is_exactly_all() -> None:
    public = {n for n in dir(mfa_fsm) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(mfa_fsm, n)).__name__ == "module"}
    assert public - modules == set(mfa_fsm.__all__)


def test_unhandled_event_in_live_state_is_a_state_error_not_expiry() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member())
    step = w.ev(RecoveryCodeVerified, recovery_codes_remaining=3)
    assert step.error is not None and type(step.error) is StateError


def test_event_stamped_before_the_flow_started_is_refused() -> None:
    w = Walk()
    w.login(org(**REQUIRED), member(totp_registration_id=TOTP_ID))
    old = FactorVerified(
        at=T0 - 3600, organization_id=ORG, member_id=MEMBER, method="totp", factor_id=TOTP_ID
    )
    step = w.send(old)
    assert not step.accepted and step.flow.state == "challenged"


def test_ten_invariants_are_public_and_numbered() -> None:
    from mfa_fsm import invariants

    assert [n for n, _ in invariants.INVARIANTS] == list(range(1, 11))
    for _, check in invariants.INVARIANTS:
        assert getattr(invariants, check.__name__) is check
        assert check.__doc__
