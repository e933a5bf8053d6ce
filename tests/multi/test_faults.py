"""Two server processes on one PostgreSQL + Redis: an instance killed mid-flow, Redis and
PostgreSQL connections lost, Redis flow state lost. Logins fail closed and then recover.

The shared servers are never restarted: connections are killed from the server side, and
"down" is a proxy in between that a test takes down and brings back.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

import httpx
import pytest
import redis
import stytch
from stytch.core.response_base import StytchError

from tests.stores import backends
from tests.stores.proxy import TcpProxy

from .conftest import Launch, Stores, terminate_backends
from .flows import Api, Login, Refused, finish_login, new_phone, park_login, wrong_code
from .instances import Instance

T = TypeVar("T")


def sdk(instance: Instance) -> stytch.B2BClient:
    env = instance.env
    return stytch.B2BClient(
        env["MFA_FSM_PROJECT_ID"], env["MFA_FSM_SECRET"], environment=instance.base_url
    )


def assert_unavailable(call: Callable[[], object]) -> None:
    """The call answers 503 `service_unavailable` in Stytch's shape, within seconds."""
    started = time.monotonic()
    with pytest.raises(Refused) as refused:
        call()
    assert (refused.value.status, refused.value.error_type) == (503, "service_unavailable")
    assert time.monotonic() - started < 5


class Failover:
    """Runs each step on the first instance until it stops answering, then on the next."""

    def __init__(self, apis: list[Api]) -> None:
        self.apis = apis
        self.switched = False

    def do(self, step: Callable[[Api], T]) -> T:
        while True:
            try:
                return step(self.apis[0])
            except httpx.TransportError:
                assert len(self.apis) > 1, "no instance left"
                self.apis = self.apis[1:]
                self.switched = True

    def login(self, org_id: str) -> tuple[str, str]:
        """A whole login; returns (member id, session token).

        A step whose answer was lost with a killed instance may have been done anyway (the
        IST spent, or the phone enrolled): the instance left refuses to repeat it, and the
        login starts over once, as an enrolled member's login if the enrollment went through.
        """
        member_id, email = self.do(lambda api: api.migrate(org_id))
        for _ in range(3):
            try:
                return member_id, self._attempt(org_id, member_id, email)
            except Refused as refused:
                if not self.switched or refused.status >= 500:
                    raise
        raise AssertionError("the login did not complete after the failover")

    def _attempt(self, org_id: str, member_id: str, email: str) -> str:
        ist, phone = self.do(lambda api: api.password_login(org_id, email))
        if phone is None:  # not enrolled yet: enroll a new phone
            phone = new_phone()
            self.do(lambda api: api.send(org_id, member_id, phone, ist))
        code = self.do(lambda api: api.last_code(phone))
        return self.do(lambda api: api.sms_authenticate(org_id, member_id, code, ist))


