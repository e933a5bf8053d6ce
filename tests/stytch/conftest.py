"""This project's Stytch-compatible server, two ways: in process through
`httpx.ASGITransport` (async driver), and as a real `mfa-fsm serve` process on a free
loopback port (sync driver). Both on a real SQLite file in a temp dir, with the dev
outbox for reading SMS codes and magic-link tokens."""

from __future__ import annotations

import os
import subprocess
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
from starlette.applications import Starlette

from mfa_fsm_local._keys import Keyring
from mfa_fsm_local._ports import OutboxSender
from mfa_fsm_local._sqlite import SqliteStore
from mfa_fsm_local.provider import LocalProvider
from mfa_fsm_server import create_app
from tests.serve_process import serve_env, start_serve, stop_process

PASSWORD = "correct horse battery staple"
PASSWORD_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
BASE_URL = "http://mfa-fsm.test"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_phone() -> str:
    """A distinct valid US number per call, so outbox lookups never mix tests."""
    return f"+1415555{uuid.uuid4().int % 10_000:04d}"


@dataclass
class Admin:
    """Sets up organizations and members and reads the outbox, over the HTTP API."""

    http: httpx.Client

    def org(self, **settings: Any) -> str:
        slug = unique("org")
        body = {"organization_name": slug, "organization_slug": slug, **settings}
        response = self.http.post("/v1/b2b/organizations", json=body)
        response.raise_for_status()
        return str(response.json()["organization"]["organization_id"])

    def member(self, org_id: str) -> tuple[str, str]:
        """A member with a password; returns (member id, email)."""
        email = f"{unique('ada')}@example.com"
        body = {
            "organization_id": org_id,
            "email_address": email,
            "hash": PASSWORD_HASH,
            "hash_type": "bcrypt",
        }
        response = self.http.post("/v1/b2b/passwords/migrate", json=body)
        response.raise_for_status()
        return str(response.json()["member_id"]), email

    def send_magic_link(self, org_id: str, email: str) -> None:
        body = {"organization_id": org_id, "email_address": email}
        self.http.post("/v1/b2b/magic_links/email/login_or_signup", json=body).raise_for_status()

    def member_record(self, org_id: str, member_id: str) -> dict[str, Any]:
        response = self.http.get(
            f"/v1/b2b/organizations/{org_id}/member", params={"member_id": member_id}
        )
        response.raise_for_status()
        member: dict[str, Any] = response.json()["member"]
        return member

    def _outbox(self, kind: str, to: str, field: str) -> str:
        response = self.http.get("/v1/dev/outbox", params={"kind": kind, "to": to})
        response.raise_for_status()
        found = [m[field] for m in response.json()["messages"] if m[field]]
        assert found, f"no {kind} to {to}"
        return str(found[-1])

    def last_code(self, phone: str) -> str:
        return self._outbox("sms", phone, "code")

    def sms_count(self, phone: str) -> int:
        response = self.http.get("/v1/dev/outbox", params={"kind": "sms", "to": phone})
        return len(response.json()["messages"])

    def last_token(self, email: str) -> str:
        return self._outbox("email", email, "token")


@dataclass
class InProcess:
    """The server app in this process; the async driver reaches it via ASGITransport."""

    app: Starlette
    project_id: str
    secret: str
    admin: Admin

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app)


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[InProcess]:
    store = SqliteStore(tmp_path / "mfa.db")
    outbox = OutboxSender(store)
    project_id, secret = f"project-test-{uuid.uuid4()}", f"secret-test-{uuid.uuid4().hex}"
    keyring = Keyring.from_master(os.urandom(32))
    provider = LocalProvider(store, keyring, sms=outbox, email=outbox, project_id=project_id)
    app = create_app(provider, project_id=project_id, secret=secret, dev=True)
    http = _sync_asgi_client(app, project_id, secret)
    try:
        yield InProcess(app, project_id, secret, Admin(http))
    finally:
        http.close()
        store.close()


def _sync_asgi_client(app: Starlette, project_id: str, secret: str) -> httpx.Client:
    """Setup calls from sync test code: Starlette's TestClient runs the app in a portal."""
    with warnings.catch_warnings():  # starlette's module uses a deprecated anyio alias
        warnings.simplefilter("ignore", DeprecationWarning)
        from starlette.testclient import TestClient

    client = TestClient(app, base_url=BASE_URL)
    client.auth = (project_id, secret)
    return client


# ---------------------------------------------------------------- a real server process


@dataclass
class Live:
    process: subprocess.Popen[bytes]
    base_url: str
    project_id: str
    secret: str
    logs: Path
    admin: Admin

    def stop(self) -> None:
        self.admin.http.close()
        stop_process(self.process)


def _start(data_dir: Path) -> Live:
    project_id, secret = f"project-test-{uuid.uuid4()}", f"secret-test-{uuid.uuid4().hex}"
    logs = data_dir / "server.log"
    args = ["--dev", "--db", str(data_dir / "mfa.db")]
    served = start_serve(args, env=serve_env(project_id, secret), stdout=logs)
    admin = Admin(httpx.Client(base_url=served.base_url, auth=(project_id, secret), timeout=10))
    return Live(served.process, served.base_url, project_id, secret, logs, admin)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    server = _start(tmp_path_factory.mktemp("stytch-live"))
    try:
        yield server
    finally:
        server.stop()
