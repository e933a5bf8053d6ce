"""One declaration per endpoint: method, path, body and query models, response model.

The app builds its routes from these, and the OpenAPI document is generated from the very
same list, so every implemented operation is documented and nothing else is.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from mfa_fsm import MfaError
from mfa_fsm_local._repo import Busy
from mfa_fsm_local.provider import LocalProvider
from mfa_fsm_local.stores import StoreUnavailable

from .calls import ProviderCalls
from .errors import ApiError, error_response, on_busy, on_store_unavailable, on_unexpected

MAX_BODY_BYTES = 64 * 1024
"""Request bodies over this are refused with 413 before they are parsed."""

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


@dataclass
class Call:
    """What a handler gets: the provider, the validated inputs and the request id."""

    provider: LocalProvider
    request: Request
    request_id: str
    body: BaseModel | None
    query: BaseModel | None
    calls: ProviderCalls

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def body_as(self, model: type[M]) -> M:
        assert isinstance(self.body, model)
        return self.body

    def query_as(self, model: type[M]) -> M:
        assert isinstance(self.query, model)
        return self.query

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call the synchronous provider off the event loop, the way the app runs calls."""
        return await self.calls.run(functools.partial(fn, *args, **kwargs))

    def now(self) -> float:
        return self.provider.clock.now()


Handler = Callable[[Call], Awaitable[BaseModel]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    handler: Handler
    response: type[BaseModel]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    public: bool = False
    errors: tuple[int, ...] = (400, 401, 403, 404, 409, 413, 429)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


async def read_json(request: Request) -> Any:
    """The body as JSON, refusing oversized or malformed ones with a clear 4xx."""
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise ApiError(400, "bad_request", "The Content-Length header is not a number.")
    if declared is not None and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_request", "The request body is not valid JSON.") from None


def _too_large() -> ApiError:
    return ApiError(
        413, "request_too_large", f"Request bodies are limited to {MAX_BODY_BYTES} bytes."
    )


def validate(model: type[M], data: Any, where: str) -> M:
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", f"The {where} must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        loc = ".".join(str(p) for p in err["loc"]) or where
        raise ApiError(400, "invalid_request", f"{loc}: {err['msg']}") from None


def route_handler(
    endpoint: Endpoint, provider: LocalProvider, calls: ProviderCalls
) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint: validate, call, render; every failure in Stytch's shape."""

    async def serve(request: Request) -> Response:
        request_id = str(request.state.request_id)
        try:
            body = query = None
            if endpoint.body is not None:
                body = validate(endpoint.body, await read_json(request), "body")
            if endpoint.query is not None:
                query = validate(endpoint.query, dict(request.query_params), "query")
            call = Call(provider, request, request_id, body, query, calls)
            result = await endpoint.handler(call)
            return Response(result.model_dump_json(), media_type="application/json")
        except ApiError as exc:
            return error_response(exc.status_code, exc.error_type, exc.message, request_id)
        except MfaError as exc:
            return error_response(exc.status_code, exc.error_type, exc.message, request_id)
        except Busy as exc:
            return await on_busy(request, exc)
        except StoreUnavailable as exc:
            return await on_store_unavailable(request, exc)
        except Exception as exc:
            return await on_unexpected(request, exc)

    serve.__name__ = endpoint.operation_id
    return serve
