"""Fuzz every operation from the server's own OpenAPI document (schemathesis, in-process):
no 5xx, and every response (success or error) conforms to the document."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from starlette.applications import Starlette

from mfa_fsm_local._keys import Keyring
from mfa_fsm_local._ports import OutboxSender
from mfa_fsm_local._sqlite import SqliteStore
from mfa_fsm_local.provider import LocalProvider
from mfa_fsm_server import create_app
from mfa_fsm_server.app import endpoints
from mfa_fsm_server.openapi import build_openapi

PROJECT_ID = "project-test-fuzz"
SECRET = "secret-test-fuzz"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{PROJECT_ID}:{SECRET}".encode()).decode()}
EXAMPLES = 60 if os.environ.get("CI", "").lower() == "true" else 20


DOCUMENT = build_openapi(endpoints(dev=True))
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module", autouse=True)
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Starlette]:
    """The app under test, on a real SQLite file; the schema's calls go to it in-process."""
    path: Path = tmp_path_factory.mktemp("fuzz") / "mfa.db"
    store = SqliteStore(path, synchronous="NORMAL")
    outbox = OutboxSender(store)
    keyring = Keyring.from_master(b"f" * 32, nonce_source=os.urandom)
    provider = LocalProvider(store, keyring, sms=outbox, email=outbox, project_id=PROJECT_ID)
    provider.organizations_create("Fuzz", "fuzz", mfa_policy="REQUIRED_FOR_ALL")
    served = create_app(provider, project_id=PROJECT_ID, secret=SECRET, dev=True)
    yield served
    store.close()


def test_the_fuzzed_document_is_the_served_one(app: Starlette) -> None:
    assert app.state.openapi == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms(case: schemathesis.Case[Any], app: Starlette) -> None:
    case.operation.schema.app = app  # send in-process, through schemathesis' ASGI transport
    case.call_and_validate(
        app=app,
        headers=AUTH,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            negative_data_rejection,
            unsupported_method,
            missing_required_header,
            ignored_auth,  # replays without and with wrong credentials: must be 401
        ],
    )
