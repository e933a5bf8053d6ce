"""Server-side web sessions: the browser holds only a random id in an HttpOnly cookie.

Everything that matters — the IST, the member session token, the TOTP secret being
enrolled — stays in the store under the SHA-256 of that id, so neither the browser nor a
reader of the database holds a usable credential for the other. The id is replaced
(`rotate`) whenever the member's authentication level changes, which defeats fixation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mfa_fsm_local._store import Conflict, Store

Purpose = Literal["login", "add", "step_up", "default"]
CodeMethod = Literal["sms_otp", "totp"]


class Pending(BaseModel):
    """What the code form currently answers: which method, and what success leads to."""

    model_config = ConfigDict(extra="forbid")
    purpose: Purpose
    method: CodeMethod
    enrolling: bool = False
    phone: str = ""
    set_default: bool = False
    enroll_flag: Literal["enroll", "unenroll"] | None = None
    then: str = "/account"


class TotpShown(BaseModel):
    """A TOTP registration being enrolled: shown until its first code is verified."""

    model_config = ConfigDict(extra="forbid")
    secret: str
    qr_code: str
    otpauth_uri: str
    recovery_codes: list[str]


class WebSession(BaseModel):
    """One browser's state between requests."""

    model_config = ConfigDict(extra="forbid")
    csrf: str = Field(default_factory=lambda: secrets.token_urlsafe(32))
    expires_at: float
    organization_id: str = ""
    member_id: str = ""
    intermediate_session_token: str = ""
    session_token: str = ""
    flow_id: str = ""
    state: str = "start"
    offered: list[str] = Field(default_factory=list)
    pending: Pending | None = None
    totp: TotpShown | None = None
    sms_sent_at: float | None = None
    notice: str = ""
    next_path: str = ""

    @property
    def anonymous(self) -> bool:
        """Whether this browser has neither signed in nor started signing in."""
        return not (self.member_id or self.intermediate_session_token or self.session_token)

    def csrf_ok(self, given: object) -> bool:
        """Constant-time check of the form's token against this session's."""
        return isinstance(given, str) and hmac.compare_digest(given.encode(), self.csrf.encode())

    def clear_mfa(self) -> None:
        """Forget the flow in progress (its IST, pending code and TOTP secret)."""
        self.intermediate_session_token = ""
        self.pending = None
        self.totp = None
        self.sms_sent_at = None
        self.offered = []


ANONYMOUS_SECONDS = 30 * 60.0
DROP_ATTEMPTS = 5


class WebSessions:
    """Web sessions in a collection of the provider's store (any `Store` implementation).

    `lifetime` is how long a signed-in (or signing-in) browser's session lasts, counted
    from its last rotation; `anonymous_lifetime` bounds a session that only carries a CSRF
    token or a notice, so that strangers cannot fill the store with long-lived records.
    """

    def __init__(
        self,
        store: Store,
        collection: str,
        lifetime: float,
        anonymous_lifetime: float = ANONYMOUS_SECONDS,
    ) -> None:
        self.store, self.collection, self.lifetime = store, collection, lifetime
        self.anonymous_lifetime = min(lifetime, anonymous_lifetime)

    @staticmethod
    def _key(cookie_id: str) -> str:
        return hashlib.sha256(cookie_id.encode()).hexdigest()

    def load(self, cookie_id: str | None, now: float) -> tuple[WebSession, int] | None:
        """The live session behind a cookie, with its version; None if unknown or expired."""
        if not cookie_id or len(cookie_id) > 128:
            return None
        doc = self.store.get(self.collection, self._key(cookie_id))
        if doc is None:
            return None
        session = WebSession.model_validate_json(doc.data)
        if session.expires_at <= now:
            return None
        return session, doc.version

    def new(self, now: float) -> WebSession:
        """A session for a browser without one: anonymous, so short-lived until rotated."""
        return WebSession(expires_at=now + self.anonymous_lifetime)

    def save(self, cookie_id: str, session: WebSession, version: int) -> int:
        """Compare-and-set write; a concurrent change wins and this one raises `Conflict`."""
        return self.store.put(
            self.collection,
            self._key(cookie_id),
            session.model_dump_json(),
            version,
            session.expires_at,
        )

    def create(self, session: WebSession) -> str:
        """Store `session` under a fresh random id and return the id for the cookie."""
        cookie_id = secrets.token_urlsafe(32)
        self.save(cookie_id, session, 0)
        return cookie_id

    def drop(self, cookie_id: str) -> None:
        """Delete the session behind a retired id, even if a parallel request saves it
        meanwhile: on `Conflict` read it again and delete the newer version."""
        key = self._key(cookie_id)
        for _ in range(DROP_ATTEMPTS):
            doc = self.store.get(self.collection, key)
            if doc is None:
                return
            try:
                self.store.delete(self.collection, key, doc.version)
                return
            except Conflict:
                continue
        raise Conflict(f"web session kept changing while being dropped ({DROP_ATTEMPTS} tries)")


__all__ = [
    "ANONYMOUS_SECONDS",
    "CodeMethod",
    "Pending",
    "Purpose",
    "TotpShown",
    "WebSession",
    "WebSessions",
]
