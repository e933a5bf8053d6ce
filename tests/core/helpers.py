"""A small driver for walking flows in tests: builds events, checks invariants on every step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mfa_fsm import (
    AuthenticationFactor,
    Engine,
    Event,
    Flow,
    MemberFactors,
    OrgPolicy,
    PrimaryAuthenticated,
    SessionPresented,
    Step,
)
from mfa_fsm._invariants import check_flow, check_step

ORG = "organization-test-07971b06-ac8b-4cdb-9c15-63b17e653931"
MEMBER = "member-test-32fc5024-9c09-4da3-bd2e-c9ce4da9375f"
PHONE = "+14155551234"
TOTP_ID = "member-totp-test-8c5a4a17-7c35-4a2c-a7d0-2e5e0b2f7c11"
T0 = 1_700_000_000.0
PASSWORD = AuthenticationFactor(
    type="password", delivery_method="knowledge", last_authenticated_at=T0
)


def org(**kw: Any) -> OrgPolicy:
    return OrgPolicy(organization_id=ORG, **kw)


def member(**kw: Any) -> MemberFactors:
    return MemberFactors(member_id=MEMBER, **kw)


@dataclass
class Walk:
    """Feeds events to one flow, asserting every invariant after each step."""

    engine: Engine = field(default_factory=Engine)
    flow: Flow = field(default_factory=lambda: Flow(flow_id="flow-1"))
    now: float = T0
    steps: list[Step] = field(default_factory=list)

    def send(self, event: Event) -> Step:
        step = self.engine.handle(self.flow, event)
        check_step(self.flow, event, step, self.engine.limits)
        check_flow(step.flow, self.engine.limits)
        self.flow = step.flow
        self.steps.append(step)
        return step

    def tick(self, seconds: float = 1.0) -> float:
        self.now += seconds
        return self.now

    def login(self, policy: OrgPolicy, factors: MemberFactors, **kw: Any) -> Step:
        return self.send(
            PrimaryAuthenticated(
                at=self.now,
                organization=policy,
                member=factors,
                primary_factor=PASSWORD,
                ist_id="ist-hash-1",
                **kw,
            )
        )

    def present(
        self,
        policy: OrgPolicy,
        factors: MemberFactors,
        intent: str,
        session_factors: tuple[AuthenticationFactor, ...] = (PASSWORD,),
        **kw: Any,
    ) -> Step:
        return self.send(
            SessionPresented(
                at=self.now,
                organization=policy,
                member=factors,
                session_id="session-1",
                session_factors=session_factors,
                intent=intent,
                **kw,
            )
        )

    def ev(self, cls: type[Event], **kw: Any) -> Step:
        fields: dict[str, Any] = {"at": self.tick()}
        if "organization_id" in cls.model_fields:
            fields |= {"organization_id": ORG, "member_id": MEMBER}
        return self.send(cls(**(fields | kw)))
