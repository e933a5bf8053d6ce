"""`LocalProvider`: Stytch B2B's MFA operations, one for one, run through the engine.

Primary authentication opens a flow; every MFA call is an event on that flow; the
engine's effects are carried out by `FlowDriver`. Nothing bypasses the state machine.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Literal, cast

import jwt

from mfa_fsm import (
    Aborted,
    AuthenticationFactor,
    Engine,
    Event,
    FactorRejected,
    FactorVerified,
    Flow,
    Intent,
    IntermediateSessionExpired,
    InvalidTotpCode,
    MemberFactors,
    MemberLocked,
    Method,
    MethodChosen,
    MfaError,
    OrgPolicy,
    OtpCodeNotFound,
    PrimaryAuthenticated,
    RecoveryCodeVerified,
    SessionPresented,
    UnauthorizedAction,
    member_options,
    secondary_auth_initiated,
)

from ._admin import Admin
from ._codes import is_well_formed_code, normalize_phone, normalize_recovery_code
from ._driver import FlowDriver, Outcome, Settings, member_key, new_token
from ._jwt import SESSION_CLAIM, SessionSigner, factor_json
from ._keys import Keyring
from ._ports import Clock, ConsoleSender, Sender, SystemClock
from ._primary import Primary
from ._records import IntermediateSession, Member, Organization, Session, SmsCode, TotpRegistration
from ._repo import Repo
from ._store import Conflict, Store
from ._totp import TotpComponent
from .errors import (
    CredentialCombination,
    InvalidArgument,
    MemberNotFound,
    RecoveryCodeNotFound,
    SessionNotFound,
    TotpNotFound,
)

Enrollment = Literal["enroll", "unenroll"] | None
SessionIntent = Literal[Intent.ENROLL, Intent.UNENROLL, Intent.ADD_METHOD, Intent.STEP_UP]


@dataclass
class AuthResult:
    """What an authenticate call returns: a session, or an IST and what MFA needs."""

    member: Member
    organization: Organization
    member_authenticated: bool
    session: Session | None = None
    session_token: str = ""
    session_jwt: str = ""
    intermediate_session_token: str = ""
    mfa_required: dict[str, Any] | None = None
    flow: Flow | None = None
    totp: dict[str, Any] | None = None


class LocalProvider(Admin, Primary):
    """The self-hosted provider over any `Store`."""

    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        *,
        clock: Clock | None = None,
        sms: Sender | None = None,
        email: Sender | None = None,
        engine: Engine | None = None,
        settings: Settings | None = None,
        signer: SessionSigner | None = None,
        project_id: str = "project-test-local",
    ) -> None:
        self.repo = Repo(store)
        self.keyring = keyring
        self.clock = clock or SystemClock()
        self.email = email or ConsoleSender()
        self.engine = engine or Engine()
        self.settings = settings or Settings()
        self.totp = TotpComponent()
        self.signer = signer or SessionSigner.generate()
        self.project_id = project_id
        self.driver = FlowDriver(
            self.repo,
            self.engine,
            keyring,
            self.clock,
            sms or ConsoleSender(),
            self.totp,
            self.settings,
        )

    # ----------------------------------------------------------- flows

    def begin_mfa(
        self,
        org: Organization,
        member: Member,
        factor: AuthenticationFactor,
        request_id: str,
        **ctx: Any,
    ) -> AuthResult:
        """After a primary factor: open a flow bound to a fresh IST and let the engine decide."""
        now = self.clock.now()
        member = self._unlock_if_expired(member, now)
        token = new_token()
        ist_id = self.keyring.digest(token, "ist")
        flow_id = f"flow-{uuid.uuid4()}"
        ist = IntermediateSession(
            organization_id=org.organization_id,
            member_id=member.member_id,
            flow_id=flow_id,
            expires_at=now + self.engine.limits.ist_seconds,
        )
        self.repo.create("ists", ist_id, ist, ist.expires_at)
        event = PrimaryAuthenticated(
            at=now,
            organization=_policy(org),
            member=self._factors(member),
            primary_factor=factor,
            ist_id=ist_id,
        )
        out = self.driver.start(flow_id, event, request_id, **ctx)
        return self._result(org, out, ist_token=token)

    def _result(self, org: Organization, out: Outcome, ist_token: str = "") -> AuthResult:
        flow = out.step.flow
        member = self.members_get(org.organization_id, flow.member_id)
        if out.step.error is not None and flow.state != "authenticated":
            raise out.step.error
        if flow.state == "authenticated":
            assert out.session is not None and out.session_token
            session_jwt = self.session_jwt(out.session, org, member)
            return AuthResult(
                member,
                org,
                True,
                out.session,
                out.session_token,
                session_jwt,
                flow=flow,
                totp=out.totp or None,
            )
        mfa = {
            "member_options": member_options(flow),
            "secondary_auth_initiated": secondary_auth_initiated(out.first or out.step),
        }
        return AuthResult(
            member,
            org,
            False,
            intermediate_session_token=ist_token,
            mfa_required=mfa,
            flow=flow,
            totp=out.totp or None,
        )

    def _flow_for(
        self,
        organization_id: str,
        member_id: str,
        creds: dict[str, str | None],
        intent_if_new: Intent,
        request_id: str,
        **ctx: Any,
    ) -> tuple[Organization, str, str]:
        """Find (or, from a session, open) the flow for this call; returns org, flow id, IST."""
        given = {k: v for k, v in creds.items() if v}
        if len(given) != 1:
            raise CredentialCombination()
        org = self.organizations_get(organization_id)
        member = self.members_get(org.organization_id, member_id)
        now = self.clock.now()
        if "intermediate_session_token" in given:
            token = given["intermediate_session_token"]
            ist = self.repo.get("ists", self.keyring.digest(token, "ist"), IntermediateSession)
            if ist is None or ist.consumed or ist.expires_at <= now:
                raise IntermediateSessionExpired()
            if (ist.organization_id, ist.member_id) != (org.organization_id, member.member_id):
                raise UnauthorizedAction("the intermediate session belongs to another member")
            flow = self.driver.load(ist.flow_id)
            if flow is not None and self._stale(flow, member, request_id):
                raise UnauthorizedAction(
                    "the member's factors changed since this login; log in again"
                )
            return org, ist.flow_id, token
        session = self._session_from(given)
        if (session.organization_id, session.member_id) != (org.organization_id, member.member_id):
            raise UnauthorizedAction("the session belongs to another member")
        key = session.member_session_id
        doc = self.repo.store.get("session_flows", key)
        if doc is not None:
            flow = self.driver.load(doc.data.strip('"'))
            live = flow is not None and not flow.is_terminal and flow.expires_at > now
            if flow is not None and live and not self._stale(flow, member, request_id):
                return org, flow.flow_id, ""
        flow_id = f"flow-{uuid.uuid4()}"
        event = SessionPresented(
            at=now,
            organization=_policy(org),
            member=self._factors(self._unlock_if_expired(member, now)),
            session_id=session.member_session_id,
            session_factors=tuple(session.authentication_factors),
            intent=cast(SessionIntent, intent_if_new),
        )
        out = self.driver.start(flow_id, event, request_id, **ctx)
        if out.step.error is not None:
            raise out.step.error
        self.repo.store.put(
            "session_flows", key, f'"{flow_id}"', doc.version if doc else 0, now + 3600
        )
        return org, flow_id, ""

    def _stale(self, flow: Flow, member: Member, request_id: str) -> bool:
        """Whether the flow's snapshot of the member's factors is out of date; if so, abort it.

        Invariant 3 must hold of the member as stored now: a flow opened before the member
        enrolled, replaced or lost a factor elsewhere would otherwise let an IST add a
        factor to a member who has one (replacing the phone just enrolled), or challenge a
        factor the member no longer has. The caller refuses (an IST) or starts a fresh flow
        (a session).
        """
        if flow.is_terminal:
            return False
        phone = member.mfa_phone_number if member.mfa_phone_number_verified else None
        if (flow.phone, flow.totp_id) == (phone, member.totp_registration_id or None):
            return False
        event = Aborted(
            at=max(self.clock.now(), flow.started_at),
            organization_id=flow.organization_id,
            member_id=flow.member_id,
            reason="the member's factors changed since the flow began",
        )
        self.driver.drive(flow.flow_id, event, request_id)
        return True

    def _answering(
        self, organization_id: str, member_id: str, creds: dict[str, str | None], request_id: str
    ) -> tuple[Organization, str, str, dict[str, Any]]:
        """What every code-answering call needs: its flow, the member key (refused while
        locked) and the event subject, stamped with the time the code is judged at."""
        org, flow_id, _ = self._flow_for(
            organization_id, member_id, creds, Intent.STEP_UP, request_id
        )
        mkey = member_key(org.organization_id, member_id)
        self._refuse_if_locked(mkey)
        subject = {
            "at": self.clock.now(),
            "organization_id": org.organization_id,
            "member_id": member_id,
        }
        return org, flow_id, mkey, subject

    def _finish(
        self, org: Organization, flow_id: str, event: Event, request_id: str, **ctx: Any
    ) -> AuthResult:
        out = self.driver.drive(flow_id, event, request_id, **ctx)
        if out.step.error is not None:
            raise out.step.error
        return self._result(org, out)

    # ----------------------------------------------------------- SMS OTP

    def otps_sms_send(
        self,
        organization_id: str,
        member_id: str,
        mfa_phone_number: str | None = None,
        intermediate_session_token: str | None = None,
        session_token: str | None = None,
        session_jwt: str | None = None,
        request_id: str = "",
    ) -> AuthResult:
        phone = normalize_phone(mfa_phone_number) if mfa_phone_number else None
        member = self.members_get(organization_id, member_id)
        enrolled = member.mfa_phone_number if member.mfa_phone_number_verified else ""
        new_factor = phone is not None and phone != enrolled
        intent = _adding_intent(member) if new_factor else Intent.STEP_UP
        creds = _creds(intermediate_session_token, session_token, session_jwt)
        org, flow_id, _ = self._flow_for(organization_id, member_id, creds, intent, request_id)
        event = MethodChosen(
            at=self.clock.now(),
            organization_id=org.organization_id,
            member_id=member_id,
            method=Method.SMS_OTP,
            phone_number=phone,
        )
        flow = self.driver.load(flow_id)
        if flow is not None and flow.state == "challenged" and not new_factor:
            event = event.model_copy(update={"phone_number": None})
        out = self.driver.drive(flow_id, event, request_id)
        if out.step.error is not None:
            raise out.step.error
        return AuthResult(member, org, False, flow=out.step.flow)

    def otps_sms_authenticate(
        self,
        organization_id: str,
        member_id: str,
        code: str,
        intermediate_session_token: str | None = None,
        session_token: str | None = None,
        session_jwt: str | None = None,
        set_mfa_enrollment: Enrollment = None,
        set_default_mfa: bool = False,
        session_duration_minutes: int | None = None,
        request_id: str = "",
    ) -> AuthResult:
        creds = _creds(intermediate_session_token, session_token, session_jwt)
        org, flow_id, mkey, subject = self._answering(organization_id, member_id, creds, request_id)
        phone = self._spend_sms_code(mkey, member_id, code)
        if phone is None:
            self._reject(flow_id, mkey, Method.SMS_OTP, subject, request_id)
            raise OtpCodeNotFound()
        event = FactorVerified(
            method=Method.SMS_OTP,
            factor_id=phone,
            set_default_mfa=set_default_mfa,
            set_mfa_enrollment=set_mfa_enrollment,
            **subject,
        )
        return self._finish(
            org, flow_id, event, request_id, session_duration_minutes=session_duration_minutes
        )

    def _spend_sms_code(self, mkey: str, member_id: str, code: str) -> str | None:
        """Consume the member's code if it matches: compare-and-set delete, so once only."""
        if not is_well_formed_code(code):
            return None
        found = self.repo.load("sms_codes", mkey, SmsCode)
        if found is None:
            return None
        record, version = found
        if record.expires_at <= self.clock.now() or not self.keyring.matches(
            code, record.code_hash, member_id
        ):
            return None
        try:
            self.repo.store.delete("sms_codes", mkey, version)
        except Conflict:
            # It matched, but a concurrent request spent (or replaced) it first: a double
            # submission, not a guess, so it is refused without counting a failure (counting
            # it could lock out the member whose own request just won).
            raise OtpCodeNotFound() from None
        return record.phone_number

    def _reject(
        self,
        flow_id: str,
        mkey: str,
        method: Method | Literal["recovery_code"],
        subject: dict[str, Any],
        request_id: str,
    ) -> None:
        """Count a wrong code and tell the flow; raise `MemberLocked` if the member is
        locked, already (not counted then) or by this very attempt."""
        failures = self.driver.count_failure(mkey)
        if failures is None:
            raise MemberLocked()
        # The member-wide count and lock live in the store (one atomic write above). The
        # flow gets that count only when it reaches the limit, so it fails with the lock;
        # otherwise it counts its own rejections, and racing ones cannot over-count.
        at_limit = failures >= self.engine.limits.max_failures
        event = FactorRejected(
            method=method, member_failures=failures if at_limit else None, **subject
        )
        out = self.driver.drive(flow_id, event, request_id)
        if isinstance(out.step.error, MemberLocked):
            raise out.step.error
        if failures >= self.engine.limits.max_failures:
            raise MemberLocked()

    def _refuse_if_locked(self, mkey: str) -> None:
        member = self.repo.get("members", mkey, Member)
        if member is not None and member.is_locked(self.clock.now()):
            raise MemberLocked()

    # ----------------------------------------------------------- TOTP

    def totps_create(
        self,
        organization_id: str,
        member_id: str,
        expiration_minutes: int = 60,
        intermediate_session_token: str | None = None,
        session_token: str | None = None,
        session_jwt: str | None = None,
        request_id: str = "",
    ) -> AuthResult:
        if not 5 <= expiration_minutes <= 1440:
            raise InvalidArgument("expiration_minutes must be between 5 and 1440")
        member = self.members_get(organization_id, member_id)
        creds = _creds(intermediate_session_token, session_token, session_jwt)
        org, flow_id, _ = self._flow_for(
            organization_id, member_id, creds, _adding_intent(member), request_id
        )
        event = MethodChosen(
            at=self.clock.now(),
            organization_id=org.organization_id,
            member_id=member_id,
            method=Method.TOTP,
        )
        out = self.driver.drive(
            flow_id,
            event,
            request_id,
            expiration_minutes=expiration_minutes,
            account_name=member.email_address,
        )
        if out.step.error is not None:
            raise out.step.error
        return AuthResult(member, org, False, flow=out.step.flow, totp=out.totp)

    def totps_authenticate(
        self,
        organization_id: str,
        member_id: str,
        code: str,
        intermediate_session_token: str | None = None,
        session_token: str | None = None,
        session_jwt: str | None = None,
        set_mfa_enrollment: Enrollment = None,
        set_default_mfa: bool = False,
        session_duration_minutes: int | None = None,
        request_id: str = "",
    ) -> AuthResult:
        creds = _creds(intermediate_session_token, session_token, session_jwt)
        org, flow_id, mkey, subject = self._answering(organization_id, member_id, creds, request_id)
        flow = self.driver.load(flow_id)
        member = self.members_get(org.organization_id, member_id)
        reg_id = (
            flow.pending if flow and flow.state == "enrolling_totp" else member.totp_registration_id
        )
        if not reg_id:
            raise TotpNotFound()
        now: float = subject["at"]
        if not self._spend_totp(reg_id, code, now):
            self._reject(flow_id, mkey, Method.TOTP, subject, request_id)
            raise InvalidTotpCode()
        event = FactorVerified(
            method=Method.TOTP,
            factor_id=reg_id,
            set_default_mfa=set_default_mfa,
            set_mfa_enrollment=set_mfa_enrollment,
            **subject,
        )
        return self._finish(
            org, flow_id, event, request_id, session_duration_minutes=session_duration_minutes
        )

    def _spend_totp(self, reg_id: str, code: str, now: float) -> bool:
        """Accept a time step once: the new `last_step` is written by compare-and-set.

        A code that matched but lost the race to a concurrent request for the same step is
        refused without counting a failure, as for SMS codes."""
        raced = False
        for _ in range(20):
            found = self.repo.load("totps", reg_id, TotpRegistration)
            if found is None:
                return False
            reg, version = found
            if reg.expires_at is not None and reg.expires_at <= now:
                return False
            secret = self.keyring.decrypt(reg.secret_enc, record_id=reg_id)
            step = self.totp.verify(secret, code, now, reg.last_step)
            if step is None and raced:
                raise InvalidTotpCode()
            if step is None:
                return False
            try:
                self.repo.save("totps", reg_id, reg.model_copy(update={"last_step": step}), version)
            except Conflict:
                raced = True
                continue
            return True
        return False

    def totps_migrate(
        self, organization_id: str, member_id: str, secret: str, recovery_codes: list[str]
    ) -> Member:
        """Import an existing TOTP secret and its recovery codes as a verified registration."""
        member = self.members_get(organization_id, member_id)
        try:
            self.totp.code_at(secret, 0.0)
        except Exception:
            raise InvalidArgument("secret must be base32 TOTP secret") from None
        hashes = []
        for raw in recovery_codes:
            canonical = normalize_recovery_code(raw)
            if canonical is None:
                raise InvalidArgument("recovery codes must look like xxxx-xxxx-xxxx")
            hashes.append(self.keyring.digest(canonical, member_id))
        now = self.clock.now()
        reg_id = f"member-totp-{uuid.uuid4()}"
        record = TotpRegistration(
            totp_registration_id=reg_id,
            member_id=member_id,
            organization_id=member.organization_id,
            secret_enc=self.keyring.encrypt(secret, record_id=reg_id),
            verified=True,
            recovery_code_hashes=hashes,
            created_at=now,
        )
        self.repo.create("totps", reg_id, record)
        mkey = member_key(member.organization_id, member_id)
        change = {"totp_registration_id": reg_id, "updated_at": now}
        updated = self.repo.update("members", mkey, Member, lambda m: m.model_copy(update=change))
        assert updated is not None
        self.driver.audit_factor(mkey, "migrated totp", now)
        return updated

    # ----------------------------------------------------------- recovery codes

    def recovery_codes_recover(
        self,
        organization_id: str,
        member_id: str,
        recovery_code: str,
        intermediate_session_token: str | None = None,
        session_token: str | None = None,
        session_jwt: str | None = None,
        session_duration_minutes: int | None = None,
        request_id: str = "",
    ) -> tuple[AuthResult, int]:
        creds = _creds(intermediate_session_token, session_token, session_jwt)
        org, flow_id, mkey, subject = self._answering(organization_id, member_id, creds, request_id)
        member = self.members_get(org.organization_id, member_id)
        left = None
        if member.totp_registration_id:
            left = self.driver.spend_recovery_code(
                member.totp_registration_id, member_id, recovery_code
            )
        if left is None:
            self._reject(flow_id, mkey, "recovery_code", subject, request_id)
            raise RecoveryCodeNotFound()
        event = RecoveryCodeVerified(recovery_codes_remaining=left, **subject)
        result = self._finish(
            org, flow_id, event, request_id, session_duration_minutes=session_duration_minutes
        )
        return result, left

    def recovery_codes_get(self, organization_id: str, member_id: str) -> int:
        """How many recovery codes are left (the codes themselves are stored hashed only)."""
        member = self.members_get(organization_id, member_id)
        reg = (
            self.repo.get("totps", member.totp_registration_id, TotpRegistration)
            if member.totp_registration_id
            else None
        )
        if reg is None:
            raise TotpNotFound()
        return len(reg.recovery_code_hashes)

    def recovery_codes_rotate(self, organization_id: str, member_id: str) -> list[str]:
        member = self.members_get(organization_id, member_id)
        reg = (
            self.repo.get("totps", member.totp_registration_id, TotpRegistration)
            if member.totp_registration_id
            else None
        )
        if reg is None:
            raise TotpNotFound()
        codes = self.driver.rotate_recovery_codes(reg)
        self.driver.audit_factor(
            member_key(member.organization_id, member_id),
            "recovery codes rotated",
            self.clock.now(),
        )
        return codes

    # ----------------------------------------------------------- sessions

    def _session_from(self, given: dict[str, str]) -> Session:
        token, jwt_text = given.get("session_token"), given.get("session_jwt")
        if jwt_text is not None:
            session = self.repo.get("sessions", self._session_id_from_jwt(jwt_text), Session)
        else:
            doc = self.repo.store.get("session_tokens", self.keyring.digest(token or "", "session"))
            session = self.repo.get("sessions", json.loads(doc.data), Session) if doc else None
        if session is None or session.revoked or session.expires_at <= self.clock.now():
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
        """A fresh 5-minute JWT for the session, verifiable from `jwks()`."""
        return self.signer.sign_session(
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
            now=self.clock.now(),
        )

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return self.signer.jwks()

    def sessions_authenticate(
        self, session_token: str | None = None, session_jwt: str | None = None
    ) -> tuple[Session, str]:
        """The live session (last access stamped) and a fresh session JWT for it."""
        given = {k: v for k, v in _creds(None, session_token, session_jwt).items() if v}
        if len(given) != 1:
            raise CredentialCombination("pass exactly one of session_token and session_jwt")
        session = self._session_from(given)
        now = self.clock.now()
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

    def sessions_revoke(self, member_session_id: str) -> None:
        if self.repo.get("sessions", member_session_id, Session) is None:
            raise SessionNotFound()
        self.driver.revoke_session(member_session_id)

    def audit_log(self, member_id: str) -> list[dict[str, Any]]:
        return [json.loads(e.data) for e in self.repo.store.read_log("audit", member_id=member_id)]

    def _factors(self, member: Member) -> MemberFactors:
        """The engine's snapshot of the member, with the recovery codes left."""
        reg = None
        if member.totp_registration_id:
            reg = self.repo.get("totps", member.totp_registration_id, TotpRegistration)
        return _factors(member, len(reg.recovery_code_hashes) if reg else 0)

    def _unlock_if_expired(self, member: Member, now: float) -> Member:
        """A lock that has run out clears the count, so the member starts afresh."""
        if member.lock_expires_at is None or member.lock_expires_at > now:
            return member
        mkey = member_key(member.organization_id, member.member_id)
        cleared = {"failed_attempts": 0, "lock_created_at": None, "lock_expires_at": None}
        updated = self.repo.update("members", mkey, Member, lambda m: m.model_copy(update=cleared))
        if updated is None:
            raise MemberNotFound()
        return updated


