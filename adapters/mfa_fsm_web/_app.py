"""`create_app`: the pages as a Starlette app a team mounts in its own (`Mount("/auth", ...)`)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mfa_fsm_local._store import Store

from . import _account, _dev, _enroll, _login, _mfa
from ._kit import Handler, Web
from ._protocol import MfaProvider
from ._settings import WebSettings
from ._websession import WebSessions

GET, POST = ["GET"], ["POST"]

ROUTES: tuple[tuple[str, Handler, list[str]], ...] = (
    ("/", _login.home, GET),
    ("/login", _login.login_password, POST),
    ("/login/magic-link", _login.magic_link_send, POST),
    ("/authenticate", _login.magic_link_landing, GET),
    ("/authenticate", _login.magic_link_authenticate, POST),
    ("/logout", _login.logout, POST),
    ("/mfa/enroll", _enroll.enroll_choice, GET),
    ("/mfa/enroll/sms", _enroll.phone_form_page, GET),
    ("/mfa/enroll/sms", _enroll.phone_submit, POST),
    ("/mfa/enroll/totp", _mfa.totp_page_get, GET),
    ("/mfa/enroll/totp", _enroll.totp_start, POST),
    ("/mfa/challenge", _mfa.challenge, GET),
    ("/mfa/challenge/sms", _mfa.challenge_sms, POST),
    ("/mfa/challenge/totp", _mfa.challenge_totp, POST),
    ("/mfa/code", _mfa.code_page_get, GET),
    ("/mfa/code", _mfa.code_submit, POST),
    ("/mfa/resend", _mfa.resend, POST),
    ("/mfa/recovery", _mfa.recovery_page_get, GET),
    ("/mfa/recovery", _mfa.recovery_submit, POST),
    ("/mfa/step-up", _account.step_up_start, POST),
    ("/account", _account.account, GET),
    ("/account/default", _account.default_method, POST),
    ("/account/remove", _account.remove_factor, POST),
    ("/sensitive", _account.sensitive, GET),
    ("/sensitive", _account.sensitive_submit, POST),
    ("/protected", _account.protected, GET),
)


def _store_of(provider: MfaProvider) -> Store:
    repo = getattr(provider, "repo", None)
    store: Store | None = getattr(repo, "store", None)
    if store is None:
        raise TypeError("pass settings.session_store: this provider has no store of its own")
    return store


def create_app(provider: MfaProvider, *, settings: WebSettings | None = None) -> Starlette:
    """The sign-in, MFA and account pages over `provider`, ready to mount anywhere.

    Web sessions live in the provider's store (collection `settings.session_collection`);
    the cookie holds only a random id.
    """
    settings = settings or WebSettings()
    store = settings.session_store or _store_of(provider)
    sessions = WebSessions(store, settings.session_collection, settings.web_session_seconds)
    web = Web(provider, settings, sessions)
    routes: list[BaseRoute] = [
        Route(path, web.endpoint(handler), methods=methods, name=f"{handler.__name__}")
        for path, handler, methods in ROUTES
    ]
    if settings.outbox is not None:
        routes.append(Route("/dev/outbox", web.endpoint(_dev.outbox), methods=GET, name="outbox"))
    routes.append(
        Mount("/static", app=StaticFiles(packages=[("mfa_fsm_web", "static")]), name="static")
    )
    return Starlette(routes=routes)


__all__ = ["create_app"]
