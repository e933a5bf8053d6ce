"""Request plumbing shared by every page: web session, CSRF, rendering, errors, headers.

Each route is a plain synchronous handler `(Page) -> Response`; `Web.endpoint` wraps it so
that loading the web session, checking the CSRF token of every POST, turning provider
errors into clear 4xx pages, rotating the session id and setting the cookie happen in
one place and cannot be forgotten by a route.

A POST body is read only up to `MAX_BODY` bytes before anything parses it (413 beyond);
a browser without a session gets one stored only when a page hands it a CSRF token or
something to remember, and then for `ANONYMOUS_SECONDS` until it signs in; a busy or
unavailable store is a 429 or 503 page, never a stack trace.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mfa_fsm import MfaError
from mfa_fsm_local._records import Session
from mfa_fsm_local._repo import Busy
from mfa_fsm_local._store import Conflict, StoreUnavailable

from ._diagram import picture
from ._messages import message_for, status_for
from ._protocol import MfaProvider
from ._settings import WebSettings
from ._websession import WebSession, WebSessions

log = logging.getLogger("mfa_fsm_web")

MAX_FIELD = 512
MAX_BODY = 64 * 1024  # every form of these pages fits in a few hundred bytes
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


class BadForm(Exception):
    """A form field is missing or malformed: a 400 page saying which."""


def when(ts: float | None) -> str:
    """A timestamp as people read it, in UTC."""
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class Page:
    """One request as a handler sees it."""

    web: Web
    request: Request
    form: dict[str, str]
    session: WebSession
    request_id: str = field(default_factory=lambda: f"request-{uuid.uuid4()}")
    rotated: bool = False
    csrf_shown: bool = False

    @property
    def provider(self) -> MfaProvider:
        return self.web.provider

    @property
    def settings(self) -> WebSettings:
        return self.web.settings

    def now(self) -> float:
        return self.provider.clock.now()

    def link(self, path: str) -> str:
        """A path inside the mounted app (works under `Mount("/auth", ...)`)."""
        return str(self.request.scope.get("root_path", "")).rstrip("/") + path

    def field(self, name: str, *, required: bool = True) -> str:
        value = self.form.get(name, "").strip()
        if required and not value:
            raise BadForm(f"The field “{name.replace('_', ' ')}” is required.")
        if len(value) > MAX_FIELD:
            raise BadForm(f"The field “{name.replace('_', ' ')}” is too long.")
        return value

    def rotate(self) -> None:
        """Give this browser a new session id and CSRF token (at login and at MFA); its
        lifetime starts again now."""
        self.rotated = True
        self.session.csrf = self.web.sessions.new(self.now()).csrf
        self.session.expires_at = self.now() + self.web.sessions.lifetime

    def redirect(self, path: str, notice: str = "") -> Response:
        if notice:
            self.session.notice = notice
        return RedirectResponse(self.link(path), status_code=303)

    def member_session(self) -> Session | None:
        """The member's live session, or None (a dead token is forgotten).

        Only a refusal forgets the token: `Busy` or `StoreUnavailable` says nothing about
        it, so they propagate and `Web._run` answers 429 or 503 with the session kept.
        """
        if not self.session.session_token:
            return None
        try:
            found, _ = self.provider.sessions_authenticate(session_token=self.session.session_token)
        except MfaError:
            self.session.session_token = ""
            return None
        except (Busy, StoreUnavailable):
            raise
        return found

    def current_state(self) -> str:
        """The engine's state of this browser's flow, read from the stored flow."""
        if self.session.flow_id:
            try:
                flow = self.provider.driver.load(self.session.flow_id)
            except Exception:  # a store hiccup must not break the page; show the last known
                flow = None
            if flow is not None:
                self.session.state = flow.state
        return self.session.state

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        notice, self.session.notice = self.session.notice, ""
        base = {
            "app_name": self.settings.app_name,
            "csrf_token": self.session.csrf,
            "link": self.link,
            "when": when,
            "notice": notice,
            "flow": picture(self.current_state()),
            "signed_in": bool(self.session.session_token),
            "in_flow": bool(self.session.intermediate_session_token),
            "outbox_enabled": self.settings.outbox is not None,
        }
        html = self.web.templates.get_template(template).render(base | context)
        if self.session.csrf in html:
            self.csrf_shown = True  # a form will come back: the session must be stored
        return HTMLResponse(html, status_code=status)

    def error(self, message: str, status: int, title: str = "Something went wrong") -> Response:
        return self.render("error.html", status=status, title=title, message=message)


Handler = Callable[[Page], Response]


class Web:
    """The provider, settings, web sessions and templates one mounted app shares."""

    def __init__(self, provider: MfaProvider, settings: WebSettings, sessions: WebSessions):
        self.provider, self.settings, self.sessions = provider, settings, sessions
        self.templates = Environment(
            loader=PackageLoader("mfa_fsm_web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            form: dict[str, str] = {}
            if request.method == "POST":
                body = await _read_capped(request)
                if body is None:
                    return _plain(
                        413,
                        "Form too large",
                        f"The form sent more than {MAX_BODY // 1024} KiB, far more than any "
                        "form of these pages holds, so it was not read. Go back and try again.",
                    )
                request = _replay(request, body)
                try:
                    raw: FormData = await request.form(max_files=0, max_fields=32)
                except (MultiPartException, ValueError, KeyError):
                    return _plain(400, "Bad request", "The form could not be read.")
                form = {k: v for k, v in raw.items() if isinstance(v, str)}
            return await run_in_threadpool(self._run, handler, request, form)

        endpoint.__name__ = handler.__name__
        return endpoint

    def _run(self, handler: Handler, request: Request, form: dict[str, str]) -> Response:
        try:
            response = self._serve(handler, request, form)
        except (Busy, Conflict):
            response = _plain(429, "Busy", BUSY)
        except StoreUnavailable:
            log.warning("store unavailable", exc_info=True)
            response = _plain(503, "Try again shortly", UNAVAILABLE)
        except Exception:  # the web session itself could not be read or written
            log.exception("unexpected error around %s", handler.__name__)
            response = _plain(500, "Something went wrong", "Something went wrong on our side.")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def _serve(self, handler: Handler, request: Request, form: dict[str, str]) -> Response:
        now = self.provider.clock.now()
        cookie_id = request.cookies.get(self.settings.cookie_name)
        loaded = self.sessions.load(cookie_id, now)
        if loaded is None:
            cookie_id, version, session = None, 0, self.sessions.new(now)
        else:
            session, version = loaded
        page = Page(self, request, form, session)
        if request.method == "POST" and not session.csrf_ok(form.get("csrf_token")):
            response = page.error(
                "This form was not sent from this site's current page, so it was ignored. "
                "Go back, reload the page and try again.",
                403,
                title="Form refused",
            )
        else:
            try:
                response = handler(page)
            except BadForm as exc:
                response = page.error(str(exc), 400, title="Check the form")
            except MfaError as exc:
                response = page.error(message_for(exc), status_for(exc))
            except Busy:
                response = page.error(BUSY, 429, title="Busy")
            except StoreUnavailable:
                log.warning("store unavailable", exc_info=True)
                response = page.error(UNAVAILABLE, 503, title="Try again shortly")
            except Exception:  # a provider bug must not become a stack trace for the member
                log.exception("unexpected error in %s", handler.__name__)
                response = page.error(
                    "Something went wrong on our side. Try again; if it keeps happening, "
                    "tell us the time it happened.",
                    500,
                )
        self._persist(page, request, response, cookie_id, version)
        return response

    def _persist(
        self,
        page: Page,
        request: Request,
        response: Response,
        cookie_id: str | None,
        version: int,
    ) -> None:
        if cookie_id is not None and not page.rotated:
            for _ in range(5):  # a parallel request of the same browser wrote first: ours wins
                try:
                    self.sessions.save(cookie_id, page.session, version)
                    return
                except Conflict:
                    current = self.sessions.load(cookie_id, page.now())
                    if current is None:
                        return
                    version = current[1]
            return
        session, now = page.session, page.now()
        if cookie_id is None and not page.rotated and not _worth_storing(page):
            return  # a stranger's visit that handed out no form leaves nothing behind
        if session.anonymous:
            session.expires_at = min(session.expires_at, now + self.sessions.anonymous_lifetime)
        if cookie_id is not None:
            self.sessions.drop(cookie_id)
        new_id = self.sessions.create(session)
        secure = self.settings.secure_cookies
        if secure is None:
            secure = request.url.scheme == "https"
        response.set_cookie(
            self.settings.cookie_name,
            new_id,
            max_age=max(1, int(session.expires_at - now)),
            path=page.link("/") or "/",
            secure=secure,
            httponly=True,
            samesite="lax",
        )


BUSY = "Too many changes to this account at once. Wait a moment and try again."
UNAVAILABLE = "The service is briefly unavailable. Nothing was changed; try again shortly."


def _worth_storing(page: Page) -> bool:
    """Whether a new browser's session holds anything a later request needs."""
    s = page.session
    return page.csrf_shown or bool(s.notice or s.next_path) or not s.anonymous


async def _read_capped(request: Request) -> bytes | None:
    """The request body, or None when it is (or claims to be) larger than `MAX_BODY`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > MAX_BODY:
                return None
        except ValueError:
            return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _replay(request: Request, body: bytes) -> Request:
    """The same request, its body served from `body` (already read and bounded)."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


def _plain(status: int, title: str, message: str) -> Response:
    """A page that needs no session or store: the request never got that far."""
    html = f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{message}</p>"
    response = HTMLResponse(html, status)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


__all__ = ["BadForm", "Handler", "Page", "Web", "when"]