def _creds(ist: str | None, token: str | None, jwt: str | None) -> dict[str, str | None]:
    return {"intermediate_session_token": ist, "session_token": token, "session_jwt": jwt}


def _adding_intent(member: Member) -> Intent:
    has_factor = (
        member.mfa_phone_number and member.mfa_phone_number_verified
    ) or member.totp_registration_id
    return Intent.ADD_METHOD if has_factor else Intent.ENROLL


def _policy(org: Organization) -> OrgPolicy:
    return OrgPolicy(
        organization_id=org.organization_id,
        mfa_policy=org.mfa_policy,
        mfa_methods=org.mfa_methods,
        allowed_mfa_methods=tuple(org.allowed_mfa_methods),
    )


def _factors(member: Member, recovery_codes: int) -> MemberFactors:
    return MemberFactors(
        recovery_codes_remaining=recovery_codes,
        member_id=member.member_id,
        mfa_enrolled=member.mfa_enrolled,
        mfa_phone_number=member.mfa_phone_number or None,
        mfa_phone_number_verified=member.mfa_phone_number_verified,
        totp_registration_id=member.totp_registration_id or None,
        default_mfa_method=Method(member.default_mfa_method) if member.default_mfa_method else None,
        is_breakglass=member.is_breakglass,
        roles=tuple(member.roles),
        failed_attempts=member.failed_attempts,
        locked_until=member.lock_expires_at,
    )


__all__ = ["AuthResult", "LocalProvider", "MfaError", "Settings"]
