"""The app in-process (httpx's ASGI transport): factory contract, credential checks, and
errors that must never leak a message or become a bare 500."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from mfa_fsm_local._keys import Keyring
from mfa_fsm_local._ports import Message, OutboxSender
from mfa_fsm_local._repo import Busy
from mfa_fsm_local._sqlite import SqliteStore
from mfa_fsm_local.provider import LocalProvider
from mfa_fsm_server import create_app
from mfa_fsm_server.auth import ProjectCredentials
from mfa_fsm_server.routing import IndexedRouter

PROJECT_ID = "project-test-app"
SECRET = "secret-test-app-0123456789"


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[LocalProvider]:
    store = SqliteStore(tmp_path / "mfa.db", synchronous="NORMAL")
    outbox = OutboxSender(store)
    keyring = Keyring.from_master(b"a" * 32, nonce_source=os.urandom)
    yield LocalProvider(store, keyring, sms=outbox, email=outbox, project_id=PROJECT_ID)
    store.close()


def call(provider: LocalProvider, method: str, path: str, **kw: Any) -> httpx.Response:
    app = create_app(provider, project_id=PROJECT_ID, secret=SECRET)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", auth=(PROJECT_ID, SECRET)
        ) as client:
            return await client.request(method, path, **kw)

    return asyncio.run(go())


def basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


def test_the_provider_must_serve_the_same_project(provider: LocalProvider) -> None:
    with pytest.raises(ValueError, match="project"):
        create_app(provider, project_id="project-test-other", secret=SECRET)
    with pytest.raises(ValueError):
        create_app(provider, project_id=PROJECT_ID, secret="")


def test_credentials_need_both_parts_exactly() -> None:
    creds = ProjectCredentials(PROJECT_ID, SECRET)
    assert creds.check(basic(PROJECT_ID, SECRET))
    assert creds.check(b"basic " + basic(PROJECT_ID, SECRET)[6:])
    for bad in (
        basic(PROJECT_ID, SECRET[:-1] + "X"),  # same length, last byte differs
        basic(PROJECT_ID, SECRET[:-1]),  # a prefix
        basic(PROJECT_ID, SECRET + "0"),  # longer
        basic(PROJECT_ID + "x", SECRET),
        basic("", SECRET),
        basic(PROJECT_ID, ""),
        b"Basic " + base64.b64encode(f"{PROJECT_ID}{SECRET}".encode()),  # no colon
        b"Bearer " + SECRET.encode(),
        b"Basic",
        b"Basic %%%",
        None,
    ):
        assert not creds.check(bad), bad


def test_an_unexpected_failure_is_a_500_in_shape_without_its_message(
    provider: LocalProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret-detail-that-must-not-leak")

    monkeypatch.setattr(provider, "organizations_get", explode)
    response = call(provider, "GET", "/v1/b2b/organizations/organization-x")
    assert response.status_code == 500
    body = response.json()
    assert body["error_type"] == "internal_server_error"
    assert "secret-detail" not in response.text


def test_a_busy_record_is_a_retryable_429(
    provider: LocalProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(*args: object, **kwargs: object) -> None:
        raise Busy("kept changing")

    monkeypatch.setattr(provider, "organizations_get", busy)
    response = call(provider, "GET", "/v1/b2b/organizations/organization-x")
    assert response.status_code == 429
    assert response.json()["error_type"] == "too_many_requests"


def test_head_and_405_list_the_methods_of_the_path(provider: LocalProvider) -> None:
    org = provider.organizations_create("Acme", "acme-app")
    path = f"/v1/b2b/organizations/{org.organization_id}"
    assert call(provider, "HEAD", path).status_code == 200
    refused = call(provider, "DELETE", path)
    assert refused.status_code == 405
    assert set(refused.headers["allow"].split(", ")) == {"GET", "HEAD", "PUT"}
    assert refused.json()["error_type"] == "method_not_allowed"


def test_unknown_query_parameters_are_refused(provider: LocalProvider) -> None:
    org = provider.organizations_create("Acme", "acme-query")
    path = f"/v1/b2b/organizations/{org.organization_id}"
    assert call(provider, "GET", path, params={"organization_id": org.organization_id}).is_success
    refused = call(provider, "GET", path, params={"expand": "everything"})
    assert refused.status_code == 400 and refused.json()["error_type"] == "invalid_request"


def test_one_app_serves_concurrent_requests_across_event_loops(provider: LocalProvider) -> None:
    """As a test suite uses it: one app, a new event loop per test, requests in parallel
    (the SQLite queue must not bind itself to the first loop)."""
    app = create_app(provider, project_id=PROJECT_ID, secret=SECRET)
    org = provider.organizations_create("Acme", "acme-loops")

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", auth=(PROJECT_ID, SECRET)
        ) as client:
            path = f"/v1/b2b/organizations/{org.organization_id}"
            responses = await asyncio.gather(*(client.get(path) for _ in range(20)))
            return [r.status_code for r in responses]

    for _ in range(3):
        assert asyncio.run(burst()) == [200] * 20


def test_the_outbox_shows_every_message_not_only_the_first_thousands(
    provider: LocalProvider,
) -> None:
    outbox = OutboxSender(provider.repo.store)
    for i in range(2500):
        outbox.send(Message(kind="sms", to=f"+1415555{i % 7:04d}", body="b", code=f"{i:06d}"))
    app = create_app(provider, project_id=PROJECT_ID, secret=SECRET, dev=True)

    async def fetch(**params: str) -> list[dict[str, Any]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", auth=(PROJECT_ID, SECRET)
        ) as client:
            response = await client.get("/v1/dev/outbox", params=params)
            messages: list[dict[str, Any]] = response.json()["messages"]
            return messages

    everything = asyncio.run(fetch())
    assert [m["code"] for m in everything] == [f"{i:06d}" for i in range(2500)]
    last = asyncio.run(fetch(kind="sms", to="+14155550006"))
    assert last[-1]["code"] == f"{2498:06d}" and len(last) == 357


def test_every_parameterless_path_is_found_by_lookup_and_the_rest_by_scan(
    provider: LocalProvider,
) -> None:
    app = create_app(provider, project_id=PROJECT_ID, secret=SECRET)
    router = app.router
    assert isinstance(router, IndexedRouter)
    paths = {r.path for r in router.routes if isinstance(r, Route)}
    assert set(router.exact) == {p for p in paths if "{" not in p}
    assert "/v1/b2b/sessions/authenticate" in router.exact
    assert "/v1/b2b/organizations/{organization_id}" in paths - set(router.exact)
