"""Every error leaves the server in Stytch's shape, with a Stytch `error_type` name.

Domain errors (`MfaError` and the provider's subclasses) carry their own `error_type` and
status. The HTTP edge adds the few that only it can detect: bad credentials, bad JSON, a
body that fails validation, an oversized body, an unknown route.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger("mfa_fsm_server")

ERROR_URL = "https://stytch.com/docs/b2b/api/errors/{status}#{error_type}"


class ErrorBody(BaseModel):
    """The error object Stytch returns (and the SDK parses into `StytchError`)."""

    status_code: int
    request_id: str
    error_type: str
    error_message: str
    error_url: str


class ApiError(Exception):
    """An error found at the HTTP edge, before or around the provider call."""

    def __init__(self, status_code: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type
        self.message = message


def unauthorized() -> ApiError:
    return ApiError(
        401, "unauthorized_credentials", "The project id and secret do not match this project."
    )


def error_response(
    status_code: int,
    error_type: str,
    message: str,
    request_id: str,
    headers: dict[str, str] | None = None,
) -> Response:
    body = ErrorBody(
        status_code=status_code,
        request_id=request_id,
        error_type=error_type,
        error_message=message,
        error_url=ERROR_URL.format(status=status_code, error_type=error_type),
    )
    return Response(
        body.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


async def on_http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (unknown path, wrong method) in the same shape."""
    assert isinstance(exc, HTTPException)
    error_type, message = {
        404: ("route_not_found", "No such endpoint."),
        405: ("method_not_allowed", "This endpoint does not take this HTTP method."),
    }.get(exc.status_code, ("bad_request", str(exc.detail)))
    return error_response(
        exc.status_code, error_type, message, request_id_of(request), dict(exc.headers or {})
    )


async def on_busy(request: Request, exc: Exception) -> Response:
    """A record kept changing under concurrent writes: the client may retry."""
    return error_response(
        429, "too_many_requests", "Too many concurrent changes; retry.", request_id_of(request)
    )


async def on_store_unavailable(request: Request, exc: Exception) -> Response:
    log.error("store unavailable: %s", type(exc).__name__)
    return error_response(
        503, "service_unavailable", "The data store is unavailable.", request_id_of(request)
    )


async def on_unexpected(request: Request, exc: Exception) -> Response:
    """A bug: logged with its type only (a message could quote a secret), 500 in shape."""
    log.error("unhandled %s on %s", type(exc).__name__, request.url.path)
    return error_response(
        500, "internal_server_error", "An internal error occurred.", request_id_of(request)
    )
