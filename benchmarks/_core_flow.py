"""The benchmarked flow's inputs and our engine running it, shared by every contender.

The id strings come from a pre-generated pool (making uuids is not using our API); the
four pydantic events are built by `events_for`, inside every timed loop unless a row says
"pre-built".
"""

from __future__ import annotations

import gc
import secrets
import tracemalloc
import uuid
from typing import NamedTuple

from mfa_fsm import (
    AuthenticationFactor,
    Engine,
    FactorVerified,
    Flow,
    MemberFactors,
    Method,
    MethodChosen,
    MfaPolicy,
    OrgPolicy,
    PrimaryAuthenticated,
    SmsSent,
    Step,
)
from mfa_fsm import _table as table

T0 = 1_700_000_000.0
PHONE = "+14155551234"
EVENTS_PER_FLOW = 4
ID_POOL = 1024  # distinct id sets, cycled through by every loop

START, PRIMARY_DONE, ENROLLING_SMS, ENROLLING_TOTP, CHALLENGED, AUTHENTICATED, FAILED = (
    table.START,
    table.PRIMARY_DONE,
    table.ENROLLING_SMS,
    table.ENROLLING_TOTP,
    table.CHALLENGED,
    table.AUTHENTICATED,
    table.FAILED,
)
PA, MC, SENT, OK = (
    PrimaryAuthenticated.kind,
    MethodChosen.kind,
    SmsSent.kind,
    FactorVerified.kind,
)


# ------------------------------------------------------------------ inputs


class Ids(NamedTuple):
    flow_id: str
    organization_id: str
    member_id: str
    ist_id: str


def new_ids() -> Ids:
    """One flow's ids, as long as Stytch's (the IST id is 44 characters)."""
    return Ids(
        flow_id=str(uuid.uuid4()),
        organization_id=f"organization-test-{uuid.uuid4()}",
        member_id=f"member-test-{uuid.uuid4()}",
        ist_id=secrets.token_urlsafe(33),
    )


POOL: list[Ids] = [new_ids() for _ in range(ID_POOL)]
assert len(POOL[0].ist_id) == 44


class FlowEvents(NamedTuple):
    primary: PrimaryAuthenticated
    chosen: MethodChosen
    sent: SmsSent
    verified: FactorVerified


def events_for(ids: Ids) -> FlowEvents:
    """The four events of the flow, built the way an adapter builds them."""
    org, member = ids.organization_id, ids.member_id
    return FlowEvents(
        PrimaryAuthenticated(
            at=T0,
            organization=OrgPolicy(organization_id=org, mfa_policy=MfaPolicy.REQUIRED_FOR_ALL),
            member=MemberFactors(member_id=member),
            primary_factor=AuthenticationFactor(
                type="magic_link", delivery_method="email", last_authenticated_at=T0
            ),
            ist_id=ids.ist_id,
        ),
        MethodChosen(
            at=T0 + 5,
            organization_id=org,
            member_id=member,
            method=Method.SMS_OTP,
            phone_number=PHONE,
        ),
        SmsSent(
            at=T0 + 6,
            organization_id=org,
            member_id=member,
            phone_number=PHONE,
            code_expires_at=T0 + 126,
        ),
        FactorVerified(
            at=T0 + 30,
            organization_id=org,
            member_id=member,
            method=Method.SMS_OTP,
            factor_id=PHONE,
        ),
    )


PREBUILT: list[FlowEvents] = [events_for(ids) for ids in POOL]

# ------------------------------------------------------------------ ours

ENGINE = Engine()


def ours_flow(engine: Engine, ids: Ids, ev: FlowEvents) -> Step:
    step = engine.start(ids.flow_id, ev.primary)
    step = engine.handle(step.flow, ev.chosen)
    step = engine.handle(step.flow, ev.sent)
    return engine.handle(step.flow, ev.verified)


def run_ours(n: int) -> None:
    engine, pool = ENGINE, POOL
    for i in range(n):
        ids = pool[i % ID_POOL]
        ours_flow(engine, ids, events_for(ids))


def run_ours_prebuilt(n: int) -> None:
    engine, pool, pre = ENGINE, POOL, PREBUILT
    for i in range(n):
        ours_flow(engine, pool[i % ID_POOL], pre[i % ID_POOL])


def run_events_only(n: int) -> None:
    pool = POOL
    for i in range(n):
        events_for(pool[i % ID_POOL])


# ------------------------------------------------------------------ memory and size


def in_flight(ids: Ids) -> Flow:
    ev = events_for(ids)
    step = ENGINE.start(ids.flow_id, ev.primary)
    step = ENGINE.handle(step.flow, ev.chosen)
    return ENGINE.handle(step.flow, ev.sent).flow


def memory_per_flow(n: int) -> float:
    """Bytes per in-flight flow (waiting in enrolling_sms), ids included, by tracemalloc."""
    in_flight(new_ids())  # warm every cache first
    keep: list[Flow | None] = [None] * n
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        keep[i] = in_flight(new_ids())  # fresh id strings: a stored flow owns them
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert all(f is not None and f.state == ENROLLING_SMS for f in keep)
    return (after - before) / n


def json_sizes() -> tuple[int, int]:
    ids = new_ids()
    live = in_flight(ids)
    done = ENGINE.handle(live, events_for(ids).verified).flow
    assert live.state == ENROLLING_SMS and done.state == AUTHENTICATED
    return len(live.to_json().encode()), len(done.to_json().encode())
