"""The OpenAPI 3.1 document of the implemented surface, generated from the endpoint list."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .endpoint import Endpoint
from .errors import ErrorBody

PATH_PARAM = re.compile(r"{(\w+)}")
ID_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[A-Za-z0-9._~-]+$"}
Mode = Literal["validation", "serialization"]


def build_openapi(endpoints: list[Endpoint], *, title: str = "mfa-fsm") -> dict[str, Any]:
    wanted: list[tuple[type[BaseModel], Mode]] = [(ErrorBody, "serialization")]
    for ep in endpoints:
        wanted.append((ep.response, "serialization"))
        if ep.body is not None:
            wanted.append((ep.body, "validation"))
    unique = list(dict.fromkeys(wanted))
    refs, defs = models_json_schema(unique, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": "1",
            "description": "A Stytch-B2B-compatible API for MFA flows, over a local provider.",
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
        },
        "security": [{"basicAuth": []}],
    }


def _operation(ep: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    error = {
        "description": "An error in Stytch's shape",
        "content": {"application/json": {"schema": refs[(ErrorBody, "serialization")]}},
    }
    responses: dict[str, Any] = {
        "200": {
            "description": "Success",
            "content": {"application/json": {"schema": refs[(ep.response, "serialization")]}},
        }
    }
    statuses = set(ep.errors) | ({401} if not ep.public else set()) | {404}
    if ep.body is not None:
        statuses |= {400, 413}
    for status in sorted(statuses):
        responses[str(status)] = error
    op: dict[str, Any] = {
        "operationId": ep.operation_id,
        "summary": ep.summary,
        "responses": responses,
    }
    params = [
        {"name": name, "in": "path", "required": True, "schema": ID_SCHEMA}
        for name in PATH_PARAM.findall(ep.path)
    ]
    if ep.query is not None:
        params += _query_params(ep.query)
    if params:
        op["parameters"] = params
    if ep.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(ep.body, "validation")]}},
        }
    if ep.public:
        op["security"] = []
    return op


def _query_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema["properties"].items():
        options = [s for s in prop.get("anyOf", [prop]) if s.get("type") != "null"]
        clean = {k: v for k, v in options[0].items() if k != "title"}
        out.append({"name": name, "in": "query", "required": name in required, "schema": clean})
    return out
