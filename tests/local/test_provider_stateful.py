"""The local provider under a random, adversarial client: a Hypothesis state machine.

Each example runs `LocalProvider` on its own SQLite file (fresh temporary directory), with a
hand-moved clock and the outbox as SMS sender. The client logs members in, sends SMS codes
to new, enrolled or no numbers, answers with the right code, a wrong one or a replayed one,
creates and answers TOTP registrations, spends recovery codes, uses one member's IST or
session for another, enrolls and unenrolls from sessions, lets time pass (seconds, past the
2-minute code, the 10-minute IST, the 1-hour lock) and has an admin change the policy.

`MfaError`s are expected outcomes (each must carry an `error_type`); any other exception is
a bug. After every step the model checks, from the outside (API results, the outbox, the
member records and the raw SQLite file):

- sessions: a session issued while MFA was required carries a second factor of a method
  the organization allowed (breakglass members: any), verified in that very call;
- tokens: an IST never works after its flow issued a session; a revoked or expired session
  never works; a JWT lives 5 minutes; `sessions_get` lists exactly the live sessions;
- codes: an SMS code works once, only while it is the member's live code, and only in a
  flow that sent it; a TOTP time step is accepted once; a recovery code works once;
- lockout: every wrong code raises the member's count by exactly one, the count never
  goes above 10 or down (success and an expired lock excepted), and the member is locked
  when it reaches 10;
- restriction: no SMS is sent and no TOTP registration is created for a method the
  organization forbids (as of the flow's start, which the flow's own record must match);
- factors: recorded only after a code for that very factor was verified; added to an
  enrolled member only from a session that already has a second factor; never all removed;
  `mfa_enrolled` dropped only by an OPTIONAL flow asked to `unenroll`;
- secrets: no code, IST, session token, JWT, TOTP secret, recovery code or password is in
  any member's audit log, in the SQLite `logs` table (the dev outbox excepted) or stored in
  the clear in `documents`.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypedDict

import bcrypt
import jwt as pyjwt
from hypothesis import event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from mfa_fsm import Engine, Flow, Limits, MfaError
from mfa_fsm_local._jwt import SessionSigner
from mfa_fsm_local._keys import Keyring
from mfa_fsm_local._ports import ManualClock, OutboxSender
from mfa_fsm_local._records import Member
from mfa_fsm_local._sqlite import SqliteStore
from mfa_fsm_local.provider import AuthResult, LocalProvider

from .conftest import Kit

SMS_SECONDS = 120
IST_SECONDS = 600
SESSION_SECONDS = 3600
JWT_SECONDS = 300
TOTP_PERIOD = 30
SECOND_FACTORS = {"otp": "sms_otp", "totp": "totp", "recovery_codes": "totp"}
BOTH = frozenset({"sms_otp", "totp"})
PHONES = (
    ("+14155550100", "+14155550101"),
    ("+442071838750", "+442071838751"),
    ("+33142685300", "+61291234567"),
    ("+4915112345678", "+14155551234"),
)
SHARED_PHONE = "+14155552671"  # every member may try it: one number, several members
INVALID_PHONE = "+1 555"
PRECHECK = frozenset({"intermediate_session_not_found", "unauthorized_action", "session_not_found"})
WRONG_CODE = frozenset({"otp_code_not_found", "invalid_totp_code", "recovery_code_not_found"})
LOCKED = "user_lock_limit_reached"
_TOKENS = re.compile(r"[A-Za-z0-9]+")
# One RSA key for every example: generating one per provider would dominate the run time.
SIGNER = SessionSigner.generate()

Enrollment = Literal["enroll", "unenroll"] | None
CodeCheck = Literal["wrong", "unknown"] | None


# ---------------------------------------------------------------- the model


@dataclass(frozen=True)
class Policy:
    mfa_policy: str
    mfa_methods: str
    allowed: tuple[str, ...]

    def methods_for(self, breakglass: bool) -> frozenset[str]:
        if self.mfa_methods == "ALL_ALLOWED" or breakglass:
            return BOTH
        return frozenset(self.allowed)

    @property
    def valid(self) -> bool:
        return self.mfa_methods == "ALL_ALLOWED" or bool(self.allowed)

    def settings(self) -> dict[str, Any]:
        return {
            "mfa_policy": self.mfa_policy,
            "mfa_methods": self.mfa_methods,
            "allowed_mfa_methods": list(self.allowed),
        }


policies = st.builds(
    Policy,
    st.sampled_from(["REQUIRED_FOR_ALL", "OPTIONAL"]),
    st.sampled_from(["ALL_ALLOWED", "RESTRICTED", "RESTRICTED"]),
    st.sampled_from([("sms_otp",), ("totp",), ("sms_otp", "totp"), ()]),
)


@dataclass
class Org:
    org_id: str
    history: list[tuple[float, Policy]]

    def policy_at(self, t: float) -> Policy:
        return [p for at, p in self.history if at <= t][-1]

    @property
    def policy(self) -> Policy:
        return self.history[-1][1]


@dataclass
class Code:
    """An SMS code as the outbox saw it go out."""

    code: str
    member: int
    phone: str
    sent_at: float
    flow_id: str
    spent: bool = False  # a session was issued with it
    tried: bool = False  # submitted at least once (a refused submission may spend it)


@dataclass
class Reg:
    """A TOTP registration the client was given."""

    reg_id: str
    member: int
    secret: str
    flow_id: str
    expires_at: float | None
    unused: set[str] = field(default_factory=set)  # recovery codes not yet seen to work
    used: set[str] = field(default_factory=set)
    last_step: int | None = None  # a lower bound of the provider's last accepted step
    tried_step: int | None = None  # the newest step the client has submitted a code for
    last_code: str = ""


@dataclass
class Ist:
    token: str
    member: int
    issued_at: float
    flow_id: str
    dead: bool = False  # a session was issued from its flow

    def live(self, now: float) -> bool:
        return not self.dead and now < self.issued_at + IST_SECONDS


@dataclass
class Sess:
    token: str
    jwt: str
    jwt_at: float
    member: int
    session_id: str
    second_factor: bool
    expires_at: float
    revoked: bool = False

    def live(self, now: float) -> bool:
        return not self.revoked and now < self.expires_at

    def jwt_live(self, now: float) -> bool:
        """Read `exp` from the token: a JWT handed out again may have been signed earlier."""
        exp = int(pyjwt.decode(self.jwt, options={"verify_signature": False})["exp"])
        assert int(self.jwt_at) - JWT_SECONDS < exp <= int(self.jwt_at) + JWT_SECONDS
        return self.live(now) and now < min(exp, int(self.expires_at))


@dataclass
class MemberModel:
    org: int
    member_id: str
    email: str
    password: str
    breakglass: bool
    phones: tuple[str, ...]
    codes: list[Code] = field(default_factory=list)

    @property
    def latest(self) -> Code | None:
        return self.codes[-1] if self.codes else None


class Creds(TypedDict, total=False):
    intermediate_session_token: str
    session_token: str
    session_jwt: str


@dataclass
class Via:
    """The credential a call presents: an IST, a session token or a session JWT."""

    kind: Literal["ist", "session_token", "session_jwt"]
    ist: Ist | None = None
    sess: Sess | None = None

    @property
    def member(self) -> int:
        owner = self.ist or self.sess
        assert owner is not None
        return owner.member

    def live(self, now: float) -> bool:
        if self.ist is not None:
            return self.ist.live(now)
        assert self.sess is not None
        return self.sess.jwt_live(now) if self.kind == "session_jwt" else self.sess.live(now)

    def kwargs(self) -> Creds:
        if self.ist is not None:
            return {"intermediate_session_token": self.ist.token}
        assert self.sess is not None
        if self.kind == "session_jwt":
            return {"session_jwt": self.sess.jwt}
        return {"session_token": self.sess.token}


@dataclass
class Before:
    now: float
    members: list[Member]
    outbox: int
    totps: set[str]


@dataclass
class Step:
    """What one call did, for the checks after it."""

    name: str
    member: int
    via: Via | None
    result: AuthResult | None = None
    error: MfaError | None = None
    code_check: CodeCheck = None  # None: the call does not check a code for `member`
    proved: tuple[str, str] | None = None  # the factor a successful code proved
    enrollment: Enrollment = None
    flow: Flow | None = None  # the flow the call went through, when known
    expect_error: str | None = None  # an error the call must raise whatever the credential
    login_required: bool | None = None  # for a login: MFA required by policy or enrollment

    @property
    def issued(self) -> bool:
        return self.result is not None and self.result.session is not None


Cred = tuple[str, str, int]
creds: st.SearchStrategy[Cred] = st.tuples(
    st.sampled_from(["ist", "ist", "ist", "session_token", "session_jwt"]),
    st.sampled_from(["last", "last", "last", "any"]),  # mostly carry on with the newest
    st.integers(0, 63),
)
enrollments: st.SearchStrategy[Enrollment] = st.sampled_from([None, None, "enroll", "unenroll"])


# ---------------------------------------------------------------- the machine


class ProviderMachine(RuleBasedStateMachine):
    """A client and an admin against one provider; the model checks every step."""

    limits: ClassVar[Limits] = Limits()  # Stytch's numbers: lock after 10 for an hour

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="mfa-fsm-stateful-"))
        self.store = SqliteStore(self.dir / "mfa.db", synchronous="NORMAL")
        self.clock = ManualClock()
        self.outbox = OutboxSender(self.store)
        keyring = Keyring.from_master(b"s" * 32)
        self.provider = LocalProvider(
            self.store,
            keyring,
            clock=self.clock,
            sms=self.outbox,
            email=self.outbox,
            signer=SIGNER,
            engine=Engine(limits=self.limits),
        )
        self.raw = sqlite3.connect(self.dir / "mfa.db", check_same_thread=False)
        self.orgs: list[Org] = []
        self.members: list[MemberModel] = []
        self.ists: list[Ist] = []
        self.sessions: list[Sess] = []
        self.regs: dict[str, Reg] = {}
        self.flows: dict[str, Flow] = {}
        self.login_required: dict[str, bool] = {}
        self.secrets: set[str] = set()  # long secrets: tokens, JWTs, TOTP secrets, passwords
        self.codes: set[str] = set()  # 6-digit codes, matched as whole tokens
        self.sent = 0

    def teardown(self) -> None:
        self.raw.close()
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- setup ---------------------------------------------------------------------------

    @initialize(
        first=policies.filter(lambda p: p.valid),
        second=policies.filter(lambda p: p.valid),
        breakglass=st.tuples(st.booleans(), st.booleans()),
        migrated=st.lists(st.sampled_from([False, False, True]), min_size=4, max_size=4),
    )
    def setup(
        self,
        first: Policy,
        second: Policy,
        breakglass: tuple[bool, bool],
        migrated: list[bool],
    ) -> None:
        """Two organizations; three members in the first, one in the second. Members 1 and
        3 may be breakglass; any may start with a migrated TOTP registration."""
        p, now = self.provider, self.clock.now()
        for n, policy in enumerate((first, second)):
            org = p.organizations_create(f"Org {n}", f"org-{n}", **policy.settings())
            self.orgs.append(Org(org.organization_id, [(now, policy)]))
        for n, org_index in enumerate((0, 0, 0, 1)):
            password = f"pw-{n}-{secrets.token_urlsafe(12)}"
            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
            email = f"member{n}@example.com"
            org_id = self.orgs[org_index].org_id
            member = p.passwords_migrate(org_id, email, hashed, "bcrypt")
            glass = n % 2 == 1 and breakglass[n // 2]
            if glass:
                p.members_update(org_id, member.member_id, is_breakglass=True)
            self.members.append(
                MemberModel(org_index, member.member_id, email, password, glass, PHONES[n])
            )
            self.secrets.add(password)
            if migrated[n]:
                secret = p.totp.new_secret()
                codes = [f"m{n}ab-cdef-gh{k:02d}" for k in range(3)]
                updated = p.totps_migrate(org_id, member.member_id, secret, codes)
                reg = Reg(updated.totp_registration_id, n, secret, "", None, set(codes))
                self.regs[reg.reg_id] = reg
                self.secrets.update({secret, *codes})
        note(f"policies {first} / {second}; breakglass {[m.breakglass for m in self.members]}")

    # -- helpers -------------------------------------------------------------------------

    def _members(self) -> list[Member]:
        return [
            self.provider.members_get(self.orgs[m.org].org_id, m.member_id) for m in self.members
        ]

    def _ids(self, member: int) -> tuple[str, str]:
        m = self.members[member]
        return self.orgs[m.org].org_id, m.member_id

    def _via(self, cred: Cred) -> Via:
        """The newest IST or session (or any other one), as the credential of a call."""
        kind, which, index = cred
        if (kind == "ist" and self.ists) or not self.sessions:
            pick = -1 if which == "last" else index % len(self.ists)
            return Via("ist", ist=self.ists[pick])
        sess = self.sessions[-1 if which == "last" else index % len(self.sessions)]
        return Via("session_jwt" if kind == "session_jwt" else "session_token", sess=sess)

    def _before(self) -> Before:
        return Before(
            self.clock.now(), self._members(), len(self.outbox.messages()), self._totp_keys()
        )

    def _totp_keys(self) -> set[str]:
        rows = self.raw.execute("SELECT key FROM documents WHERE collection = 'totps'")
        return {r[0] for r in rows}

    def _call(self, step: Step, fn: Callable[[], Any]) -> Before:
        """Run one provider call; an MfaError is an outcome, anything else a bug.

        Returns the state before the call; the caller runs `_after` once it has added
        what only it knows (the factor a code proved)."""
        before = self._before()
        try:
            value = fn()
        except MfaError as exc:
            assert isinstance(exc.error_type, str) and exc.error_type, repr(exc)
            step.error = exc
            event(f"{step.name}: {exc.error_type}")
        else:
            if isinstance(value, tuple):
                value = value[0]
            if isinstance(value, AuthResult):
                step.result = value
            event(f"{step.name}: {'session' if step.issued else 'ok'}")
        note(
            f"{step.name} member={step.member} via={step.via and step.via.kind} "
            f"-> {step.error.error_type if step.error else 'ok'}"
        )
        self._check_credential(before, step)
        step.flow = self._flow_of(step)
        if step.flow is not None:
            if step.login_required is not None:
                self.login_required[step.flow.flow_id] = step.login_required
            self._remember(step.flow, step.member)
        return before

    def _do(self, step: Step, fn: Callable[[], Any]) -> Step:
        """`_call` and the checks after it, for calls with nothing more to look at."""
        self._after(self._call(step, fn), step)
        return step

    def _flow_of(self, step: Step) -> Flow | None:
        """The flow the call went through: from its result, its IST, or its session."""
        if step.result is not None and step.result.flow is not None:
            return step.result.flow
        via = step.via
        if via is not None and via.ist is not None and via.member == step.member:
            return self.flows.get(via.ist.flow_id)
        return None

    def _session_flow(self, step: Step) -> Flow | None:
        """The flow a session call left in the store (for a call that raised)."""
        via = step.via
        if via is not None and via.sess is not None and via.member == step.member:
            doc = self.store.get("session_flows", via.sess.session_id)
            if doc is not None:
                flow = self.provider.driver.load(json.loads(doc.data))
                if flow is not None:
                    self._remember(flow, step.member)
                return flow
        return None

    def _remember(self, flow: Flow, member: int) -> None:
        """Check the flow's snapshot against the policy in force when it started; keep it."""
        m, org = self.members[member], self.orgs[self.members[member].org]
        assert (flow.organization_id, flow.member_id) == (org.org_id, m.member_id)
        policy = org.policy_at(flow.started_at)
        assert flow.mfa_policy == policy.mfa_policy, (flow.mfa_policy, policy)
        assert set(flow.org_methods) == policy.methods_for(m.breakglass), (flow, policy)
        assert flow.expires_at == flow.started_at + IST_SECONDS
        self.flows[flow.flow_id] = flow

    # -- the checks after every call -----------------------------------------------------

    def _after(self, b: Before, s: Step) -> None:
        now = self.clock.now()
        after = self._members()
        self._check_messages(b, s, after)
        self._check_totps(b, s)
        if s.issued:
            self._check_session(s)
        self._check_counts(b, s, after, now)
        self._check_factors(b, s, after)

    def _check_credential(self, b: Before, s: Step) -> None:
        if s.expect_error is not None:
            assert s.error is not None and s.error.error_type == s.expect_error, s.error
            return
        if s.via is None:
            return
        if not s.via.live(b.now):
            want = "intermediate_session_not_found" if s.via.ist else "session_not_found"
            assert s.error is not None and s.error.error_type == want, (s.via, s.error)
        elif s.via.member != s.member:
            assert s.error is not None and s.error.error_type == "unauthorized_action", s.error

    def _check_messages(self, b: Before, s: Step, after: list[Member]) -> None:
        """Every SMS this call sent: allowed by the flow's policy, to a number it may use."""
        messages = self.outbox.messages()[b.outbox :]
        for msg in messages:
            assert msg.kind == "sms" and msg.code, msg
            self.codes.add(msg.code)
            flow = s.flow or self._session_flow(s)
            assert flow is not None, f"an SMS went out from {s.name} outside any known flow"
            assert "sms_otp" in flow.org_methods, f"SMS sent under {flow.org_methods}"
            assert s.via is None or s.via.member == s.member, "SMS for another's credential"
            was = b.members[s.member]
            enrolled_phone = was.mfa_phone_number if was.mfa_phone_number_verified else ""
            has_factor = bool(enrolled_phone or was.totp_registration_id)
            if msg.to != enrolled_phone and has_factor:
                assert s.via and s.via.sess and s.via.sess.second_factor, (
                    f"SMS to a new number {msg.to} for an enrolled member without a 2FA session"
                )
            self.members[s.member].codes.append(
                Code(msg.code, s.member, msg.to, self.clock.now(), flow.flow_id)
            )
        self.sent += len(messages)

    def _check_totps(self, b: Before, s: Step) -> None:
        new = self._totp_keys() - b.totps
        if not new:
            return
        totp = s.result.totp if s.result is not None else None
        assert totp is not None and new == {totp["totp_registration_id"]}, (new, s.name)
        assert s.flow is not None and "totp" in s.flow.org_methods, s.flow
        reg_id, secret = totp["totp_registration_id"], totp["secret"]
        expires = s.flow.pending_expires_at
        self.regs[reg_id] = Reg(
            reg_id, s.member, secret, s.flow.flow_id, expires, set(totp["recovery_codes"])
        )
        assert secret in totp["otpauth_uri"]
        self.secrets.update({secret, *totp["recovery_codes"]})

    def _check_session(self, s: Step) -> None:
        """A new session: second factor when required; the credential that led here dies."""
        assert s.result is not None and s.result.session is not None and s.flow is not None
        res, flow, now = s.result, s.flow, self.clock.now()
        session = res.session
        assert session is not None
        assert flow.state == "authenticated"
        required = flow.intent != "login" or flow.mfa_required
        if flow.intent == "login":
            assert self.login_required[flow.flow_id] == flow.mfa_required, "MFA decision"
        factors = session.authentication_factors
        seconds = [f for f in factors if f.type in SECOND_FACTORS]
        if required:
            allowed = set(flow.org_methods)
            good = [
                f
                for f in seconds
                if SECOND_FACTORS[f.type] in allowed
                and f.last_authenticated_at == now
                and flow.started_at <= now < flow.expires_at
            ]
            assert good, f"session without an allowed fresh second factor: {factors} {flow}"
        assert res.session_token not in {x.token for x in self.sessions}
        self.secrets.update({res.session_token, res.session_jwt})
        self.sessions.append(
            Sess(
                res.session_token,
                res.session_jwt,
                now,
                s.member,
                session.member_session_id,
                bool(seconds),
                session.expires_at,
            )
        )
        assert session.expires_at == now + SESSION_SECONDS
        event(f"session issued from {s.via.kind if s.via else 'login'} ({s.name})")
        if s.via is not None and s.via.ist is not None:
            s.via.ist.dead = True
        if s.via is not None and s.via.sess is not None:
            s.via.sess.revoked = True

    def _check_counts(self, b: Before, s: Step, after: list[Member], now: float) -> None:
        """Each wrong code counts once; nothing else raises the count; 10 locks."""
        for n, (was, now_m) in enumerate(zip(b.members, after, strict=True)):
            fb, fa = was.failed_attempts, now_m.failed_attempts
            assert fa <= self.limits.max_failures, f"member {n} has {fa} failed attempts"
            expired_lock = was.lock_expires_at is not None and was.lock_expires_at <= now
            bases = {fb, 0} if expired_lock else {fb}
            if n != s.member or s.code_check is None:
                assert fa in bases, f"member {n}: {fb} -> {fa} on {s.name} (no code checked)"
                continue
            if s.issued:
                assert fa == 0, f"success left {fa} failures"
                continue
            assert s.error is not None
            err = s.error.error_type
            counted = {x + 1 for x in bases}
            if err == LOCKED and was.is_locked(b.now):
                assert fa == fb, "a locked member's attempt was counted"
            elif err == LOCKED:
                assert fa in counted, f"the locking attempt was not counted: {fb} -> {fa}"
            elif s.code_check == "wrong" and err in WRONG_CODE:
                assert fa in counted, f"a wrong code moved the count {fb} -> {fa}"
            elif err in WRONG_CODE:
                assert fa in bases | counted, f"{fb} -> {fa}"
            else:
                assert fa in bases, f"{err} moved the count {fb} -> {fa}"
            if s.code_check == "wrong" and not was.is_locked(b.now):
                answers = WRONG_CODE | PRECHECK | {LOCKED, "totp_not_found"}
                assert err in answers, f"wrong code answered with {err}"
            if (fa == self.limits.max_failures and fa != fb) or err == LOCKED:
                assert now_m.is_locked(now), f"member {n} at {fa} failures is not locked"
                event("member locked")

    def _check_factors(self, b: Before, s: Step, after: list[Member]) -> None:
        """Factors change only by proof; enrolled members add only from a 2FA session."""
        for n, (was, now_m) in enumerate(zip(b.members, after, strict=True)):
            pb = was.mfa_phone_number if was.mfa_phone_number_verified else ""
            pa = now_m.mfa_phone_number if now_m.mfa_phone_number_verified else ""
            rb, ra = was.totp_registration_id, now_m.totp_registration_id
            if (pb, rb) != (pa, ra):
                event(f"factor {'added' if not (pb or rb) else 'replaced or added'} ({s.name})")
                assert n == s.member and s.issued, f"member {n} factors changed by {s.name}"
                assert pa or ra, "the last factor was removed"
                if pa != pb:
                    assert s.proved == ("sms_otp", pa), (s.proved, pa)
                if ra != rb:
                    assert s.proved == ("totp", ra), (s.proved, ra)
                if pb or rb:
                    assert s.via is not None and s.via.sess is not None
                    assert s.via.sess.second_factor, "factor added from a session without 2FA"
            if was.mfa_enrolled and not now_m.mfa_enrolled:
                event("unenrolled")
                assert n == s.member and s.issued and s.enrollment == "unenroll", s.name
                assert s.flow is not None and s.flow.mfa_policy == "OPTIONAL", "unenrolled"
            if now_m.mfa_enrolled and not was.mfa_enrolled:
                assert n == s.member and s.issued, f"enrolled by {s.name}"

    # -- primary login -------------------------------------------------------------------

    @rule(member=st.integers(0, 3), wrong=st.sampled_from([False, False, False, False, True]))
    def login(self, member: int, wrong: bool) -> None:
        """Password login: a session at once, or an IST and what MFA needs."""
        m, org = self.members[member], self.orgs[self.members[member].org]
        now = self.clock.now()
        was = self.provider.members_get(org.org_id, m.member_id)
        locked = was.is_locked(now)
        required = org.policy.mfa_policy == "REQUIRED_FOR_ALL" or was.mfa_enrolled
        password = m.password + ("x" if wrong else "")
        s = Step("login", member, None, login_required=required)
        if wrong:
            s.expect_error = "unauthorized_credentials"
        before = self._call(
            s, lambda: self.provider.passwords_authenticate(org.org_id, m.email, password)
        )
        if locked and not wrong:
            assert s.error is not None and s.error.error_type == LOCKED, "a locked member got in"
        if s.error is not None and not wrong:
            allowed = {LOCKED, "operation_restricted_by_organization_mfa_methods"}
            assert s.error.error_type in allowed, s.error
        if s.result is not None:
            res, flow = s.result, s.result.flow
            assert flow is not None and flow.mfa_required == required, "MFA decision"
            if res.member_authenticated:
                assert not required, "a session without MFA while MFA was required"
            else:
                assert required and res.intermediate_session_token, res
                self.secrets.add(res.intermediate_session_token)
                self.ists.append(Ist(res.intermediate_session_token, member, now, flow.flow_id))
        self._after(before, s)

    # -- the honest next step ------------------------------------------------------------

    @precondition(lambda self: self.ists or self.sessions)
    @rule(
        session=st.sampled_from([False, False, False, True]),
        pick=st.integers(0, 3),
        enrollment=enrollments,
    )
    def proceed(self, session: bool, pick: int, enrollment: Enrollment) -> None:
        """What an honest member does next in the newest flow (an IST's, or the newest
        session's): choose a method, resend a lapsed code, or enter the right code. It
        steers runs to sessions; the adversarial rules then have something to attack."""
        kind = "session_token" if session else "ist"
        via = self._via((kind, "last", 0))
        flow = self._current_flow(via)
        now = self.clock.now()
        cred: Cred = (via.kind, "last", 0)
        state = flow.state if flow is not None else "primary_done"
        method = flow.method if flow is not None else None
        if state in ("authenticated", "failed") or not via.live(now):
            self.login(via.member, False)
        elif state == "primary_done" or (state == "challenged" and method is None):
            allowed = list(flow.allowed) if flow is not None else ["sms_otp", "totp"]
            if state == "challenged" and flow is not None:
                allowed = [m for m in allowed if m in flow.enrolled] or allowed
            choice = allowed[pick % len(allowed)] if allowed else "sms_otp"
            if choice == "totp" and state != "challenged":
                self.totp_create(cred, 60)
            elif choice == "totp":
                self.totp_authenticate(cred, "enrolled", enrollment, pick == 1)
            else:
                self.sms_send(cred, "none" if state == "challenged" else "new", pick)
        elif state in ("enrolling_sms", "challenged") and method == "sms_otp":
            latest = self.members[via.member].latest
            if latest is None or latest.spent or now >= latest.sent_at + SMS_SECONDS:
                self.sms_send(cred, "none" if state == "challenged" else "new", pick)
            else:
                self.sms_authenticate(cred, "right", enrollment, pick == 1)
        elif state == "enrolling_totp":
            self.totp_authenticate(cred, "pending", enrollment, pick == 1)
        else:
            self.totp_authenticate(cred, "enrolled", enrollment, pick == 1)

    def _fresh(self, flow: Flow, member: Member) -> bool:
        """Whether the flow's snapshot of the member's factors and of the org's policy still
        holds (else the provider aborts the flow: the member must log in again)."""
        phone = member.mfa_phone_number if member.mfa_phone_number_verified else None
        if (flow.phone, flow.totp_id) != (phone, member.totp_registration_id or None):
            return False
        policy = next(o for o in self.orgs if o.org_id == flow.organization_id).policy
        return (
            flow.mfa_policy == policy.mfa_policy
            and flow.mfa_methods == policy.mfa_methods
            and set(flow.org_methods) == policy.methods_for(member.is_breakglass)
            and flow.breakglass == member.is_breakglass
        )

    def _current_flow(self, via: Via) -> Flow | None:
        if via.ist is not None:
            return self.flows.get(via.ist.flow_id)
        assert via.sess is not None
        doc = self.store.get("session_flows", via.sess.session_id)
        flow = self.provider.driver.load(json.loads(doc.data)) if doc is not None else None
        if flow is None or flow.expires_at <= self.clock.now():
            return None
        return flow

    # -- SMS -----------------------------------------------------------------------------

    @precondition(lambda self: self.ists or self.sessions)
    @rule(
        cred=creds,
        phone=st.sampled_from(["new", "new", "enrolled", "none", "none", "shared", "invalid"]),
        pick=st.integers(0, 1),
    )
    def sms_send(self, cred: Cred, phone: str, pick: int) -> None:
        """Send (or resend) an SMS code: to a new number, the enrolled one, or none given."""
        via = self._via(cred)
        member = via.member
        m = self.members[member]
        current = self._members()[member]
        enrolled = current.mfa_phone_number if current.mfa_phone_number_verified else ""
        fresh = [x for x in m.phones if x != enrolled]
        number = {
            "new": fresh[pick % len(fresh)],
            "enrolled": enrolled or m.phones[0],
            "none": None,
            "shared": SHARED_PHONE,
            "invalid": INVALID_PHONE,
        }[phone]
        s = Step("sms_send", member, via)
        if phone == "invalid":
            s.expect_error = "invalid_phone_number"
        org_id, member_id = self._ids(member)
        self._do(
            s,
            lambda: self.provider.otps_sms_send(
                org_id, member_id, mfa_phone_number=number, **via.kwargs()
            ),
        )

    @precondition(lambda self: self.ists or self.sessions)
    @rule(
        cred=creds,
        which=st.sampled_from(["right", "right", "right", "wrong", "old", "replay"]),
        enrollment=enrollments,
        set_default=st.booleans(),
    )
    def sms_authenticate(
        self, cred: Cred, which: str, enrollment: Enrollment, set_default: bool
    ) -> None:
        """Answer with the member's latest code, a wrong one, an earlier one, or replay the
        code that last worked in another live flow waiting for a code to that number."""
        via = self._via(cred)
        member, now = via.member, self.clock.now()
        m = self.members[member]
        latest = m.latest
        live = (
            latest if latest and not latest.spent and now < latest.sent_at + SMS_SECONDS else None
        )
        olds = [c for c in m.codes[:-1] if c.spent] or m.codes[:-1]
        spent = [c for c in m.codes if c.spent]
        if which == "replay" and spent:
            code = spent[-1].code
            waiting = [
                i
                for i in self.ists
                if i.member == member
                and i.live(now)
                and (f := self.flows.get(i.flow_id)) is not None
                and f.pending == spent[-1].phone
            ]
            via = Via("ist", ist=waiting[-1]) if waiting else via
        elif which == "right" and latest is not None:
            code = latest.code
        elif which == "old" and olds:
            code = olds[-1].code
        else:
            code = next(c for c in ("000000", "123456", "999999") if not live or c != live.code)
        check: CodeCheck | None = "unknown" if live is not None and code == live.code else "wrong"
        active = m.latest
        spent = active is not None and active.spent and code == active.code
        if spent and active is not None and now < active.sent_at + SMS_SECONDS:
            check = None  # the right code, already spent: refused and never counted
        expect_ok = self._sms_should_work(via, live, code)
        s = Step("sms_authenticate", member, via, code_check=check, enrollment=enrollment)
        org_id, member_id = self._ids(member)
        before = self._call(
            s,
            lambda: self.provider.otps_sms_authenticate(
                org_id,
                member_id,
                code,
                set_mfa_enrollment=enrollment,
                set_default_mfa=set_default,
                **via.kwargs(),
            ),
        )
        for c in m.codes:
            if c.code == code:
                c.tried = True
        if expect_ok:
            event("sms_authenticate: expected to work")
            assert s.issued, f"the right code in its own live flow was refused: {s.error!r}"
        if s.issued:
            assert live is not None and code == live.code, "a code that was not live worked"
            assert s.flow is not None and s.flow.verified
            proved = s.flow.verified[-1]
            assert (proved.method, proved.factor_id) == ("sms_otp", live.phone), proved
            own = [c for c in m.codes if c.flow_id == s.flow.flow_id and c.phone == live.phone]
            assert own, "a code worked in a flow that never sent one to that number"
            live.spent = True
            s.proved = ("sms_otp", live.phone)
        self._after(before, s)

    def _sms_should_work(self, via: Via, live: Code | None, code: str) -> bool:
        """The plain honest case: this IST's flow sent this code, nothing since."""
        if via.ist is None or live is None or code != live.code or live.tried:
            return False
        now = self.clock.now()
        member = self._members()[via.member]
        flow = self.flows.get(via.ist.flow_id)
        return (
            via.ist.live(now)
            and not member.is_locked(now)
            and member.failed_attempts < self.limits.max_failures
            and live.flow_id == via.ist.flow_id
            and flow is not None
            and self._fresh(flow, member)
            and flow.method == "sms_otp"
            and flow.pending == live.phone
            and flow.state in ("enrolling_sms", "challenged")
        )

    # -- TOTP ----------------------------------------------------------------------------

    @precondition(lambda self: self.ists or self.sessions)
    @rule(cred=creds, minutes=st.sampled_from([60, 60, 5]))
    def totp_create(self, cred: Cred, minutes: int) -> None:
        """Start a TOTP registration (secret, QR, recovery codes)."""
        via = self._via(cred)
        org_id, member_id = self._ids(via.member)
        s = Step("totp_create", via.member, via)
        self._do(
            s,
            lambda: self.provider.totps_create(
                org_id, member_id, expiration_minutes=minutes, **via.kwargs()
            ),
        )
        if s.result is not None and s.result.totp:
            assert s.result.totp["totp_registration_id"] in self.regs

    def _member_regs(self, member: int) -> list[Reg]:
        return [r for r in self.regs.values() if r.member == member]

    def _matches(self, reg: Reg, code: str, now: float) -> list[int]:
        """The time steps within ±1 of now whose code is `code`."""
        current = int(now // TOTP_PERIOD)
        return [
            step
            for step in (current - 1, current, current + 1)
            if self.provider.totp.code_at(reg.secret, step * TOTP_PERIOD) == code
        ]

    @precondition(lambda self: self.ists or self.sessions)
    @rule(
        cred=creds,
        which=st.sampled_from(["pending", "pending", "enrolled", "previous", "replay", "wrong"]),
        enrollment=enrollments,
        set_default=st.booleans(),
    )
    def totp_authenticate(
        self, cred: Cred, which: str, enrollment: Enrollment, set_default: bool
    ) -> None:
        """Answer with the pending or enrolled registration's code (now or one step back),
        the last code that worked, or a code no registration of the member has."""
        via = self._via(cred)
        member, now = via.member, self.clock.now()
        current = self._members()[member]
        flow_id = via.ist.flow_id if via.ist else ""
        mine = self._member_regs(member)
        pending = [r for r in mine if r.flow_id and r.flow_id == flow_id] or [
            r for r in mine if r.reg_id != current.totp_registration_id
        ]
        enrolled = self.regs.get(current.totp_registration_id)
        reg = pending[-1] if which in ("pending", "previous") and pending else enrolled
        reg = reg or (pending[-1] if pending else None)
        if which == "replay" and reg is not None and reg.last_code:
            code = reg.last_code
        elif which != "wrong" and reg is not None:
            offset = -TOTP_PERIOD if which == "previous" else 0
            code = self.provider.totp.code_at(reg.secret, now + offset)
        else:
            taken = {c for r in mine for c in self._window_codes(r, now)}
            code = next(c for c in ("000000", "111111", "222222", "333333") if c not in taken)
        matching = [r for r in mine if self._matches(r, code, now)]
        check: CodeCheck = "unknown" if matching else "wrong"
        expect_ok = self._totp_should_work(via, reg, code)
        s = Step("totp_authenticate", member, via, code_check=check, enrollment=enrollment)
        org_id, member_id = self._ids(member)
        self.codes.add(code)
        before = self._call(
            s,
            lambda: self.provider.totps_authenticate(
                org_id,
                member_id,
                code,
                set_mfa_enrollment=enrollment,
                set_default_mfa=set_default,
                **via.kwargs(),
            ),
        )
        for r in matching:
            newest = max(self._matches(r, code, now))
            r.tried_step = newest if r.tried_step is None else max(r.tried_step, newest)
        if expect_ok:
            event("totp_authenticate: expected to work")
            assert s.issued, f"a fresh TOTP code in its own live flow was refused: {s.error!r}"
        if s.issued:
            assert s.flow is not None and s.flow.verified
            proved = s.flow.verified[-1]
            assert proved.method == "totp", proved
            used = self.regs[proved.factor_id]
            assert used.member == member, "another member's registration"
            if used.reg_id != current.totp_registration_id:
                assert used.flow_id == s.flow.flow_id, "enrolled a registration of another flow"
            fresh = [
                x
                for x in self._matches(used, code, now)
                if used.last_step is None or x > used.last_step
            ]
            assert fresh, "a TOTP time step was accepted twice (or a wrong code worked)"
            used.last_step, used.last_code, used.expires_at = min(fresh), code, None
            s.proved = ("totp", used.reg_id)
        self._after(before, s)

    def _window_codes(self, reg: Reg, now: float) -> set[str]:
        current = int(now // TOTP_PERIOD)
        return {
            self.provider.totp.code_at(reg.secret, step * TOTP_PERIOD)
            for step in (current - 1, current, current + 1)
        }

    def _totp_should_work(self, via: Via, reg: Reg | None, code: str) -> bool:
        """The honest case: this IST's flow waits for this registration, the step is new."""
        if via.ist is None or reg is None:
            return False
        now = self.clock.now()
        member = self._members()[via.member]
        flow = self.flows.get(via.ist.flow_id)
        steps = self._matches(reg, code, now)
        if not steps or flow is None or not via.ist.live(now) or member.is_locked(now):
            return False
        if not self._fresh(flow, member):
            return False
        if member.failed_attempts >= self.limits.max_failures:
            return False
        if reg.tried_step is not None and min(steps) <= reg.tried_step:
            return False
        if reg.expires_at is not None and now >= reg.expires_at:
            return False
        enrolling = flow.state == "enrolling_totp" and flow.pending == reg.reg_id
        challenged = (
            flow.state == "challenged"
            and "totp" in flow.allowed
            and flow.totp_id == reg.reg_id == member.totp_registration_id
        )
        return enrolling or challenged

    # -- recovery codes ------------------------------------------------------------------

    @precondition(lambda self: self.ists or self.sessions)
    @rule(cred=creds, which=st.sampled_from(["right", "right", "spaced", "used", "wrong"]))
    def recover(self, cred: Cred, which: str) -> None:
        """Spend a recovery code: a fresh one (as given, or uppercased with spaces), a used
        one, or one that was never issued."""
        via = self._via(cred)
        member = via.member
        current = self._members()[member]
        reg = self.regs.get(current.totp_registration_id)
        unused = sorted(reg.unused) if reg else []
        used = sorted(reg.used) if reg else []
        if which in ("right", "spaced") and unused:
            code = unused[0]
            if which == "spaced":
                code = code.upper().replace("-", " ")
        elif which == "used" and used:
            code = used[0]
        else:
            code = "zzzz-zzzz-zzzz"
        canonical = code.lower().replace(" ", "-")
        check: CodeCheck = "unknown" if canonical in unused else "wrong"
        expect_ok = self._recovery_should_work(via, reg, canonical)
        s = Step("recover", member, via, code_check=check)
        org_id, member_id = self._ids(member)
        had = len(reg.unused) if reg else 0
        if reg is not None:
            assert self.provider.recovery_codes_get(org_id, member_id) == had
        before = self._call(
            s, lambda: self.provider.recovery_codes_recover(org_id, member_id, code, **via.kwargs())
        )
        if expect_ok:
            event("recover: expected to work")
            assert s.issued, f"an unused recovery code in a live challenge was refused: {s.error!r}"
        if s.issued:
            assert reg is not None and canonical in reg.unused, "a used or unknown code worked"
        if reg is not None:
            # A code is spent exactly when it buys a session: a flow that cannot take a
            # recovery code now refuses before the code is looked at.
            left = self.provider.recovery_codes_get(org_id, member_id)
            assert left in (had, had - 1), (had, left)
            assert left == had - 1 or not s.issued, "a session, yet the code is still there"
            assert left == had or s.issued, f"refused ({s.error!r}), yet a code was spent"
            if left == had - 1:
                assert canonical in reg.unused, "a code that was never issued (or used) was spent"
                reg.unused.discard(canonical)
                reg.used.add(canonical)
        self._after(before, s)

    def _recovery_should_work(self, via: Via, reg: Reg | None, canonical: str) -> bool:
        if via.ist is None or reg is None or canonical not in reg.unused:
            return False
        now = self.clock.now()
        member = self._members()[via.member]
        flow = self.flows.get(via.ist.flow_id)
        return (
            flow is not None
            and self._fresh(flow, member)
            and via.ist.live(now)
            and not member.is_locked(now)
            and member.failed_attempts < self.limits.max_failures
            and flow.state == "challenged"
            and "totp" in flow.allowed
            and flow.totp_id == reg.reg_id == member.totp_registration_id
            and flow.recovery_codes > 0
        )

    @precondition(lambda self: self.regs)
    @rule(member=st.integers(0, 3))
    def rotate_recovery_codes(self, member: int) -> None:
        """New recovery codes replace the old ones, which stop working."""
        current = self._members()[member]
        reg = self.regs.get(current.totp_registration_id)
        s = Step("rotate_recovery_codes", member, None)
        if reg is None:
            s.expect_error = "totp_not_found"
        box: list[list[str]] = []
        self._do(s, lambda: box.append(self.provider.recovery_codes_rotate(*self._ids(member))))
        if reg is not None and box:
            codes = box[0]
            assert len(codes) == 10 and not set(codes) & (reg.unused | reg.used)
            reg.used |= reg.unused
            reg.unused = set(codes)
            self.secrets.update(codes)

    # -- someone else's credential -------------------------------------------------------

    @precondition(lambda self: self.ists or self.sessions)
    @rule(
        cred=creds,
        other=st.integers(1, 3),
        action=st.sampled_from(["sms_send", "sms_auth", "totp_create", "totp_auth", "recover"]),
    )
    def other_members_credential(self, cred: Cred, other: int, action: str) -> None:
        """One member's IST or session, presented for another member (maybe in another org)."""
        via = self._via(cred)
        victim = (via.member + other) % len(self.members)
        org_id, member_id = self._ids(victim)
        p, kw = self.provider, via.kwargs()
        phone = self.members[via.member].phones[0]
        calls: dict[str, Callable[[], Any]] = {
            "sms_send": lambda: p.otps_sms_send(org_id, member_id, mfa_phone_number=phone, **kw),
            "sms_auth": lambda: p.otps_sms_authenticate(org_id, member_id, "000000", **kw),
            "totp_create": lambda: p.totps_create(org_id, member_id, **kw),
            "totp_auth": lambda: p.totps_authenticate(org_id, member_id, "000000", **kw),
            "recover": lambda: p.recovery_codes_recover(org_id, member_id, "zzzz-zzzz-zzzz", **kw),
        }
        s = self._do(Step("other_member", victim, via), calls[action])
        assert s.error is not None, "a credential worked for another member"

    # -- sessions ------------------------------------------------------------------------

    @precondition(lambda self: self.sessions)
    @rule(index=st.integers(0, 63), jwt=st.booleans())
    def use_session(self, index: int, jwt: bool) -> None:
        """A session token or JWT works exactly while the model says it is live."""
        sess = self.sessions[index % len(self.sessions)]
        via = Via("session_jwt" if jwt else "session_token", sess=sess)
        live = via.live(self.clock.now())
        box: list[str] = []

        def call() -> None:
            if jwt:
                session, fresh_jwt = self.provider.sessions_authenticate(session_jwt=sess.jwt)
            else:
                session, fresh_jwt = self.provider.sessions_authenticate(sess.token)
            assert session.member_session_id == sess.session_id
            box.append(fresh_jwt)

        s = self._do(Step("use_session", sess.member, via), call)
        assert live == (s.error is None), (live, s.error)
        if box:
            sess.jwt, sess.jwt_at = box[0], self.clock.now()
            self.secrets.add(box[0])

    @precondition(lambda self: self.sessions)
    @rule(index=st.integers(0, 63))
    def revoke_session(self, index: int) -> None:
        sess = self.sessions[index % len(self.sessions)]
        s = self._do(
            Step("revoke_session", sess.member, None),
            lambda: self.provider.sessions_revoke(sess.session_id),
        )
        assert s.error is None, s.error
        sess.revoked = True

    # -- time and the admin --------------------------------------------------------------

    @rule(seconds=st.sampled_from([1, 10, 29, 31, 60, 121, 301, 601, 3601]))
    def time_passes(self, seconds: int) -> None:
        """Seconds, a TOTP step, past a code (2 min), a JWT (5 min), an IST (10 min), a lock."""
        self.clock.advance(seconds)

    @rule(org=st.integers(0, 1), policy=policies)
    def update_policy(self, org: int, policy: Policy) -> None:
        """An admin changes the policy (a RESTRICTED empty list must be refused)."""
        self.clock.advance(1)  # one policy per instant, so a flow's start names its policy
        model = self.orgs[org]
        s = Step("update_policy", 0, None)
        if not policy.valid:
            s.expect_error = "allowed_mfa_methods_required_for_restricted"
        self._do(s, lambda: self.provider.organizations_update(model.org_id, **policy.settings()))
        if s.error is None:
            model.history.append((self.clock.now(), policy))
        stored = self.provider.organizations_get(model.org_id)
        assert stored.mfa_policy == model.policy.mfa_policy
        assert stored.mfa_methods == model.policy.mfa_methods

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def counts_bounded_and_locks_recorded(self) -> None:
        for n, m in enumerate(self._members()):
            assert m.failed_attempts <= self.limits.max_failures, f"member {n}: {m.failed_attempts}"
            if m.failed_attempts >= self.limits.max_failures:
                assert m.lock_expires_at is not None, f"member {n} at the threshold, no lock"

    @invariant()
    def sessions_listed_are_the_live_ones(self) -> None:
        now = self.clock.now()
        for n, m in enumerate(self.members):
            listed = {
                x.member_session_id
                for x in self.provider.sessions_get(self.orgs[m.org].org_id, m.member_id)
            }
            live = {x.session_id for x in self.sessions if x.member == n and x.live(now)}
            assert listed == live, (n, listed, live)

    @invariant()
    def no_secret_in_logs_or_at_rest(self) -> None:
        audit = "\n".join(json.dumps(self.provider.audit_log(m.member_id)) for m in self.members)
        logs = "\n".join(
            row[0] for row in self.raw.execute("SELECT data FROM logs WHERE log != 'outbox'")
        )
        docs = "\n".join(row[0] for row in self.raw.execute("SELECT data FROM documents"))
        for name, text in (("audit log", audit), ("logs table", logs), ("documents", docs)):
            tokens = set(_TOKENS.findall(text))
            leaked = [c for c in self.codes if c in tokens]
            assert not leaked, f"code(s) {leaked} in the {name}"
            for secret in self.secrets:
                assert secret not in text, f"a secret ({secret[:4]}…) is in the {name}"
                compact = secret.replace("-", "")
                if compact != secret:
                    assert compact not in text, f"a recovery code is in the {name}"


class LockoutMachine(ProviderMachine):
    """The same with a lockout after 3 wrong codes, so runs reach the lock (and its end)
    often: counting across flows, ISTs and resends, locked refusals, the fresh start."""

    limits = Limits(max_failures=3)


# Each example opens a SQLite file and runs up to `stateful_step_count` provider calls with
# checks; keep the CI profile's thousand examples to a bounded share of the run.
_cap = min(settings().max_examples, 500)
for _machine in (ProviderMachine, LockoutMachine):
    _machine.TestCase.settings = settings(_machine.TestCase.settings, max_examples=_cap)
TestProviderMachine = ProviderMachine.TestCase
TestLockoutMachine = LockoutMachine.TestCase


# ---------------------------------------------------------------- what the machine found
#
# Each was a failing run of the machines above, kept here as a plain test.


def _member_in(kit: Kit, **org: Any) -> tuple[str, str]:
    p = kit.provider
    o = p.organizations_create("Acme", "acme", **({"mfa_policy": "REQUIRED_FOR_ALL"} | org))
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    return o.organization_id, p.passwords_migrate(
        o.organization_id, "a@x.com", hashed, "bcrypt"
    ).member_id


def _ist(kit: Kit, org_id: str) -> str:
    return kit.provider.passwords_authenticate(org_id, "a@x.com", "pw").intermediate_session_token


def _error(fn: Callable[..., Any], *args: Any, **kw: Any) -> str:
    try:
        fn(*args, **kw)
    except MfaError as exc:
        return exc.error_type
    raise AssertionError("no error")


def test_an_ist_from_before_the_member_enrolled_cannot_replace_the_new_factor(kit: Kit) -> None:
    """An attacker with the password logs in (IST A); the member then logs in and enrolls
    a phone (IST B). IST A's flow still had "no factor" in its snapshot, and used to let
    the attacker enroll their own phone over the member's, from the password alone."""
    p = kit.provider
    org_id, member_id = _member_in(kit)
    attacker = _ist(kit, org_id)
    member = _ist(kit, org_id)
    p.otps_sms_send(
        org_id, member_id, mfa_phone_number=PHONES[0][0], intermediate_session_token=member
    )
    p.otps_sms_authenticate(
        org_id, member_id, kit.last_code(PHONES[0][0]), intermediate_session_token=member
    )
    kit.clock.advance(60)
    err = _error(
        p.otps_sms_send,
        org_id,
        member_id,
        mfa_phone_number=PHONES[1][0],
        intermediate_session_token=attacker,
    )
    assert err == "unauthorized_action"
    assert not kit.outbox.messages(kind="sms", to=PHONES[1][0])
    assert _error(p.totps_create, org_id, member_id, intermediate_session_token=attacker) in (
        "intermediate_session_not_found",  # the stale flow was aborted
        "unauthorized_action",
    )
    assert p.members_get(org_id, member_id).mfa_phone_number == PHONES[0][0]
    flows = [r for r in p.audit_log(member_id) if r.get("event") == "aborted"]
    assert flows and flows[0]["dest"] == "failed"


def test_an_ist_from_before_the_member_enrolled_cannot_finish_a_pending_enrollment(
    kit: Kit,
) -> None:
    """The same race with the attacker's code already sent: the answer is refused too."""
    p = kit.provider
    org_id, member_id = _member_in(kit)
    attacker = _ist(kit, org_id)
    created = p.totps_create(org_id, member_id, intermediate_session_token=attacker)
    assert created.totp is not None
    member = _ist(kit, org_id)
    p.otps_sms_send(
        org_id, member_id, mfa_phone_number=PHONES[0][0], intermediate_session_token=member
    )
    p.otps_sms_authenticate(
        org_id, member_id, kit.last_code(PHONES[0][0]), intermediate_session_token=member
    )
    code = p.totp.code_at(created.totp["secret"], kit.clock.now())
    err = _error(p.totps_authenticate, org_id, member_id, code, intermediate_session_token=attacker)
    assert err == "unauthorized_action"
    assert p.members_get(org_id, member_id).totp_registration_id == ""


def test_a_session_flow_from_before_a_factor_change_starts_afresh(kit: Kit) -> None:
    """A session's pending flow whose snapshot went stale is replaced by a fresh one, which
    judges the member as they are now (here: an enrolled member, a session without a
    second factor, a new number: refused)."""
    p = kit.provider
    org_id, member_id = _member_in(kit, mfa_policy="OPTIONAL")
    login = p.passwords_authenticate(org_id, "a@x.com", "pw")
    p.otps_sms_send(
        org_id, member_id, mfa_phone_number=PHONES[1][0], session_token=login.session_token
    )
    other = p.passwords_authenticate(org_id, "a@x.com", "pw")
    p.otps_sms_send(
        org_id, member_id, mfa_phone_number=PHONES[0][0], session_token=other.session_token
    )
    p.otps_sms_authenticate(
        org_id, member_id, kit.last_code(PHONES[0][0]), session_token=other.session_token
    )
    sent = len(kit.outbox.messages(kind="sms", to=PHONES[1][0]))
    err = _error(
        p.otps_sms_send,
        org_id,
        member_id,
        mfa_phone_number=PHONES[1][0],
        session_token=login.session_token,
    )
    assert err == "unauthorized_action"
    assert len(kit.outbox.messages(kind="sms", to=PHONES[1][0])) == sent
    assert p.members_get(org_id, member_id).mfa_phone_number == PHONES[0][0]
