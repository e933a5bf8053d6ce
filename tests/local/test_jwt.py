"""Session JWTs verified by the REAL official Stytch SDK, with its JWKS client fed our JWKS."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import os
import stat
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import stytch
from stytch.b2b.models.sessions import MemberSession

from mfa_fsm import AuthenticationFactor
from mfa_fsm_local._jwt import (
    DEV_SIGNING_KEY_FILE,
    ORGANIZATION_CLAIM,
    SESSION_CLAIM,
    SessionSigner,
    dev_signer,
    factor_json,
    rfc3339,
)

pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")

PROJECT = "project-test-11111111-2222-3333-4444-555555555555"
BASE_URL = "https://mfa-fsm.invalid/"


class StaticJWKClient(jwt.PyJWKClient):
    """The SDK's JWKS client, answering from a dict instead of the network."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        super().__init__(BASE_URL + "v1/b2b/sessions/jwks/" + PROJECT, cache_jwk_set=False)
        self._jwks = jwks

    def fetch_data(self) -> Any:
        return self._jwks


@pytest.fixture(scope="module")
def signer() -> SessionSigner:
    return SessionSigner.generate()


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture
def client(signer: SessionSigner) -> Iterator[stytch.B2BClient]:
    c = stytch.B2BClient(PROJECT, "secret-test-not-a-real-secret", environment=BASE_URL)
    c.sessions.jwks_client = StaticJWKClient(signer.jwks())
    yield c


def _factors(at: float) -> list[dict[str, Any]]:
    password = AuthenticationFactor(
        type="password", delivery_method="knowledge", last_authenticated_at=at
    )
    sms = AuthenticationFactor(type="otp", delivery_method="sms", last_authenticated_at=at + 5)
    return [
        factor_json(password),
        factor_json(
            sms, phone_number_factor={"phone_id": "phone-1", "phone_number": "+14155552671"}
        ),
    ]


def _sign(signer: SessionSigner, now: float, **overrides: Any) -> str:
    fields: dict[str, Any] = {
        "project_id": PROJECT,
        "member_id": "member-test-1",
        "organization_id": "organization-test-1",
        "organization_slug": "acme",
        "session_id": "member-session-test-1",
        "started_at": now - 60,
        "last_accessed_at": now,
        "session_expires_at": now + 3600,
        "authentication_factors": _factors(now - 60),
        "roles": ["stytch_member", "admin"],
        "now": now,
    }
    fields.update(overrides)
    return signer.sign_session(**fields)


def _as_dt(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(ts), dt.UTC)


def test_official_sdk_accepts_our_session_jwt(
    client: stytch.B2BClient, signer: SessionSigner
) -> None:
    now = time.time()
    session = client.sessions.authenticate_jwt_local(session_jwt=_sign(signer, now))
    assert isinstance(session, MemberSession)
    assert session.member_id == "member-test-1"
    assert session.organization_id == "organization-test-1"
    assert session.organization_slug == "acme"
    assert session.member_session_id == "member-session-test-1"
    assert session.roles == ["stytch_member", "admin"]
    assert session.started_at == _as_dt(now - 60)
    assert session.last_accessed_at == _as_dt(now)
    assert session.expires_at == _as_dt(now + 3600)  # the session's, not the JWT's
    assert session.custom_claims == {}
    first, second = session.authentication_factors
    assert (first.type, first.delivery_method) == ("password", "knowledge")
    assert first.last_authenticated_at == _as_dt(now - 60)
    assert (second.type, second.delivery_method) == ("otp", "sms")
    assert second.last_authenticated_at == _as_dt(now - 55)
    assert second.phone_number_factor is not None
    assert second.phone_number_factor.phone_number == "+14155552671"


def test_official_sdk_async_path(client: stytch.B2BClient, signer: SessionSigner) -> None:
    totp = factor_json(
        AuthenticationFactor(
            type="totp", delivery_method="authenticator_app", last_authenticated_at=time.time()
        ),
        authenticator_app_factor={"totp_id": "totp-1"},
    )
    token = _sign(signer, time.time(), authentication_factors=[totp])
    session = asyncio.run(client.sessions.authenticate_jwt_local_async(session_jwt=token))
    assert session is not None
    (factor,) = session.authentication_factors
    assert (factor.type, factor.delivery_method) == ("totp", "authenticator_app")
    assert factor.authenticator_app_factor is not None
    assert factor.authenticator_app_factor.totp_id == "totp-1"


def test_jwt_shape(signer: SessionSigner) -> None:
    now = 1_700_000_000.4
    token = _sign(signer, now)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": signer.kid, "typ": "JWT"}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == [PROJECT]
    assert claims["iss"] == f"stytch.com/{PROJECT}"
    assert claims["sub"] == "member-test-1"
    assert claims["iat"] == claims["nbf"] == 1_700_000_000
    assert claims["exp"] == 1_700_000_300  # five minutes
    assert claims[SESSION_CLAIM]["started_at"] == "2023-11-14T22:12:20Z"
    assert claims[ORGANIZATION_CLAIM] == {"organization_id": "organization-test-1", "slug": "acme"}


