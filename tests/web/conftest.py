"""A provider on a real SQLite file and a hand-moved clock, with the pages mounted over it,
driven through httpx (Starlette's TestClient) like a browser: cookies kept, redirects
followed, the CSRF token of the last page sent back with every form."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pyotp
import pytest
from starlette.testclient import TestClient

from mfa_fsm_local._keys import Keyring
from mfa_fsm_local._ports import ManualClock, OutboxSender
from mfa_fsm_local._records import Member, Organization
from mfa_fsm_local._sqlite import SqliteStore
from mfa_fsm_local.provider import LocalProvider
from mfa_fsm_web import WebSettings, create_app

PASSWORD = "correct horse battery staple"
PHONE = "+14155551234"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def alerts(html: str) -> list[str]:
    """The texts of the page's alert and status messages."""
    return [m.strip() for m in re.findall(r'role="(?:alert|status)"[^>]*>([^<]+)<', html)]


def current_state(html: str) -> str:
    found = re.search(r'data-testid="current-state">([a-z_]+)<', html)
    assert found, "the page shows no flow state"
    return found.group(1)


@dataclass
class Browser:
    """One browser: its cookie jar, the last page, and the CSRF token that page carried."""

    client: TestClient
    token: str = ""
    last: httpx.Response | None = None
    history: list[str] = field(default_factory=list)

    def _seen(self, response: httpx.Response) -> httpx.Response:
        self.last = response
        self.history += [str(r.url) for r in response.history] + [str(response.url)]
        found = CSRF.search(response.text)
        if found:
            self.token = found.group(1)
        return response

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self._seen(self.client.get(path, **kw))

    def post(self, path: str, **data: str) -> httpx.Response:
        if not self.token:
            self.get("/")
        body = {"csrf_token": self.token} | data
        return self._seen(self.client.post(path, data=body))

    @property
    def cookie(self) -> str | None:
        return self.client.cookies.get("mfa_fsm_web")


@dataclass
class WebKit:
    provider: LocalProvider
    clock: ManualClock
    outbox: OutboxSender
    store: SqliteStore
    path: Path
    settings: WebSettings
    browsers: list[TestClient] = field(default_factory=list)

    def browser(self, base_url: str = "http://testserver", **settings: Any) -> Browser:
        app = create_app(self.provider, settings=self.settings_with(**settings))
        client = TestClient(app, base_url=base_url)
        self.browsers.append(client)
        return Browser(client)

    def settings_with(self, **changes: Any) -> WebSettings:
        from dataclasses import replace

        return replace(self.settings, **changes)

    def org(self, slug: str = "acme", **policy: Any) -> Organization:
        return self.provider.organizations_create(slug.title(), slug, **policy)

    def member(self, org: Organization, email: str = "ada@example.com") -> Member:
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        return self.provider.passwords_migrate(org.organization_id, email, hashed, "bcrypt")

    def last_code(self, to: str = PHONE) -> str:
        codes = [m.code for m in self.outbox.messages(kind="sms", to=to) if m.code]
        assert codes, f"no SMS to {to}"
        return codes[-1]

    def sms_count(self, to: str = PHONE) -> int:
        return len(self.outbox.messages(kind="sms", to=to))

    def last_token(self, to: str) -> str:
        tokens = [m.token for m in self.outbox.messages(kind="email", to=to) if m.token]
        assert tokens, f"no email to {to}"
        return tokens[-1]

    def totp_code(self, secret: str, offset: float = 0.0) -> str:
        return pyotp.TOTP(secret).at(self.clock.now() + offset)

    # ---- whole steps, through the pages

    def sign_in(
        self, b: Browser, org: str = "acme", email: str = "ada@example.com"
    ) -> httpx.Response:
        b.get("/")
        return b.post("/login", organization=org, email=email, password=PASSWORD)

    def enroll_sms(self, b: Browser, org: str = "acme", email: str = "ada@example.com") -> None:
        self.sign_in(b, org, email)
        b.post("/mfa/enroll/sms", phone=PHONE)
        done = b.post("/mfa/code", code=self.last_code())
        assert done.url.path == "/account", alerts(done.text)

    def enroll_totp(self, b: Browser) -> tuple[str, list[str]]:
        """From a page with a session or IST: set up TOTP; returns the secret and codes."""
        page = b.post("/mfa/enroll/totp")
        secret = re.search(r'data-testid="totp-secret"[^>]*>([A-Z2-7 ]+)<', page.text)
        assert secret, page.text
        plain = secret.group(1).replace(" ", "")
        codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", page.text)
        done = b.post("/mfa/code", code=self.totp_code(plain))
        assert done.url.path == "/account", alerts(done.text)
        return plain, codes


def make_kit(path: Path) -> WebKit:
    store = SqliteStore(path)
    clock = ManualClock()
    outbox = OutboxSender(store)
    keyring = Keyring.from_master(b"w" * 32, nonce_source=os.urandom)
    provider = LocalProvider(store, keyring, clock=clock, sms=outbox, email=outbox)
    settings = WebSettings(outbox=outbox.messages)
    return WebKit(provider, clock, outbox, store, path, settings)


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[WebKit]:
    k = make_kit(tmp_path / "mfa.db")
    yield k
    for client in k.browsers:
        client.close()
    k.store.close()
