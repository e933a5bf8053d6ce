"""`create_app`: the Starlette application over a `LocalProvider`.

One outer ASGI middleware gives every request an id, checks Basic auth (all but the
public JWKS and OpenAPI document) and logs one structured line when the response is
done: method, path, status, milliseconds. Never a body, query string, code or token.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mfa_fsm_local.provider import LocalProvider

from . import outbox, routes_admin, routes_mfa, routes_primary, routes_sessions
from .auth import ProjectCredentials
from .calls import ProviderCalls
from .endpoint import Endpoint, route_handler
from .errors import error_response, on_http_error, unauthorized
from .openapi import build_openapi
from .routing import IndexedRouter

access_log = logging.getLogger("mfa_fsm_server.access")

OPENAPI_PATH = "/openapi.json"
JWKS_PREFIX = "/v1/b2b/sessions/jwks/"


def endpoints(*, dev: bool) -> list[Endpoint]:
    """Every implemented operation; the dev outbox only in development."""
    found = [
        *routes_admin.ENDPOINTS,
        *routes_primary.ENDPOINTS,
        *routes_mfa.ENDPOINTS,
        *routes_sessions.ENDPOINTS,
    ]
    return [*found, outbox.ENDPOINT] if dev else found


def create_app(
    provider: LocalProvider, *, project_id: str, secret: str, dev: bool = False
) -> Starlette:
    """The Stytch-B2B-compatible API for `provider`, guarded by `project_id` and `secret`.

    The provider signs session JWTs for its own project id, which is the JWT audience the
    SDKs check, so the two must be the same project.
    """
    if provider.project_id != project_id:
        raise ValueError(
            f"the provider serves project {provider.project_id!r}, not {project_id!r}; "
            "build it with LocalProvider(..., project_id=project_id)"
        )
    served = endpoints(dev=dev)
    calls = ProviderCalls.for_provider(provider)
    document = build_openapi(served)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    by_path: dict[str, list[Endpoint]] = {}
    for ep in served:
        by_path.setdefault(ep.path, []).append(ep)
    routes = [
        Route(path, _dispatch(group, provider, calls), methods=[ep.method for ep in group])
        for path, group in by_path.items()
    ]
    routes.append(Route(OPENAPI_PATH, openapi, methods=["GET"]))
    app = Starlette(exception_handlers={HTTPException: on_http_error})
    app.router = IndexedRouter(routes)
    app.add_middleware(RequestMiddleware, credentials=ProjectCredentials(project_id, secret))
    app.state.provider = provider
    app.state.provider_calls = calls
    app.state.openapi = document
    return app


def _dispatch(
    group: list[Endpoint], provider: LocalProvider, calls: ProviderCalls
) -> Callable[[Request], Awaitable[Response]]:
    """One route per path, so a wrong method gets a 405 listing every allowed one."""
    handlers = {ep.method: route_handler(ep, provider, calls) for ep in group}
    if "GET" in handlers:
        handlers["HEAD"] = handlers["GET"]

    async def by_method(request: Request) -> Response:
        return await handlers[request.method](request)

    return by_method


class RequestMiddleware:
    """Request id, Basic auth and the access log line, in pure ASGI (no body buffering)."""

    def __init__(self, app: ASGIApp, credentials: ProjectCredentials) -> None:
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = f"request-id-test-{uuid.uuid4()}"
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        path: str = scope["path"]
        try:
            if _is_public(path) or self.credentials.check(_header(scope, b"authorization")):
                await self.app(scope, receive, send_and_note)
            else:
                err = unauthorized()
                response = error_response(
                    err.status_code,
                    err.error_type,
                    err.message,
                    request_id,
                    {"WWW-Authenticate": 'Basic realm="stytch"'},
                )
                await response(scope, receive, send_and_note)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    json.dumps(
                        {
                            "event": "request",
                            "request_id": request_id,
                            "method": scope["method"],
                            "path": path,
                            "status": status,
                            "ms": round((time.perf_counter() - started) * 1000, 2),
                        }
                    )
                )


def _is_public(path: str) -> bool:
    return path == OPENAPI_PATH or path.startswith(JWKS_PREFIX)


def _header(scope: Scope, name: bytes) -> bytes | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == name:
            return value
    return None


__all__ = ["create_app", "endpoints"]
