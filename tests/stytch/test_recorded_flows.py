"""The seeds' flows through the driver, against recorded Stytch replies."""

from __future__ import annotations

import base64

from mfa_fsm import Flow, Intent, Method

from . import recorded as r
from .recorded import Clock, Script


def test_required_enrollment_by_sms() -> None:
    script = Script().add(
        (200, r.primary_reply()),
        (200, r.sent_reply()),
        (
            200,
            r.authenticated_reply(
                "sms", r.enrolled_sms(), r.factor(*r.PASSWORD), r.factor(*r.OTP, r.NOW + 30)
            ),
        ),
    )
    clock = Clock()
    with r.driver(script, clock) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        assert not first.member_authenticated and first.needs_enrollment
        assert first.member_options is None and first.secondary_auth_initiated is None
        assert first.offered_methods == (Method.SMS_OTP, Method.TOTP)
        assert first.intermediate_session_token == r.IST
        kept = first.flow.to_json()
        assert r.IST not in kept  # the flow is bound by digest only

        flow = Flow.from_json(kept)
        sent = d.send_sms(flow, phone_number=r.PHONE, intermediate_session_token=r.IST)
        assert sent.code_sent and sent.flow.state == "enrolling_sms"
        assert sent.request_id == r.request_id(3)
        assert script.body() == {
            "organization_id": r.ORG_ID,
            "member_id": r.MEMBER_ID,
            "mfa_phone_number": r.PHONE,
            "intermediate_session_token": r.IST,
        }

        clock.now += 30
        done = d.authenticate_sms(sent.flow, "123456", intermediate_session_token=r.IST)
    assert done.member_authenticated and done.flow.state == "authenticated"
    assert done.session_token == r.SESSION_TOKEN + "-new"
    assert done.session is not None
    assert [f.type for f in done.session.authentication_factors] == ["password", "otp"]
    assert script.paths == [
        "/v1/b2b/passwords/authenticate",
        "/v1/b2b/otps/sms/send",
        "/v1/b2b/otps/sms/authenticate",
    ]
    # The engine's effects decided the enrollment flags sent to Stytch.
    assert script.body()["set_mfa_enrollment"] == "enroll"
    assert script.body()["set_default_mfa"] is True
    assert script.body()["code"] == "123456"


def test_required_enrollment_by_totp_returns_the_registration_once() -> None:
    script = Script().add(
        (200, r.primary_reply()),
        (200, r.totp_created_reply()),
        (
            200,
            r.authenticated_reply(
                "totp", r.enrolled_totp(), r.factor(*r.PASSWORD), r.factor(*r.TOTP)
            ),
        ),
    )
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        made = d.create_totp(first.flow, intermediate_session_token=r.IST, expiration_minutes=30)
        assert made.totp is not None and made.totp.totp_registration_id == r.TOTP_ID
        assert made.totp.qr_code.startswith("data:image/png;base64,")
        assert len(made.totp.recovery_codes) == 10
        assert "JBSWY3DP" not in repr(made)  # secrets stay out of reprs and logs
        assert made.flow.pending == r.TOTP_ID
        assert script.body()["expiration_minutes"] == 30
        done = d.authenticate_totp(made.flow, "654321", intermediate_session_token=r.IST)
    assert done.member_authenticated
    assert script.paths[1:] == ["/v1/b2b/totp", "/v1/b2b/totp/authenticate"]


def test_returning_member_with_sms_default_gets_the_auto_sent_code() -> None:
    reply = r.primary_reply(mbr=r.enrolled_sms(), initiated="sms_otp")
    script = Script().add(
        (200, reply),
        (
            200,
            r.authenticated_reply("sms", r.enrolled_sms(), r.factor(*r.PASSWORD), r.factor(*r.OTP)),
        ),
    )
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        assert first.secondary_auth_initiated == "sms_otp" and first.code_sent
        assert first.member_options == {"mfa_phone_number": r.PHONE, "totp_registration_id": ""}
        assert first.flow.state == "challenged"
        done = d.authenticate_sms(first.flow, "111111", intermediate_session_token=r.IST)
    assert done.member_authenticated
    # Stytch already sent the code: the driver did not send another.
    assert script.paths == ["/v1/b2b/passwords/authenticate", "/v1/b2b/otps/sms/authenticate"]
    assert "set_mfa_enrollment" not in script.body()


