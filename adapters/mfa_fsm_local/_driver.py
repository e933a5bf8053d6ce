"""Drives one flow: events go to the engine, its effects become records, messages, sessions.

The flow is written with compare-and-set BEFORE any effect is carried out, so of two
concurrent requests on one flow only one moves it; the loser re-reads and is judged
again on the new state. Codes are consumed (also by compare-and-set) before the engine
hears that they were right, so a code can be spent once.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mfa_fsm import (
    Audit,
    ClearFailedAttempts,
    ConsumeIst,
    CreateTotpRegistration,
    Effect,
    Engine,
    Event,
    Flow,
    IssueSession,
    LockMember,
    Method,
    RecordEnrollment,
    RemoveFactor,
    RevokeSession,
    SendSmsOtp,
    SetDefaultMethod,
    SetMfaEnrollment,
    SmsSent,
    Step,
    TotpRegistrationCreated,
)

from ._codes import new_recovery_codes, new_sms_code, normalize_recovery_code
from ._keys import Keyring
from ._ports import Clock, Message, Sender
from ._records import IntermediateSession, Member, Session, SmsCode, TotpRegistration
from ._repo import Busy, Repo
from ._store import Conflict
from ._totp import TotpComponent
from ._unit import Units

SESSION_MINUTES_DEFAULT = 60
MemberChange = Callable[[Member], Member]


@dataclass
class Settings:
    """Provider knobs; the defaults are Stytch's."""

    sms_code_seconds: float = 120.0
    totp_expiration_minutes: int = 60
    magic_link_seconds: float = 3600.0
    session_minutes: int = SESSION_MINUTES_DEFAULT
    issuer: str = "mfa-fsm"
    #: `sessions_authenticate` stamps `last_accessed_at` at most this often per session.
    session_touch_seconds: float = 5.0
    #: A session JWT with the same claims is handed out again for this long (0: never).
    jwt_reuse_seconds: float = 5.0

    def __post_init__(self) -> None:
        if not 0 <= self.jwt_reuse_seconds < 60:
            raise ValueError("jwt_reuse_seconds must be within [0, 60): JWTs live 5 minutes")
        if not 0 <= self.session_touch_seconds <= 3600:
            raise ValueError("session_touch_seconds must be within [0, 3600]")
        if not 0 < self.sms_code_seconds <= 600:
            raise ValueError(
                "sms_code_seconds must be within (0, 600]: NIST caps OOB codes at 10 minutes"
            )


@dataclass
class Outcome:
    """What a request produced besides the new flow: the things the API returns."""

    step: Step
    first: Step | None = None  # the step before any follow-up (e.g. SmsSent) was fed back
    session: Session | None = None
    session_token: str | None = None
    totp: dict[str, Any] = field(default_factory=dict)
    sms_sent: bool = False


def member_key(organization_id: str, member_id: str) -> str:
    return f"{organization_id}/{member_id}"


def new_token() -> str:
    """An opaque bearer token: 256 bits from `secrets`."""
    return secrets.token_urlsafe(32)


