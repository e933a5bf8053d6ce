"""TOTP and recovery-code calls of `LocalProvider` (mixed in): every one an event on a flow."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Literal

from mfa_fsm import (
    Engine,
    FactorVerified,
    Intent,
    InvalidTotpCode,
    Method,
    MethodChosen,
    RecoveryCodeVerified,
)

from ._codes import normalize_recovery_code
from ._driver import FlowDriver, member_key
from ._keys import Keyring
from ._ports import Clock
from ._records import Member, Organization, TotpRegistration
from ._repo import Repo
from ._shared import AuthResult, Enrollment, adding_intent, credentials
from ._store import Conflict
from ._totp import TotpComponent
from ._unit import Units, in_unit
from .errors import InvalidArgument, RecoveryCodeNotFound, TotpNotFound


class FactorCalls:
    """`totps_*` and `recovery_codes_*`."""

    repo: Repo
    clock: Clock
    keyring: Keyring
    engine: Engine
    driver: FlowDriver
    totp: TotpComponent
    units: Units

    if TYPE_CHECKING:  # provided by Admin and LocalProvider

        def members_get(self, organization_id: str, member_id: str) -> Member: ...
        def _flow_for(
            self,
            organization_id: str,
            member_id: str,
            creds: dict[str, str | None],
            intent_if_new: Intent,
            request_id: str,
            **ctx: Any,
        ) -> tuple[Organization, str, str]: ...
        def _answering(
            self,
            organization_id: str,
            member_id: str,
            creds: dict[str, str | None],
            request_id: str,
        ) -> tuple[Organization, str, str, dict[str, Any]]: ...
        def _reject(
            self,
            flow_id: str,
            mkey: str,
            method: Method | Literal["recovery_code"],
            subject: dict[str, Any],
            request_id: str,
        ) -> None: ...
        def _finish(
            self, org: Organization, flow_id: str, event: Any, request_id: str, **ctx: Any
        ) -> AuthResult: ...

    # ----------------------------------------------------------- TOTP

    @in_unit
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
        creds = credentials(intermediate_session_token, session_token, session_jwt)
        org, flow_id, _ = self._flow_for(
            organization_id, member_id, creds, adding_intent(member), request_id
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

    @in_unit
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
        creds = credentials(intermediate_session_token, session_token, session_jwt)
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
            if step is None and (raced or self.totp.is_replay(secret, code, now, reg.last_step)):
                raise InvalidTotpCode()  # a right code spent already: refused, not counted
            if step is None:
                return False
            try:
                self.repo.save("totps", reg_id, reg.model_copy(update={"last_step": step}), version)
            except Conflict:
                raced = True
                continue
            return True
        return False

    @in_unit
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

    @in_unit
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
        creds = credentials(intermediate_session_token, session_token, session_jwt)
        org, flow_id, mkey, subject = self._answering(organization_id, member_id, creds, request_id)
        member = self.members_get(org.organization_id, member_id)
        flow = self.driver.load(flow_id)
        reg_id = member.totp_registration_id
        if (
            flow is not None
            and reg_id
            and self.driver.has_recovery_code(reg_id, member_id, recovery_code)
        ):
            # The engine is pure: ask it first whether this flow can take the (right) code
            # now, so a refusal (wrong state, TOTP restricted) does not spend it. A wrong
            # code goes on to be counted as one.
            remaining = max(flow.recovery_codes - 1, 0)
            probe = self.engine.handle(
                flow, RecoveryCodeVerified(recovery_codes_remaining=remaining, **subject)
            )
            if probe.error is not None:
                raise probe.error
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

    @in_unit
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
