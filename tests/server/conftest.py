"""A real `mfa-fsm serve` process per test module, on a free loopback port and a temp DB."""

from __future__ import annotations

import itertools
import random
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import stytch

from tests.serve_process import serve_env, start_serve, stop_process

PASSWORD = "correct horse battery staple"
PASSWORD_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


@dataclass
class Server:
    """A running server process and what a test needs to talk to it."""

    process: subprocess.Popen[bytes]
    base_url: str
    project_id: str
    secret: str
    data_dir: Path
    _http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self._http = httpx.Client(
            base_url=self.base_url, auth=(self.project_id, self.secret), timeout=10
        )

    def client(self) -> stytch.B2BClient:
        return stytch.B2BClient(self.project_id, self.secret, environment=self.base_url)

    def http(self) -> httpx.Client:
        return self._http

    def outbox(self, **params: str) -> list[dict[str, Any]]:
        response = self._http.get("/v1/dev/outbox", params=params)
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    def last_code(self, phone: str) -> str:
        codes = [m["code"] for m in self.outbox(kind="sms", to=phone) if m["code"]]
        assert codes, f"no SMS to {phone}"
        return str(codes[-1])

    def last_token(self, email: str) -> str:
        tokens = [m["token"] for m in self.outbox(kind="email", to=email) if m["token"]]
        assert tokens, f"no email to {email}"
        return str(tokens[-1])

    def log_text(self) -> str:
        return (self.data_dir / "stderr.log").read_text() + (
            self.data_dir / "stdout.log"
        ).read_text()

    def stop(self) -> int:
        self._http.close()
        return stop_process(self.process)


def start_server(
    data_dir: Path, *, dev: bool = True, generated: bool = False, db: str | None = None
) -> Server:
    """Start `python -m mfa_fsm_cli.serve` and wait until it answers.

    With `generated`, no credentials are set and the server (in --dev) makes its own.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    project_id = "" if generated else f"project-test-{uuid.uuid4()}"
    secret = "" if generated else f"secret-test-{uuid.uuid4().hex}"
    env = serve_env(project_id, secret)
    args = ["--db", db or str(data_dir / "mfa.db"), *(["--dev"] if dev else [])]
    served = start_serve(
        args, env=env, stdout=data_dir / "stdout.log", stderr=data_dir / "stderr.log", cwd=data_dir
    )
    return Server(served.process, served.base_url, project_id, secret, data_dir)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    live = start_server(tmp_path_factory.mktemp("server"))
    try:
        yield live
    finally:
        live.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_org(client: stytch.B2BClient, **settings: Any) -> str:
    """A fresh organization with the given MFA settings; returns its id."""
    slug = unique("org")
    created = client.organizations.create(
        organization_name=slug, organization_slug=slug, **settings
    )
    return created.organization.organization_id


def new_member(client: stytch.B2BClient, org_id: str, email: str | None = None) -> tuple[str, str]:
    """A member with a migrated password; returns (member id, email)."""
    email = email or f"{unique('ada')}@example.com"
    migrated = client.passwords.migrate(
        email_address=email, hash=PASSWORD_HASH, hash_type="bcrypt", organization_id=org_id
    )
    assert migrated.member_created
    return migrated.member_id, email


_phones = itertools.count(random.randrange(1_000_000))


def new_phone() -> str:
    """A valid US number never handed out before in this process, so outbox lookups never
    mix tests (each test process talks to its own servers)."""
    n = next(_phones) % 8_000_000
    return f"+1415{200 + n // 10_000:03d}{n % 10_000:04d}"


def pytest_configure(config: pytest.Config) -> None:
    # The SDK's async client uses an aiohttp argument that aiohttp deprecates; not ours.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:stytch")