class FlowDriver:
    """Applies events to stored flows and carries out the engine's effects."""

    def __init__(
        self,
        repo: Repo,
        engine: Engine,
        keyring: Keyring,
        clock: Clock,
        sms: Sender,
        totp: TotpComponent,
        settings: Settings,
        units: Units,
    ) -> None:
        self.repo, self.engine, self.keyring, self.clock = repo, engine, keyring, clock
        self.sms, self.totp, self.settings, self.units = sms, totp, settings, units
        self._local = threading.local()

    # ------------------------------------------------------------- flows

    def start(self, flow_id: str, event: Event, request_id: str, **ctx: Any) -> Outcome:
        step = self.engine.start(flow_id, event)
        if step.accepted or step.flow.state != "start":
            self.repo.store.put(
                "flows", flow_id, step.flow.to_json(), 0, step.flow.expires_at + 3600
            )
        return self._carry_out(step, request_id, ctx)

    def drive(self, flow_id: str, event: Event, request_id: str, **ctx: Any) -> Outcome:
        """Apply `event` to the stored flow; the compare-and-set write decides races."""
        for _ in range(20):
            doc = self.repo.store.get("flows", flow_id)
            if doc is None:
                raise LookupError(flow_id)
            flow = Flow.from_json(doc.data)
            step = self.engine.handle(flow, event)
            if step.accepted:
                try:
                    self.repo.store.put(
                        "flows",
                        flow_id,
                        step.flow.to_json(),
                        doc.version,
                        step.flow.expires_at + 3600,
                    )
                except Conflict:
                    continue
            return self._carry_out(step, request_id, ctx)
        raise Busy(f"flow {flow_id} kept changing")

    def load(self, flow_id: str) -> Flow | None:
        doc = self.repo.store.get("flows", flow_id)
        return None if doc is None else Flow.from_json(doc.data)

    # ------------------------------------------------------------- effects

    def _carry_out(self, step: Step, request_id: str, ctx: dict[str, Any]) -> Outcome:
        out = Outcome(step, first=step)
        flow = step.flow
        mkey = member_key(flow.organization_id, flow.member_id)
        follow_up: Event | None = None
        outer, self._local.member_changes = getattr(self._local, "member_changes", None), []
        try:
            for effect in step.effects:
                follow_up = self._apply(effect, flow, mkey, out, request_id, ctx) or follow_up
            changes = self._local.member_changes
        finally:
            self._local.member_changes = outer
        self._change_member(mkey, changes, self.clock.now())
        if follow_up is not None:
            inner = self.drive(flow.flow_id, follow_up, request_id, **ctx)
            out.step = inner.step
        return out

    def _apply(
        self,
        effect: Effect,
        flow: Flow,
        mkey: str,
        out: Outcome,
        request_id: str,
        ctx: dict[str, Any],
    ) -> Event | None:
        now = self.clock.now()
        subject = {"organization_id": flow.organization_id, "member_id": flow.member_id}
        if isinstance(effect, Audit):
            self._audit(effect, flow, request_id)
        elif isinstance(effect, SendSmsOtp):
            expires = now + self.settings.sms_code_seconds
            self._send_sms(mkey, flow.member_id, effect.phone_number, now, expires)
            out.sms_sent = True
            return SmsSent(
                at=now, phone_number=effect.phone_number, code_expires_at=expires, **subject
            )
        elif isinstance(effect, CreateTotpRegistration):
            minutes = int(ctx.get("expiration_minutes") or self.settings.totp_expiration_minutes)
            reg_id, expires = self._create_totp(flow, now, minutes, out, ctx)
            return TotpRegistrationCreated(
                at=now, totp_registration_id=reg_id, registration_expires_at=expires, **subject
            )
        elif isinstance(effect, RecordEnrollment):
            self._record_enrollment(flow, mkey, effect, now)
        elif isinstance(effect, SetMfaEnrollment):
            self._member(
                mkey,
                lambda m: m.model_copy(update={"mfa_enrolled": effect.enrolled}),
                now,
                "mfa_enrolled",
            )
        elif isinstance(effect, SetDefaultMethod):
            self._member(
                mkey,
                lambda m: m.model_copy(update={"default_mfa_method": effect.method.value}),
                now,
                "default_mfa_method",
            )
        elif isinstance(effect, RemoveFactor):
            self.remove_factor(mkey, Method(effect.method), now)
        elif isinstance(effect, ConsumeIst):
            self.repo.update(
                "ists",
                effect.ist_id,
                IntermediateSession,
                lambda i: i.model_copy(update={"consumed": True}),
            )
        elif isinstance(effect, RevokeSession):
            self.revoke_session(effect.session_id)
        elif isinstance(effect, ClearFailedAttempts):
            self._member(mkey, lambda m: m.model_copy(update={"failed_attempts": 0}), now, None)
        elif isinstance(effect, LockMember):
            stored = self.repo.get("members", mkey, Member)
            if stored is None or not stored.is_locked(now):  # else `count_failure` locked it
                lock = {"lock_created_at": now, "lock_expires_at": effect.until}
                self._member(mkey, lambda m: m.model_copy(update=lock), now, "locked")
        elif isinstance(effect, IssueSession):
            minutes = int(ctx.get("session_duration_minutes") or self.settings.session_minutes)
            out.session, out.session_token = self.issue_session(flow, effect, now, minutes)
        # RecordFailedAttempt: already counted atomically before the event (see `count_failure`).
        return None

    def _audit(self, effect: Audit, flow: Flow, request_id: str) -> None:
        row = effect.model_dump() | {
            "kind": "transition",
            "organization_id": flow.organization_id,
            "member_id": flow.member_id,
            "request_id": request_id,
        }
        self.repo.store.append("audit", flow.member_id or None, effect.at, json.dumps(row))

    def audit_factor(self, mkey: str, change: str, at: float, request_id: str = "") -> None:
        organization_id, member_id = mkey.split("/", 1)
        row = {
            "kind": "factor",
            "change": change,
            "organization_id": organization_id,
            "member_id": member_id,
            "at": at,
            "request_id": request_id,
        }
        self.repo.store.append("audit", member_id, at, json.dumps(row))

    def _member(
        self, mkey: str, change: MemberChange, now: float, what: str | None
    ) -> Member | None:
        """Change the member now, or, while a step's effects run, with the step's others.

        One step can enroll, set the default and clear the failure count: folded into one
        compare-and-set write of the member instead of one each.
        """
        pending: list[tuple[MemberChange, str | None]] | None = getattr(
            self._local, "member_changes", None
        )
        if pending is not None:
            pending.append((change, what))
            return None
        return self._change_member(mkey, [(change, what)], now)

    def _change_member(
        self, mkey: str, changes: list[tuple[MemberChange, str | None]], now: float
    ) -> Member | None:
        if not changes:
            return None

        def apply_all(m: Member) -> Member:
            for change, _ in changes:
                m = change(m)
            return m.model_copy(update={"updated_at": now})

        member = self.repo.update("members", mkey, Member, apply_all)
        for _, what in changes:
            if what is not None:
                self.audit_factor(mkey, what, now)
        return member

    # ------------------------------------------------------------- factors

    def _send_sms(self, mkey: str, member_id: str, phone: str, now: float, expires: float) -> None:
        """One active code per member: the new code replaces any earlier one."""
        code = new_sms_code()
        record = SmsCode(
            code_hash=self.keyring.digest(code, context=member_id),
            phone_number=phone,
            expires_at=expires,
            sent_at=now,
        )
        for _ in range(20):
            doc = self.repo.store.get("sms_codes", mkey)
            try:
                self.repo.save("sms_codes", mkey, record, doc.version if doc else 0, expires)
                break
            except Conflict:
                continue
        else:  # never send a code that was not stored
            raise Busy(f"the SMS code of {mkey} kept changing")
        self.units.deliver(
            self.sms,
            Message(
                kind="sms",
                to=phone,
                body=f"Your verification code is {code}",
                code=code,
                sent_at=now,
            ),
        )

    def _create_totp(
        self, flow: Flow, now: float, minutes: int, out: Outcome, ctx: dict[str, Any]
    ) -> tuple[str, float]:
        reg_id = f"member-totp-{uuid.uuid4()}"
        secret = self.totp.new_secret()
        codes = new_recovery_codes()
        expires = now + minutes * 60
        hashes = [self.keyring.digest(c, flow.member_id) for c in codes]
        record = TotpRegistration(
            totp_registration_id=reg_id,
            member_id=flow.member_id,
            organization_id=flow.organization_id,
            secret_enc=self.keyring.encrypt(secret, record_id=reg_id),
            expires_at=expires,
            recovery_code_hashes=hashes,
            created_at=now,
        )
        self.repo.create("totps", reg_id, record)
        account = str(ctx.get("account_name") or flow.member_id)
        uri = self.totp.provisioning_uri(secret, account, self.settings.issuer)
        out.totp = {
            "totp_registration_id": reg_id,
            "secret": secret,
            "qr_code": self.totp.qr_png_base64(uri),
            "recovery_codes": codes,
            "otpauth_uri": uri,
        }
        return reg_id, expires

    def _record_enrollment(
        self, flow: Flow, mkey: str, effect: RecordEnrollment, now: float
    ) -> None:
        if effect.method is Method.SMS_OTP:
            update = {"mfa_phone_number": effect.factor_id, "mfa_phone_number_verified": True}
        else:
            self.repo.update(
                "totps",
                effect.factor_id,
                TotpRegistration,
                lambda r: r.model_copy(update={"verified": True, "expires_at": None}),
            )
            update = {"totp_registration_id": effect.factor_id}
        self._member(
            mkey, lambda m: m.model_copy(update=update), now, f"enrolled {effect.method.value}"
        )

    def remove_factor(self, mkey: str, method: Method, now: float) -> Member | None:
        if method is Method.SMS_OTP:
            update: dict[str, Any] = {"mfa_phone_number": "", "mfa_phone_number_verified": False}
        else:
            update = {"totp_registration_id": ""}

        def change(m: Member) -> Member:
            extra = {"default_mfa_method": ""} if m.default_mfa_method == method.value else {}
            return m.model_copy(update=update | extra)

        return self._member(mkey, change, now, f"removed {method.value}")

    def count_failure(self, mkey: str) -> int | None:
        """Count one wrong code for the member; the result is authoritative.

        The count and, at the threshold, the lock are one compare-and-set write, so racing
        wrong codes add exactly one each and the one that reaches the threshold locks the
        member, whether or not its flow could take the rejection (a code sent where none
        was asked for is wrong too). A member already locked is not counted: None. A lock
        that has run out starts the count afresh, as a new login does.
        """
        limits = self.engine.limits
        for _ in range(1000):
            found = self.repo.load("members", mkey, Member)
            if found is None:
                return 0
            member, version = found
            now = self.clock.now()
            if member.is_locked(now):
                return None
            count = member.failed_attempts if member.lock_expires_at is None else 0
            count = min(count + 1, limits.max_failures)
            change: dict[str, Any] = {
                "failed_attempts": count,
                "lock_created_at": None,
                "lock_expires_at": None,
            }
            if count >= limits.max_failures:
                change |= {"lock_created_at": now, "lock_expires_at": now + limits.lock_seconds}
            try:
                self.repo.save("members", mkey, member.model_copy(update=change), version)
            except Conflict:
                continue
            if count >= limits.max_failures:
                self.audit_factor(mkey, "locked", now)
            return count
        raise Busy(f"member {mkey} kept changing")

    def rotate_recovery_codes(self, registration: TotpRegistration) -> list[str]:
        codes = new_recovery_codes()
        hashes = [self.keyring.digest(c, registration.member_id) for c in codes]
        self.repo.update(
            "totps",
            registration.totp_registration_id,
            TotpRegistration,
            lambda r: r.model_copy(update={"recovery_code_hashes": hashes}),
        )
        return codes

    def has_recovery_code(self, registration_id: str, member_id: str, raw: str) -> bool:
        """Whether `raw` is one of the registration's unused codes (nothing is spent)."""
        canonical = normalize_recovery_code(raw)
        reg = self.repo.get("totps", registration_id, TotpRegistration)
        if canonical is None or reg is None:
            return False
        return any(self.keyring.matches(canonical, h, member_id) for h in reg.recovery_code_hashes)

    def spend_recovery_code(self, registration_id: str, member_id: str, raw: str) -> int | None:
        """Remove one matching code by compare-and-set; the count left, or None when no match."""
        canonical = normalize_recovery_code(raw)
        if canonical is None:
            return None
        for _ in range(20):
            found = self.repo.load("totps", registration_id, TotpRegistration)
            if found is None:
                return None
            reg, version = found
            keep = [
                h
                for h in reg.recovery_code_hashes
                if not self.keyring.matches(canonical, h, member_id)
            ]
            if len(keep) == len(reg.recovery_code_hashes):
                return None
            try:
                self.repo.save(
                    "totps",
                    registration_id,
                    reg.model_copy(update={"recovery_code_hashes": keep}),
                    version,
                )
            except Conflict:
                continue
            return len(keep)
        raise Busy("recovery codes kept changing")

    # ------------------------------------------------------------- sessions

    def issue_session(
        self, flow: Flow, effect: IssueSession, now: float, minutes: int
    ) -> tuple[Session, str]:
        token = new_token()
        session = Session(
            member_session_id=f"member-session-{uuid.uuid4()}",
            organization_id=flow.organization_id,
            member_id=flow.member_id,
            token_hash=self.keyring.digest(token, "session"),
            authentication_factors=list(effect.authentication_factors),
            started_at=now,
            last_accessed_at=now,
            expires_at=now + minutes * 60,
        )
        self.repo.create("sessions", session.member_session_id, session, session.expires_at)
        self.repo.store.put(
            "session_tokens",
            session.token_hash,
            json.dumps(session.member_session_id),
            0,
            session.expires_at,
        )
        self._index_session(member_key(flow.organization_id, flow.member_id), session, now)
        return session, token

    def _index_session(self, mkey: str, session: Session, now: float) -> None:
        """Keep the member's live session ids, for `sessions_get`."""
        for _ in range(20):
            doc = self.repo.store.get("member_sessions", mkey)
            ids = [session.member_session_id]
            for sid in json.loads(doc.data) if doc else []:
                old = self.repo.get("sessions", sid, Session)
                if old is not None and not old.revoked and old.expires_at > now:
                    ids.append(sid)
            try:
                self.repo.store.put(
                    "member_sessions", mkey, json.dumps(ids), doc.version if doc else 0
                )
                return
            except Conflict:
                continue

    def revoke_session(self, session_id: str) -> None:
        self.repo.update(
            "sessions", session_id, Session, lambda s: s.model_copy(update={"revoked": True})
        )