def test_issuer_may_be_the_base_url(client: stytch.B2BClient, signer: SessionSigner) -> None:
    token = _sign(signer, time.time(), issuer=BASE_URL.rstrip("/"))
    assert client.sessions.authenticate_jwt_local(session_jwt=token) is not None
    other = _sign(signer, time.time(), issuer="https://evil.invalid")
    assert client.sessions.authenticate_jwt_local(session_jwt=other) is None


def test_other_project_refused(client: stytch.B2BClient, signer: SessionSigner) -> None:
    token = _sign(signer, time.time(), project_id="project-test-other")
    assert client.sessions.authenticate_jwt_local(session_jwt=token) is None


def test_expired_jwt_refused(client: stytch.B2BClient, signer: SessionSigner) -> None:
    token = _sign(signer, time.time() - 301)
    assert client.sessions.authenticate_jwt_local(session_jwt=token) is None


def test_jwt_never_outlives_its_session(client: stytch.B2BClient, signer: SessionSigner) -> None:
    now = time.time()
    claims = jwt.decode(
        _sign(signer, now, session_expires_at=now + 60), options={"verify_signature": False}
    )
    assert claims["exp"] == int(now + 60)
    late = _sign(signer, now - 120, session_expires_at=now - 10)
    assert client.sessions.authenticate_jwt_local(session_jwt=late) is None
    with pytest.raises(ValueError, match="expired"):
        _sign(signer, now, session_expires_at=now)


def test_jwt_signed_by_another_key_with_our_kid_refused(
    client: stytch.B2BClient, signer: SessionSigner
) -> None:
    forger = SessionSigner.generate(kid=signer.kid)
    assert client.sessions.authenticate_jwt_local(session_jwt=_sign(forger, time.time())) is None


def test_jwt_with_unknown_kid_raises_in_the_sdk(client: stytch.B2BClient) -> None:
    """The SDK looks the kid up before its try/except, so an unknown kid raises, not None."""
    stranger = SessionSigner.generate()
    with pytest.raises(jwt.PyJWKClientError):
        client.sessions.authenticate_jwt_local(session_jwt=_sign(stranger, time.time()))


def test_tampered_payload_refused(client: stytch.B2BClient, signer: SessionSigner) -> None:
    head, body, sig = _sign(signer, time.time()).split(".")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    forged = raw.replace(b"member-test-1", b"member-test-2")
    body2 = base64.urlsafe_b64encode(forged).decode().rstrip("=")
    assert client.sessions.authenticate_jwt_local(session_jwt=f"{head}.{body2}.{sig}") is None


def test_custom_claims(client: stytch.B2BClient, signer: SessionSigner) -> None:
    token = _sign(signer, time.time(), custom_claims={"tier": "gold"})
    session = client.sessions.authenticate_jwt_local(session_jwt=token)
    assert session is not None and session.custom_claims == {"tier": "gold"}
    for bad in ("sub", "exp", SESSION_CLAIM):
        with pytest.raises(ValueError, match="custom claims"):
            _sign(signer, time.time(), custom_claims={bad: "x"})


def test_jwks_document(signer: SessionSigner) -> None:
    doc = signer.jwks()
    (key,) = doc["keys"]
    assert set(key) == {"kty", "use", "alg", "kid", "n", "e"}  # public parts only
    assert (key["kty"], key["use"], key["alg"], key["kid"]) == ("RSA", "sig", "RS256", signer.kid)
    assert key["e"] == "AQAB"
    assert len(base64.urlsafe_b64decode(key["n"] + "==")) == 256  # 2048 bits
    retired = SessionSigner.generate()
    assert [k["kid"] for k in signer.jwks(retired)["keys"]] == [signer.kid, retired.kid]


def test_pem_round_trip_keeps_the_kid(signer: SessionSigner) -> None:
    again = SessionSigner.from_pem(signer.to_pem())
    assert again.kid == signer.kid == signer.thumbprint()
    locked = signer.to_pem(password=b"pw")
    assert b"ENCRYPTED" in locked
    assert SessionSigner.from_pem(locked, password=b"pw").kid == signer.kid
    assert "PRIVATE" not in repr(signer) and signer.kid in repr(signer)


def test_rfc3339() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(1_640_781_189.9) == "2021-12-29T12:33:09Z"


def test_dev_signer_created_once_and_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mfa_fsm_local.jwt"):
        first = dev_signer(tmp_path)
        second = dev_signer(tmp_path)
    path = tmp_path / DEV_SIGNING_KEY_FILE
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.kid == second.kid
    assert "created" in caplog.records[0].getMessage()
    assert "reused" in caplog.records[1].getMessage()
    assert "PRIVATE KEY" not in caplog.text
