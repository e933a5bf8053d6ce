"""The login the fault tests drive over HTTP: password, then an SMS code, then a session.

`Api` speaks the Stytch B2B wire format with HTTP Basic auth; every answer that is not a
200 must still be Stytch's error object, which `Refused` carries.
"""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import dataclass
from typing import Any

import bcrypt
import httpx

PASSWORD = "correct horse battery staple"
PASSWORD_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
ERROR_FIELDS = {"status_code", "request_id", "error_type", "error_message", "error_url"}

_phones = itertools.count(random.randrange(1_000_000))


def new_phone() -> str:
    """A valid US number not handed out before in this process."""
    n = next(_phones) % 8_000_000
    return f"+1415{200 + n // 10_000:03d}{n % 10_000:04d}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Refused(Exception):
    """A non-200 answer, in Stytch's error shape (checked on the way in)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body.get('error_type')}")
        self.status = status
        self.error_type = str(body.get("error_type"))
        self.body = body


class Api:
    """A thin Stytch B2B client over httpx, one keep-alive connection pool per instance."""

    def __init__(self, base_url: str, project_id: str, secret: str, timeout: float = 15) -> None:
        self.http = httpx.Client(base_url=base_url, auth=(project_id, secret), timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, **params: str
    ) -> dict[str, Any]:
        response = self.http.request(method, path, json=body, params=params or None)
        data: dict[str, Any] = response.json()  # never a stack trace or an HTML page
        if response.status_code != 200:
            assert data.keys() >= ERROR_FIELDS, data
            assert data["status_code"] == response.status_code
            raise Refused(response.status_code, data)
        return data

    def create_org(self, slug: str | None = None) -> str:
        slug = slug or unique("org")
        body = {"organization_name": slug, "organization_slug": slug}
        created = self.call(
            "POST", "/v1/b2b/organizations", {**body, "mfa_policy": "REQUIRED_FOR_ALL"}
        )
        return str(created["organization"]["organization_id"])

    def get_org(self, organization_id: str) -> dict[str, Any]:
        found = self.call("GET", f"/v1/b2b/organizations/{organization_id}")
        organization: dict[str, Any] = found["organization"]
        return organization

    def migrate(self, org_id: str, email: str | None = None) -> tuple[str, str]:
        """A member with a bcrypt hash imported; returns (member id, email)."""
        email = email or f"{unique('ada')}@example.com"
        body = {"email_address": email, "hash": PASSWORD_HASH, "hash_type": "bcrypt"}
        body["organization_id"] = org_id
        migrated = self.call("POST", "/v1/b2b/passwords/migrate", body)
        assert migrated["member_created"] is True
        return str(migrated["member_id"]), email

    def password(self, org_id: str, email: str) -> str:
        """The intermediate session token of a password login (MFA required)."""
        return self.password_login(org_id, email)[0]

    def password_login(self, org_id: str, email: str) -> tuple[str, str | None]:
        """(IST, enrolled phone or None) of a password login (MFA required). An enrolled
        member's login has already sent a code to that phone (`secondary_auth_initiated`)."""
        body = {"organization_id": org_id, "email_address": email, "password": PASSWORD}
        login = self.call("POST", "/v1/b2b/passwords/authenticate", body)
        assert login["member_authenticated"] is False and login["session_token"] == ""
        member = login["member"]
        enrolled = member["mfa_phone_number"] if member["mfa_enrolled"] else None
        if enrolled:
            assert login["mfa_required"]["secondary_auth_initiated"] == "sms_otp"
        return str(login["intermediate_session_token"]), enrolled

    def send(self, org_id: str, member_id: str, phone: str, ist: str) -> None:
        self.call(
            "POST",
            "/v1/b2b/otps/sms/send",
            {
                "organization_id": org_id,
                "member_id": member_id,
                "mfa_phone_number": phone,
                "intermediate_session_token": ist,
            },
        )

    def last_code(self, phone: str) -> str:
        """The newest SMS code sent to `phone`, from the dev outbox (in the shared store)."""
        messages = self.call("GET", "/v1/dev/outbox", kind="sms", to=phone)["messages"]
        codes = [m["code"] for m in messages if m["code"]]
        assert codes, "no SMS code sent to this phone"
        return str(codes[-1])

    def sms_authenticate(self, org_id: str, member_id: str, code: str, ist: str) -> str:
        """The session token the right code earns."""
        body = {"organization_id": org_id, "member_id": member_id, "code": code}
        done = self.call(
            "POST", "/v1/b2b/otps/sms/authenticate", {**body, "intermediate_session_token": ist}
        )
        assert done["member_session"]["member_id"] == member_id
        return str(done["session_token"])

    def session_member(self, session_token: str) -> str:
        checked = self.call(
            "POST", "/v1/b2b/sessions/authenticate", {"session_token": session_token}
        )
        return str(checked["member_session"]["member_id"])

    def live_sessions(self, org_id: str, member_id: str) -> list[dict[str, Any]]:
        found = self.call("GET", "/v1/b2b/sessions", organization_id=org_id, member_id=member_id)
        sessions: list[dict[str, Any]] = found["member_sessions"]
        return sessions


@dataclass
class Login:
    """One member's login, parked after the SMS code was sent."""

    org_id: str
    member_id: str
    email: str
    phone: str
    ist: str


def park_login(api: Api, org_id: str) -> Login:
    """A new member logs in by password and is sent an enrollment code; not yet answered."""
    member_id, email = api.migrate(org_id)
    phone = new_phone()
    ist = api.password(org_id, email)
    api.send(org_id, member_id, phone, ist)
    return Login(org_id, member_id, email, phone, ist)


def finish_login(api: Api, login: Login) -> str:
    """Answer the parked login with its code (read from the outbox); the session token."""
    code = api.last_code(login.phone)
    return api.sms_authenticate(login.org_id, login.member_id, code, login.ist)


def wrong_code(right: str) -> str:
    return "000000" if right != "000000" else "111111"
