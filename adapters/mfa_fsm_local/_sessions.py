"""Session calls of `LocalProvider` (mixed in): authenticate by token or JWT, list, revoke."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

import jwt

from ._driver import FlowDriver, Settings, member_key
from ._jwt import JWT_LIFETIME_SECONDS, SESSION_CLAIM, SessionSigner, factor_json
from ._keys import Keyring
from ._ports import Clock
from ._records import Member, Organization, Session
from ._repo import Repo
from ._shared import credentials
from ._unit import Units, in_unit
from .errors import CredentialCombination, SessionNotFound


class SessionCalls:
    """`sessions_*`, the session JWT and the JWKS."""

    repo: Repo
    clock: Clock
    keyring: Keyring
    driver: FlowDriver
    signer: SessionSigner
    project_id: str
    units: Units
    settings: Settings
    _jwts: dict[tuple[object, ...], tuple[float, str, int]]
    _jwt_lock: threading.Lock

    if TYPE_CHECKING:  # provided by Admin

        def organizations_get(self, organization_id: str) -> Organization: ...
        def members_get(self, organization_id: str, member_id: str) -> Member: ...

    # ----------------------------------------------------------- sessions

    def _session_from(self, given: dict[str, str]) -> Session:
        token, jwt_text = given.get("session_token"), given.get("session_jwt")
        if jwt_text is not None:
            session = self.repo.get("sessions", self._session_id_from_jwt(jwt_text), Session)
        else:
            doc = self.repo.store.get("session_tokens", self.keyring.digest(token or "", "session"))
            session = self.repo.get("sessions", json.loads(doc.data), Session) if doc else None
        now = self.clock.now()
        # A JWT counts whole seconds: a session in its last partial second is over too.
        if session is None or session.revoked or int(session.expires_at) <= int(now):
            raise SessionNotFound()
        return session

    def _session_id_from_jwt(self, text: str) -> str:
        """Verify signature, audience, issuer and lifetime against our clock."""
        key = jwt.PyJWK(self.signer.public_jwk()).key
        try:
            claims = jwt.decode(
                text,
                key,
                algorithms=["RS256"],
                audience=self.project_id,
                issuer=f"stytch.com/{self.project_id}",
                options={"require": ["aud", "iss", "exp", "iat", "nbf"], "verify_exp": False},
            )
        except jwt.PyJWTError:
            raise SessionNotFound("the session JWT is invalid") from None
        if not claims["nbf"] <= self.clock.now() < claims["exp"]:
            raise SessionNotFound("the session JWT has expired")
        return str(claims[SESSION_CLAIM]["id"])

    def session_jwt(self, session: Session, org: Organization, member: Member) -> str:
        """A 5-minute JWT for the session, verifiable from `jwks()`.

        The same claims asked for again within `jwt_reuse_seconds` get the JWT already
        signed (RS256 signing is most of an authenticate call's cost): every claim but
        `iat`/`nbf`/`exp` is part of the key, so a changed session, role or slug signs anew.
        """
        now = self.clock.now()
        key = (
            self.signer,  # a new (rotated) key signs anew
            session.member_session_id,
            session.last_accessed_at,
            session.expires_at,
            tuple(f.model_dump_json() for f in session.authentication_factors),
            tuple(member.roles),
            org.organization_slug,
        )
        reuse = self.settings.jwt_reuse_seconds
        with self._jwt_lock:
            kept = self._jwts.get(key)
        if kept is not None and 0 <= now - kept[0] < reuse and now < kept[2]:
            return kept[1]
        signed = self.signer.sign_session(
            project_id=self.project_id,
            member_id=session.member_id,
            organization_id=session.organization_id,
            organization_slug=org.organization_slug,
            session_id=session.member_session_id,
            started_at=session.started_at,
            last_accessed_at=session.last_accessed_at,
            session_expires_at=session.expires_at,
            authentication_factors=[factor_json(f) for f in session.authentication_factors],
            roles=member.roles,
            now=now,
        )
        if reuse > 0:
            with self._jwt_lock:
                exp = min(int(now) + JWT_LIFETIME_SECONDS, int(session.expires_at))
                self._jwts[key] = (now, signed, exp)
                if len(self._jwts) > 4096:
                    self._jwts.pop(next(iter(self._jwts)))
        return signed

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return self.signer.jwks()

    @in_unit
    def sessions_authenticate(
        self, session_token: str | None = None, session_jwt: str | None = None
    ) -> tuple[Session, str]:
        """The live session (last access stamped) and a session JWT for it.

        `last_accessed_at` is kept to within `Settings.session_touch_seconds`, so a burst
        of authenticates on one session reads rather than writes.
        """
        given = {k: v for k, v in credentials(None, session_token, session_jwt).items() if v}
        if len(given) != 1:
            raise CredentialCombination("pass exactly one of session_token and session_jwt")
        session = self._session_from(given)
        now = self.clock.now()
        updated: Session | None = session
        if not 0 <= now - session.last_accessed_at < self.settings.session_touch_seconds:
            updated = self.repo.update(
                "sessions",
                session.member_session_id,
                Session,
                lambda s: s.model_copy(update={"last_accessed_at": now}),
            )
        if updated is None or updated.revoked:
            raise SessionNotFound()
        org = self.organizations_get(updated.organization_id)
        member = self.members_get(updated.organization_id, updated.member_id)
        return updated, self.session_jwt(updated, org, member)

    def sessions_get(self, organization_id: str, member_id: str) -> list[Session]:
        """The member's live sessions, newest first."""
        member = self.members_get(organization_id, member_id)
        doc = self.repo.store.get("member_sessions", member_key(member.organization_id, member_id))
        ids: list[str] = json.loads(doc.data) if doc else []
        now = self.clock.now()
        found = [self.repo.get("sessions", i, Session) for i in ids]
        live = [s for s in found if s is not None and not s.revoked and s.expires_at > now]
        return sorted(live, key=lambda s: s.started_at, reverse=True)

    @in_unit
    def sessions_revoke(self, member_session_id: str) -> None:
        if self.repo.get("sessions", member_session_id, Session) is None:
            raise SessionNotFound()
        self.driver.revoke_session(member_session_id)