def test_returning_member_with_totp_by_magic_link() -> None:
    script = Script().add(
        (200, r.primary_reply(mbr=r.enrolled_totp())),
        (
            200,
            r.authenticated_reply(
                "totp", r.enrolled_totp(), r.factor("magic_link", "email"), r.factor(*r.TOTP)
            ),
        ),
    )
    with r.driver(script) as d:
        first = d.authenticate_magic_link("DOYoip3rvIMMW5lgItikFK-Ak1CfMsgjuiCyI7uuU94=")
        assert first.flow.state == "challenged" and first.secondary_auth_initiated is None
        assert first.flow.primary[0].type == "magic_link"
        assert first.offered_methods == (Method.TOTP,)
        done = d.authenticate_totp(first.flow, "222222", intermediate_session_token=r.IST)
    assert done.member_authenticated
    assert script.body(0) == {"magic_links_token": "DOYoip3rvIMMW5lgItikFK-Ak1CfMsgjuiCyI7uuU94="}


def test_mfa_not_required_accepts_the_session_stytch_issued() -> None:
    reply = r.primary_reply(
        org=r.organization(mfa_policy="OPTIONAL"),
        authenticated=True,
        session=r.member_session(r.factor(*r.PASSWORD)),
    )
    script = Script().add((200, reply))
    with r.driver(script) as d:
        done = d.authenticate_password(
            r.ORG_ID, "ada@example.com", "pw", session_duration_minutes=60
        )
    assert done.member_authenticated and done.session_token == r.SESSION_TOKEN
    assert done.organization_slug == "acme"
    assert script.body()["session_duration_minutes"] == 60
    assert len(script.requests) == 1


def test_optional_enrollment_from_a_session_jwt() -> None:
    optional = r.organization(mfa_policy="OPTIONAL")
    script = Script().add(
        (200, r.session_reply(org=optional)),
        (200, r.sent_reply(org=optional)),
        (
            200,
            r.authenticated_reply(
                "sms",
                r.enrolled_sms(),
                r.factor(*r.PASSWORD, r.NOW - 60),
                r.factor(*r.OTP),
                org=optional,
            ),
        ),
    )
    with r.driver(script) as d:
        start = d.start_from_session(Intent.ENROLL, session_jwt=r.SESSION_JWT)
        assert start.flow.state == "primary_done" and start.flow.session_id
        sent = d.send_sms(start.flow, phone_number=r.PHONE, session_jwt=r.SESSION_JWT)
        done = d.authenticate_sms(
            sent.flow, "333333", session_jwt=r.SESSION_JWT, set_mfa_enrollment="enroll"
        )
    assert done.member_authenticated
    assert script.body(0) == {"session_jwt": r.SESSION_JWT}
    assert script.body()["session_jwt"] == r.SESSION_JWT
    assert script.body()["set_mfa_enrollment"] == "enroll"


def test_adding_totp_as_new_default_from_a_session_with_sms() -> None:
    optional = r.organization(mfa_policy="OPTIONAL")
    both = r.enrolled_sms(totp_registration_id=r.TOTP_ID, default_mfa_method="totp")
    script = Script().add(
        (
            200,
            r.session_reply(
                r.factor(*r.PASSWORD), r.factor(*r.OTP), org=optional, mbr=r.enrolled_sms()
            ),
        ),
        (200, r.totp_created_reply(r.enrolled_sms())),
        (
            200,
            r.authenticated_reply(
                "totp", both, r.factor(*r.PASSWORD), r.factor(*r.TOTP), org=optional
            ),
        ),
    )
    with r.driver(script) as d:
        start = d.start_from_session(Intent.ADD_METHOD, session_token=r.SESSION_TOKEN)
        made = d.create_totp(start.flow, session_token=r.SESSION_TOKEN)
        done = d.authenticate_totp(
            made.flow, "444444", session_token=r.SESSION_TOKEN, set_default_mfa=True
        )
    assert done.member_authenticated
    assert script.body()["set_default_mfa"] is True
    assert "set_mfa_enrollment" not in script.body()


