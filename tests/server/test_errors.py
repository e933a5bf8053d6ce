"""Negative conformance: every error path answers 4xx in Stytch's error shape with the
documented `error_type`, never a 500; and the server never logs a secret."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stytch
from stytch.core.response_base import StytchError

from .conftest import PASSWORD, Server, new_member, new_org, new_phone, start_server

ERROR_KEYS = {"status_code", "request_id", "error_type", "error_message", "error_url"}


def error_of(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_KEYS
    assert body["status_code"] == status and body["error_type"] == error_type
    assert body["request_id"].startswith("request-id-")
    return body


def test_missing_or_wrong_credentials_are_401(server: Server) -> None:
    url = server.base_url + "/v1/b2b/organizations/anything"
    error_of(httpx.get(url), 401, "unauthorized_credentials")
    error_of(httpx.get(url, auth=(server.project_id, "x" + server.secret)), 401,
             "unauthorized_credentials")  # fmt: skip
    error_of(httpx.get(url, auth=("project-test-other", server.secret)), 401,
             "unauthorized_credentials")  # fmt: skip
    error_of(httpx.get(url, headers={"Authorization": "Bearer " + server.secret}), 401,
             "unauthorized_credentials")  # fmt: skip
    error_of(httpx.get(url, headers={"Authorization": "Basic !!notbase64"}), 401,
             "unauthorized_credentials")  # fmt: skip
    wrong = stytch.B2BClient(server.project_id, "wrong-secret", environment=server.base_url)
    with pytest.raises(StytchError) as refused:
        wrong.organizations.get(organization_id="anything")
    assert refused.value.details.error_type == "unauthorized_credentials"
    assert refused.value.details.status_code == 401


def test_bad_bodies_are_400_not_500(server: Server) -> None:
    http = server.http()
    url = "/v1/b2b/organizations"
    error_of(http.post(url, content=b"{bad json"), 400, "bad_request")
    error_of(http.post(url, content=b"[1, 2]"), 400, "bad_request")
    error_of(http.post(url, content=b"\xff\xfe"), 400, "bad_request")
    error_of(http.post(url, content=b"[" * 100_00 + b"]" * 100_00), 400, "bad_request")
    typed = error_of(
        http.post(url, json={"organization_name": 5, "organization_slug": "ok-slug"}),
        400,
        "invalid_request",
    )
    assert "organization_name" in typed["error_message"]
    error_of(http.post(url, json={"organization_name": "x"}), 400, "invalid_request")
    error_of(http.post("/v1/b2b/otps/sms/authenticate", json={"code": ["1"]}), 400,
             "invalid_request")  # fmt: skip
    error_of(http.get("/v1/b2b/sessions", params={"organization_id": "o"}), 400,
             "invalid_request")  # fmt: skip


def test_oversized_bodies_are_413(server: Server) -> None:
    http = server.http()
    big = b'{"organization_name": "' + b"a" * 100_000 + b'"}'
    error_of(http.post("/v1/b2b/organizations", content=big), 413, "request_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        for _ in range(100):
            yield b" " * 4096

    error_of(http.post("/v1/b2b/organizations", content=chunks()), 413, "request_too_large")


def test_unknown_organization_and_member_are_404(server: Server) -> None:
    client = server.client()
    with pytest.raises(StytchError) as org:
        client.organizations.get(organization_id="organization-missing")
    assert org.value.details.error_type == "organization_not_found"
    org_id = new_org(client)
    with pytest.raises(StytchError) as member:
        client.organizations.members.get(organization_id=org_id, member_id="member-missing")
    assert member.value.details.error_type == "member_not_found"
    with pytest.raises(StytchError) as by_email:
        client.organizations.members.get(organization_id=org_id, email_address="no@example.com")
    assert by_email.value.details.error_type == "member_not_found"
    with pytest.raises(StytchError) as send:
        client.otps.sms.send(
            organization_id=org_id, member_id="member-missing", mfa_phone_number=new_phone(),
            intermediate_session_token="ist",
        )  # fmt: skip
    assert send.value.details.error_type == "member_not_found"


def test_an_ist_together_with_a_session_token_is_refused(server: Server) -> None:
    client = server.client()
    org_id = new_org(client, mfa_policy="REQUIRED_FOR_ALL")
    member_id, email = new_member(client, org_id)
    first = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    with pytest.raises(StytchError) as both:
        client.otps.sms.send(
            organization_id=org_id, member_id=member_id, mfa_phone_number=new_phone(),
            intermediate_session_token=first.intermediate_session_token,
            session_token="a-session-token",
        )  # fmt: skip
    assert both.value.details.error_type == "invalid_credentials_combination"
    assert both.value.details.status_code == 400
    with pytest.raises(StytchError) as neither:
        client.totps.create(organization_id=org_id, member_id=member_id)
    assert neither.value.details.error_type == "invalid_credentials_combination"
    with pytest.raises(StytchError) as primary:
        client.passwords.authenticate(
            organization_id=org_id, email_address=email, password=PASSWORD,
            intermediate_session_token=first.intermediate_session_token,
        )  # fmt: skip
    assert primary.value.details.error_type == "invalid_request"


def test_wrong_password_and_bad_codes(server: Server) -> None:
    client = server.client()
    org_id = new_org(client, mfa_policy="REQUIRED_FOR_ALL")
    member_id, email = new_member(client, org_id)
    with pytest.raises(StytchError) as wrong:
        client.passwords.authenticate(
            organization_id=org_id, email_address=email, password="not it"
        )
    assert wrong.value.details.error_type == "unauthorized_credentials"
    first = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    ist = first.intermediate_session_token
    created = client.totps.create(
        organization_id=org_id, member_id=member_id, intermediate_session_token=ist
    )
    assert created.secret
    with pytest.raises(StytchError) as bad_totp:
        client.totps.authenticate(
            organization_id=org_id, member_id=member_id, code="12345x",
            intermediate_session_token=ist,
        )  # fmt: skip
    assert bad_totp.value.details.error_type == "invalid_totp_code"
    with pytest.raises(StytchError) as bad_ist:
        client.totps.create(
            organization_id=org_id, member_id=member_id, intermediate_session_token="forged"
        )
    assert bad_ist.value.details.error_type == "intermediate_session_not_found"
    with pytest.raises(StytchError) as no_session:
        client.sessions.authenticate(session_token="no-such-token")
    assert no_session.value.details.error_type == "session_not_found"


def test_routing_errors_and_public_paths(server: Server) -> None:
    http = server.http()
    error_of(http.get("/v1/b2b/nothing-here"), 404, "route_not_found")
    error_of(http.delete("/v1/b2b/organizations"), 405, "method_not_allowed")
    jwks = httpx.get(f"{server.base_url}/v1/b2b/sessions/jwks/{server.project_id}")
    assert jwks.status_code == 200 and jwks.json()["keys"][0]["alg"] == "RS256"
    error_of(httpx.get(f"{server.base_url}/v1/b2b/sessions/jwks/project-test-other"), 404,
             "project_not_found")  # fmt: skip
    sdk_jwks = server.client().sessions.get_jwks(project_id=server.project_id)
    assert sdk_jwks.keys[0].kid == jwks.json()["keys"][0]["kid"]
    assert httpx.get(server.base_url + "/openapi.json").json()["openapi"].startswith("3.1")


def test_outbox_filters_and_is_oldest_first(server: Server) -> None:
    client = server.client()
    org_id = new_org(client, mfa_policy="REQUIRED_FOR_ALL")
    member_id, email = new_member(client, org_id)
    first = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    phone = new_phone()
    for _ in range(2):
        client.otps.sms.send(
            organization_id=org_id, member_id=member_id, mfa_phone_number=phone,
            intermediate_session_token=first.intermediate_session_token,
        )  # fmt: skip
    sms = server.outbox(kind="sms", to=phone)
    assert len(sms) == 2 and sms[0]["sent_at"] <= sms[1]["sent_at"]
    assert all(m["kind"] == "sms" and m["code"] and m["token"] is None for m in sms)
    assert sms[0]["code"] != sms[1]["code"] or len(sms[0]["code"]) == 6
    assert server.outbox(kind="email", to=phone) == []
    error_of(server.http().get("/v1/dev/outbox", params={"kind": "fax"}), 400, "invalid_request")


def test_the_log_has_one_line_per_request_and_no_secret(server: Server) -> None:
    client = server.client()
    org_id = new_org(client, mfa_policy="REQUIRED_FOR_ALL")
    member_id, email = new_member(client, org_id)
    phone = new_phone()
    first = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    ist = first.intermediate_session_token
    client.otps.sms.send(
        organization_id=org_id, member_id=member_id, mfa_phone_number=phone,
        intermediate_session_token=ist,
    )  # fmt: skip
    code = server.last_code(phone)
    done = client.otps.sms.authenticate(
        organization_id=org_id, member_id=member_id, code=code, intermediate_session_token=ist
    )
    client.magic_links.email.login_or_signup(organization_id=org_id, email_address=email)
    token = server.last_token(email)
    text = server.log_text()
    assert f'"request_id": "{done.request_id}"' in text
    for secret in (code, ist, done.session_token, done.session_jwt, token, PASSWORD,
                   server.secret):  # fmt: skip
        assert secret not in text


@pytest.fixture(scope="module")
def production_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    live = start_server(tmp_path_factory.mktemp("prod"), dev=False)
    try:
        yield live
    finally:
        live.stop()


def test_without_dev_there_is_no_outbox(production_server: Server) -> None:
    http = production_server.http()
    error_of(http.get("/v1/dev/outbox"), 404, "route_not_found")
    paths = httpx.get(production_server.base_url + "/openapi.json").json()["paths"]
    assert "/v1/dev/outbox" not in paths


def test_ten_wrong_codes_lock_the_member_with_429(server: Server) -> None:
    client = server.client()
    org_id = new_org(client, mfa_policy="REQUIRED_FOR_ALL")
    member_id, email = new_member(client, org_id)
    first = client.passwords.authenticate(
        organization_id=org_id, email_address=email, password=PASSWORD
    )
    ist = first.intermediate_session_token
    phone = new_phone()
    client.otps.sms.send(
        organization_id=org_id, member_id=member_id, mfa_phone_number=phone,
        intermediate_session_token=ist,
    )  # fmt: skip
    code = server.last_code(phone)
    wrong = "000000" if code != "000000" else "111111"
    seen = []
    for _ in range(11):
        with pytest.raises(StytchError) as refused:
            client.otps.sms.authenticate(
                organization_id=org_id, member_id=member_id, code=wrong,
                intermediate_session_token=ist,
            )  # fmt: skip
        seen.append((refused.value.details.status_code, refused.value.details.error_type))
    assert seen[0] == (404, "otp_code_not_found")
    assert seen[-1] == (429, "user_lock_limit_reached")
    with pytest.raises(StytchError) as locked:  # even the right code, while locked
        client.otps.sms.authenticate(
            organization_id=org_id, member_id=member_id, code=code,
            intermediate_session_token=ist,
        )  # fmt: skip
    assert locked.value.details.error_type == "user_lock_limit_reached"
    member = client.organizations.members.get(organization_id=org_id, member_id=member_id)
    assert member.member.is_locked and member.member.lock_expires_at is not None