def test_sigkill_one_instance_mid_flows_and_finish_every_flow_on_the_other(
    launch: Launch, stores: Stores
) -> None:
    a, b = launch(stores.url)
    org_id = a.api.create_org()
    parked = [park_login(a.api, org_id) for _ in range(6)]

    finished: list[tuple[str, str, bool]] = []
    errors: list[BaseException] = []
    killed = threading.Event()

    def keep_logging_in() -> None:
        # Each thread has its own connections: httpx clients are not shared across threads.
        own = [Api(i.base_url, *_credentials(i)) for i in (a, b)]
        try:
            while not killed.is_set():
                failover = Failover(own)
                member_id, token = failover.login(org_id)
                finished.append((member_id, token, failover.switched))
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            for api in own:
                api.close()

    threads = [threading.Thread(target=keep_logging_in) for _ in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(finished) < 6 and time.monotonic() < deadline and not errors:
        time.sleep(0.02)
    a.kill()  # SIGKILL while the threads' requests are in flight
    killed.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a login never finished"
    assert not errors, errors
    assert len(finished) >= 6
    assert any(switched for _, _, switched in finished), "no login was cut by the kill"

    client = sdk(b)
    tokens: dict[str, str] = {}
    for login in parked:
        code = b.api.last_code(login.phone)  # the outbox is in the shared store
        done = client.otps.sms.authenticate(
            organization_id=org_id, member_id=login.member_id, code=code,
            intermediate_session_token=login.ist,
        )  # fmt: skip
        assert done.member_session is not None and done.session_token
        tokens[done.session_token] = login.member_id
        with pytest.raises(StytchError) as replayed:  # none twice
            client.otps.sms.authenticate(
                organization_id=org_id, member_id=login.member_id, code=code,
                intermediate_session_token=login.ist,
            )  # fmt: skip
        assert replayed.value.details.status_code in (400, 401, 404)
    assert len(tokens) == len(parked)

    (c,) = launch(stores.url, 1)  # a replacement instance takes the killed one's place
    for token, member_id in tokens.items():
        checked = sdk(c).sessions.authenticate(session_token=token)
        assert checked.member_session.member_id == member_id
    for login in parked:
        assert len(c.api.live_sessions(org_id, login.member_id)) == 1
    for member_id, token, _ in finished:
        assert c.api.session_member(token) == member_id
    jwks = f"/v1/b2b/sessions/jwks/{c.env['MFA_FSM_PROJECT_ID']}"
    assert c.api.call("GET", jwks)["keys"] == b.api.call("GET", jwks)["keys"]  # one signing key
    assert len({token for _, token, _ in finished}) == len(finished)


def _credentials(instance: Instance) -> tuple[str, str]:
    return instance.env["MFA_FSM_PROJECT_ID"], instance.env["MFA_FSM_SECRET"]


def test_redis_connections_cut_mid_run_calls_still_succeed(
    launch: Launch, stores_behind_redis_proxy: Stores, redis_proxy: TcpProxy
) -> None:
    a, b = launch(stores_behind_redis_proxy.url)
    org_id = a.api.create_org()
    parked = [park_login(a.api, org_id) for _ in range(3)]
    redis_proxy.down()  # every Redis connection of both instances is cut...
    redis_proxy.up()  # ...and Redis answers again at once
    for login in parked:
        token = finish_login(b.api, login)  # one retry on a new connection
        assert a.api.session_member(token) == login.member_id
    assert finish_login(a.api, park_login(b.api, org_id))


def test_redis_outage_fails_closed_with_503_then_the_same_logins_complete(
    launch: Launch, stores_behind_redis_proxy: Stores, redis_proxy: TcpProxy
) -> None:
    a, b = launch(stores_behind_redis_proxy.url)
    org_id = a.api.create_org()
    parked = [park_login(a.api, org_id) for _ in range(3)]
    codes = [b.api.last_code(login.phone) for login in parked]
    fresh_member, fresh_email = a.api.migrate(org_id)
    redis_proxy.down()
    for login, code in zip(parked, codes, strict=True):
        _every_step_unavailable(a, b, login, code)
    assert_unavailable(lambda: b.api.password(org_id, fresh_email))
    with pytest.raises(StytchError) as seen_by_sdk:
        sdk(a).otps.sms.authenticate(
            organization_id=org_id, member_id=parked[0].member_id, code=codes[0],
            intermediate_session_token=parked[0].ist,
        )  # fmt: skip
    assert seen_by_sdk.value.details.status_code == 503
    assert seen_by_sdk.value.details.error_type == "service_unavailable"
    for login in parked:  # no session came out of the outage
        assert a.api.live_sessions(org_id, login.member_id) == []

    redis_proxy.up()
    for n, (login, code) in enumerate(zip(parked, codes, strict=True)):
        instance = (a, b)[n % 2]
        token = instance.api.sms_authenticate(login.org_id, login.member_id, code, login.ist)
        assert (a, b)[1 - n % 2].api.session_member(token) == login.member_id
        assert len(a.api.live_sessions(org_id, login.member_id)) == 1
    fresh = park_login(b.api, org_id)
    assert fresh_member != fresh.member_id and finish_login(a.api, fresh)


def _every_step_unavailable(a: Instance, b: Instance, login: Login, code: str) -> None:
    ids = (login.org_id, login.member_id)
    assert_unavailable(lambda: b.api.sms_authenticate(*ids, wrong_code(code), login.ist))
    assert_unavailable(lambda: a.api.sms_authenticate(*ids, code, login.ist))
    assert_unavailable(lambda: b.api.send(*ids, login.phone, login.ist))


def test_redis_flow_state_lost_pending_logins_fail_closed_and_new_ones_work(
    launch: Launch, stores: Stores
) -> None:
    a, b = launch(stores.url)
    org_id = a.api.create_org()
    parked = [park_login(a.api, org_id) for _ in range(2)]
    codes = [b.api.last_code(login.phone) for login in parked]
    with redis.Redis.from_url(backends.REDIS_URL) as client:
        assert client.keys(f"{stores.namespace}:*")
    backends.drop_namespace(stores.namespace)  # Redis restarted without its data
    for login, code in zip(parked, codes, strict=True):
        with pytest.raises(Refused) as refused:
            b.api.sms_authenticate(login.org_id, login.member_id, code, login.ist)
        assert refused.value.status < 500
        assert refused.value.error_type == "intermediate_session_not_found"
        assert a.api.live_sessions(org_id, login.member_id) == []
        again = Login(login.org_id, login.member_id, login.email, login.phone, "")
        again.ist = b.api.password(org_id, login.email)
        a.api.send(org_id, login.member_id, login.phone, again.ist)
        token = finish_login(b.api, again)
        assert a.api.session_member(token) == login.member_id


def test_postgres_connections_killed_between_calls_are_replaced_by_the_pools(
    launch: Launch, stores: Stores
) -> None:
    a, b = launch(stores.url)
    org_id = a.api.create_org()
    parked = [park_login(a.api, org_id) for _ in range(3)]
    codes = [b.api.last_code(login.phone) for login in parked]
    assert terminate_backends(stores) >= 2  # at least one pooled connection per instance
    for login, code in zip(parked, codes, strict=True):
        token = b.api.sms_authenticate(login.org_id, login.member_id, code, login.ist)
        assert a.api.session_member(token) == login.member_id


def test_postgres_outage_answers_503_writes_nothing_and_recovers(
    launch: Launch, stores_behind_postgres_proxy: Stores, postgres_proxy: TcpProxy
) -> None:
    a, b = launch(stores_behind_postgres_proxy.url)
    org_id = a.api.create_org()
    login = park_login(a.api, org_id)
    code = b.api.last_code(login.phone)
    slug, email = f"org-{uuid.uuid4().hex[:10]}", f"{uuid.uuid4().hex[:10]}@example.com"
    postgres_proxy.down()
    assert_unavailable(lambda: b.api.create_org(slug))  # two documents: org and its slug
    assert_unavailable(lambda: a.api.migrate(org_id, email))
    assert_unavailable(lambda: b.api.sms_authenticate(org_id, login.member_id, code, login.ist))
    assert_unavailable(lambda: a.api.session_member("not-a-session"))

    postgres_proxy.up()
    with pytest.raises(Refused) as missing:  # neither half of the organization was written
        a.api.get_org(slug)
    assert missing.value.status == 404
    recover = RetryOn503()
    created = recover(lambda: b.api.create_org(slug))  # the slug was never taken
    assert a.api.get_org(slug)["organization_id"] == created
    member_id, _ = recover(lambda: a.api.migrate(org_id, email))
    assert member_id != login.member_id
    token = b.api.sms_authenticate(org_id, login.member_id, code, login.ist)
    assert a.api.session_member(token) == login.member_id
    assert len(b.api.live_sessions(org_id, login.member_id)) == 1


def test_postgres_connections_killed_during_logins_fail_clearly_and_leave_nothing_half_done(
    launch: Launch, stores: Stores
) -> None:
    a, b = launch(stores.url)
    org_id = a.api.create_org()
    retries = [RetryOn503(), RetryOn503()]
    done: list[tuple[str, str]] = []
    errors: list[BaseException] = []
    kills = 0
    storming = threading.Event()
    storming.set()

    def storm() -> None:  # a bounded burst of connection losses while logins run
        nonlocal kills
        while storming.is_set() and kills < 12:
            kills += terminate_backends(stores) > 0
            time.sleep(0.4)

    def log_in(first: Instance, second: Instance, retry: RetryOn503) -> None:
        own = [Api(i.base_url, *_credentials(i)) for i in (first, second)]
        try:
            # Logins until the burst is over, and at least 4 each (45 s at most).
            deadline = time.monotonic() + 45
            while time.monotonic() < deadline and (storming.is_set() or len(done) < 8):
                done.append(_log_in_alternating(own, org_id, retry))
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            for api in own:
                api.close()

    stormer = threading.Thread(target=storm)
    stormer.start()
    workers = [
        threading.Thread(target=log_in, args=(*pair, retry))
        for pair, retry in zip(((a, b), (b, a)), retries, strict=True)
    ]
    for worker in workers:
        worker.start()
    stormer.join(timeout=30)
    storming.clear()
    for worker in workers:
        worker.join(timeout=60)
    assert not errors, errors
    statuses = [status for retry in retries for status in retry.statuses]
    assert set(statuses) <= {200, 404, 503}, statuses  # no 500: every loss is a clear 503
    assert kills >= 6 and statuses.count(503) > 0, "the connection losses never hit a call"
    assert len(done) >= 8
    restarts = [r for retry in retries for r in retry.restarts]
    outage = max(retry.longest_outage for retry in retries)
    print(f"503s: {statuses.count(503)} of {len(statuses)}; restarts: {restarts}; "
          f"longest run of 503s: {outage:.1f} s")  # fmt: skip
    for member_id, token in done:
        assert a.api.session_member(token) == member_id
        # a call that answered 503 wrote nothing: one session per member, not one per try
        assert len(b.api.live_sessions(org_id, member_id)) == 1


class LoginLost(Exception):
    """A retried step was refused after a 503: flow state in Redis had moved on although
    the PostgreSQL part of the call was rolled back. It fails closed; the login restarts."""


class RetryOn503:
    """Retries a call answered 503 (the server rolled the whole call back) for a while."""

    def __init__(self, within: float = 30.0) -> None:
        self.within = within
        self.statuses: list[int] = []
        self.restarts: list[str] = []
        self.longest_outage = 0.0

    def __call__(self, step: Callable[[], T], name: str = "") -> T:
        started = time.monotonic()
        while True:
            try:
                result = step()
                self.statuses.append(200)
                self.longest_outage = max(self.longest_outage, time.monotonic() - started)
                return result
            except Refused as refused:
                self.statuses.append(refused.status)
                if refused.status != 503 and self.statuses[-2:-1] == [503]:
                    raise LoginLost(f"{name}: {refused.error_type}") from refused
                if refused.status != 503 or time.monotonic() - started > self.within:
                    raise
                time.sleep(0.05)


def _log_in_alternating(apis: list[Api], org_id: str, retry: RetryOn503) -> tuple[str, str]:
    """A whole login, each step on the other instance than the one before."""
    first = apis[0]
    member_id, email = retry(lambda: first.migrate(org_id))
    while True:
        try:
            return member_id, _steps_after_migrate(apis, org_id, member_id, email, retry)
        except LoginLost as lost:
            retry.restarts.append(str(lost))


def _steps_after_migrate(
    apis: list[Api], org_id: str, member_id: str, email: str, retry: RetryOn503
) -> str:
    first, second = apis
    phone = new_phone()
    ist = retry(lambda: second.password(org_id, email), "passwords.authenticate")
    retry(lambda: first.send(org_id, member_id, phone, ist), "otps.sms.send")
    code = retry(lambda: second.last_code(phone), "outbox")
    return retry(
        lambda: first.sms_authenticate(org_id, member_id, code, ist), "otps.sms.authenticate"
    )