def test_recovery_code_finishes_a_totp_challenge() -> None:
    script = Script().add(
        (200, r.primary_reply(mbr=r.enrolled_totp())),
        (
            200,
            r.authenticated_reply(
                "recovery",
                r.enrolled_totp(),
                r.factor(*r.PASSWORD),
                r.factor(*r.RECOVERY),
                remaining=9,
            ),
        ),
    )
    with r.driver(script) as d:
        first = d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
        done = d.recover(first.flow, "ckss-2skx-ebo3", intermediate_session_token=r.IST)
    assert done.member_authenticated and done.recovery_codes_remaining == 9
    assert script.paths[-1] == "/v1/b2b/recovery_codes/recover"
    assert script.body()["recovery_code"] == "ckss-2skx-ebo3"


def test_step_up_sends_the_default_sms_only_when_the_caller_asks() -> None:
    """Seed 002: only a login sends the default method's code by itself."""
    script = Script().add(
        (200, r.session_reply(r.factor(*r.PASSWORD, r.NOW - 60), mbr=r.enrolled_sms())),
        (200, r.sent_reply(r.enrolled_sms())),
        (
            200,
            r.authenticated_reply(
                "sms", r.enrolled_sms(), r.factor(*r.PASSWORD, r.NOW - 60), r.factor(*r.OTP)
            ),
        ),
    )
    with r.driver(script) as d:
        start = d.start_from_session(Intent.STEP_UP, session_token=r.SESSION_TOKEN)
        assert start.flow.state == "challenged" and not start.code_sent
        assert script.paths == ["/v1/b2b/sessions/authenticate"]  # nothing sent yet
        sent = d.send_sms(start.flow, session_token=r.SESSION_TOKEN)
        assert sent.flow.state == "challenged" and sent.code_sent
        assert script.body() == {  # the member's own number: no mfa_phone_number
            "organization_id": r.ORG_ID,
            "member_id": r.MEMBER_ID,
            "session_token": r.SESSION_TOKEN,
        }
        done = d.authenticate_sms(sent.flow, "555555", session_token=r.SESSION_TOKEN)
    assert done.member_authenticated and done.session is not None
    assert [f.type for f in done.session.authentication_factors] == ["password", "otp"]
    assert script.paths.count("/v1/b2b/otps/sms/send") == 1  # exactly one SMS
    assert "set_mfa_enrollment" not in script.body()


def test_step_up_by_totp_sends_no_sms_though_sms_is_the_default() -> None:
    both = r.enrolled_sms(totp_registration_id=r.TOTP_ID)
    script = Script().add(
        (200, r.session_reply(r.factor(*r.PASSWORD, r.NOW - 60), mbr=both)),
        (
            200,
            r.authenticated_reply(
                "totp", both, r.factor(*r.PASSWORD, r.NOW - 60), r.factor(*r.TOTP)
            ),
        ),
    )
    with r.driver(script) as d:
        start = d.start_from_session(Intent.STEP_UP, session_token=r.SESSION_TOKEN)
        assert start.flow.state == "challenged" and not start.code_sent
        chose = d.create_totp(start.flow, session_token=r.SESSION_TOKEN)
        assert chose.totp is None  # enrolled already: no registration is created
        done = d.authenticate_totp(chose.flow, "666666", session_token=r.SESSION_TOKEN)
    assert done.member_authenticated
    assert script.paths == ["/v1/b2b/sessions/authenticate", "/v1/b2b/totp/authenticate"]


def test_basic_auth_and_base_urls() -> None:
    script = Script().add((200, r.primary_reply()), (200, r.primary_reply()))
    with r.driver(script) as d:
        d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
    sent = script.requests[0]
    assert sent.url.host == "test.stytch.com"
    expected = base64.b64encode(f"{r.PROJECT_ID}:{r.SECRET}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {expected}"
    with r.driver(script, base_url="http://127.0.0.1:8999/") as d:
        d.authenticate_password(r.ORG_ID, "ada@example.com", "pw")
    assert str(script.requests[1].url) == "http://127.0.0.1:8999/v1/b2b/passwords/authenticate"
