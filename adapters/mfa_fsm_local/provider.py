"""`LocalProvider`: Stytch B2B's MFA operations, one for one, run through the engine.

Primary authentication opens a flow; every MFA call is an event on that flow; the
engine's effects are carried out by `FlowDriver`. Nothing bypasses the state machine.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any, Literal, cast

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
    MemberFactors,
    MemberLocked,
    Method,
    MethodChosen,
    MfaError,
    OtpCodeNotFound,
    PrimaryAuthenticated,
    SessionPresented,
    UnauthorizedAction,
    member_options,
    org_allowed_methods,
    secondary_auth_initiated,
)

from ._admin import Admin
from ._codes import is_well_formed_code, normalize_phone
from ._driver import FlowDriver, Outcome, Settings, member_key, new_token
from ._factor_calls import FactorCalls
from ._jwt import SessionSigner
from ._keys import Keyring
from ._ports import Clock, ConsoleSender, Sender, SystemClock
from ._primary import Primary
from ._records import IntermediateSession, Member, Organization, SmsCode, TotpRegistration
from ._repo import Repo
from ._sessions import SessionCalls
from ._shared import (
    AuthResult,
    Enrollment,
    SessionIntent,
    adding_intent,
    credentials,
    member_factors,
    org_policy,
)
from ._store import Conflict, Store
from ._totp import TotpComponent
from ._unit import Units, in_unit
from .errors import (
    CredentialCombination,
    MemberNotFound,
)


class LocalProvider(Admin, Primary, FactorCalls, SessionCalls):
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
        self.units = Units(store)
        self.keyring = keyring
        self.clock = clock or SystemClock()
        self.sms = sms or ConsoleSender()
        self.email = email or ConsoleSender()
        self.engine = engine or Engine()
        self.settings = settings or Settings()
        self.totp = TotpComponent()
        self.signer = signer or SessionSigner.generate()
        self.project_id = project_id
        self._jwts: dict[tuple[object, ...], tuple[float, str, int]] = {}
        self._jwt_lock = threading.Lock()
        self.driver = FlowDriver(
            self.repo,
            self.engine,
            keyring,
            self.clock,
            self.sms,
            self.totp,
            self.settings,
            self.units,
        )

    # ----------------------------------------------------------- flows

    @in_unit
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
            organization=org_policy(org),
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
            if flow is not None and self._stale(flow, org, member, request_id):
                raise UnauthorizedAction(
                    "the member's factors or the organization's MFA policy changed since"
                    " this login; log in again"
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
            if flow is not None and live and not self._stale(flow, org, member, request_id):
                return org, flow.flow_id, ""
        flow_id = f"flow-{uuid.uuid4()}"
        event = SessionPresented(
            at=now,
            organization=org_policy(org),
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

    def _stale(self, flow: Flow, org: Organization, member: Member, request_id: str) -> bool:
        """Whether the flow's snapshot of the member or the org is out of date; if so, abort.

        Invariant 3 must hold of the member as stored now: a flow opened before the member
        enrolled, replaced or lost a factor elsewhere would otherwise let an IST add a
        factor to a member who has one (replacing the phone just enrolled), or challenge a
        factor the member no longer has. Likewise a flow opened before an admin restricted
        the org's methods (or changed its policy, or the member's breakglass flag) would
        still offer what is now refused. The caller refuses (an IST) or starts a fresh flow
        (a session), which judges the member and the org as they are now.
        """
        if flow.is_terminal:
            return False
        phone = member.mfa_phone_number if member.mfa_phone_number_verified else None
        policy = org_policy(org)
        methods = tuple(sorted(org_allowed_methods(policy, member_factors(member, 0))))
        then = (flow.phone, flow.totp_id, flow.mfa_policy, flow.mfa_methods, flow.org_methods)
        now = (phone, member.totp_registration_id or None, org.mfa_policy, org.mfa_methods)
        if then == (*now, methods) and flow.breakglass == member.is_breakglass:
            return False
        event = Aborted(
            at=max(self.clock.now(), flow.started_at),
            organization_id=flow.organization_id,
            member_id=flow.member_id,
            reason="the member's factors or the organization's MFA policy changed",
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

    @in_unit
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
        intent = adding_intent(member) if new_factor else Intent.STEP_UP
        creds = credentials(intermediate_session_token, session_token, session_jwt)
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

    @in_unit
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
        creds = credentials(intermediate_session_token, session_token, session_jwt)
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
        """Consume the member's code if it matches: marked spent by compare-and-set, so
        once only. A right code that was already spent (a double submission, or the loser
        of a race) is refused without counting a failure: it is not a guess, and counting
        it could lock out the member whose own request just won."""
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
        if record.spent:
            raise OtpCodeNotFound()
        try:
            self.repo.save(
                "sms_codes",
                mkey,
                record.model_copy(update={"spent": True}),
                version,
                record.expires_at,
            )
        except Conflict:
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

    def close(self) -> None:
        """Release the store's connections and files."""
        self.repo.store.close()

    def audit_log(self, member_id: str) -> list[dict[str, Any]]:
        return [json.loads(e.data) for e in self.repo.store.read_log("audit", member_id=member_id)]

    def _factors(self, member: Member) -> MemberFactors:
        """The engine's snapshot of the member, with the recovery codes left."""
        reg = None
        if member.totp_registration_id:
            reg = self.repo.get("totps", member.totp_registration_id, TotpRegistration)
        return member_factors(member, len(reg.recovery_code_hashes) if reg else 0)

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


__all__ = ["AuthResult", "LocalProvider", "MfaError", "Settings"]
