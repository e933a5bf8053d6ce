"""Attack and failure tests from the security review: each fails when its fix is removed.

Step-up before adding or replacing a factor from a session, a bounded form body, no stored
session for a stranger's visit, a lifetime counted from sign-in, a retired id deleted even
under a parallel save, and a busy or unavailable store answered with a page.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.requests import Request

from mfa_fsm_local._repo import Busy
from mfa_fsm_local._sqlite import SqliteStore
from mfa_fsm_local._store import Conflict, Doc, StoreUnavailable
from mfa_fsm_web._kit import MAX_BODY, _read_capped
from mfa_fsm_web._websession import ANONYMOUS_SECONDS, WebSessions

from .conftest import PHONE, WebKit, alerts

ATTACKER_PHONE = "+14155550000"
NEW_PHONE = "+14155559876"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _phone(kit: WebKit) -> str:
    member = kit.provider.member_by_email("acme", "ada@example.com")
    assert member is not None
    return member.mfa_phone_number


def _web_sessions(kit: WebKit) -> list[tuple[str, float]]:
    db = sqlite3.connect(kit.path)
    rows = db.execute("SELECT key, expires_at FROM documents WHERE collection = 'web_sessions'")
    found = [(str(key), float(expires)) for key, expires in rows]
    db.close()
    return found


# ---------------------------------------------------------------- 1. step-up before adding


def test_a_stale_session_cannot_replace_the_phone_without_a_step_up(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    b = kit.browser()
    kit.enroll_sms(b)
    kit.clock.advance(20 * 60)  # the victim left the tab open; the second factor is old
    attack = b.post("/mfa/enroll/sms", phone=ATTACKER_PHONE)
    assert attack.url.path == "/mfa/challenge"
    assert "Confirm with a second factor before adding or replacing one." in alerts(attack.text)
    assert kit.sms_count(ATTACKER_PHONE) == 0
    assert _phone(kit) == PHONE
    # the member who really holds the phone steps up, comes back and replaces it
    b.post("/mfa/challenge/sms")
    back = b.post("/mfa/code", code=kit.last_code())
    assert back.url.path == "/mfa/enroll/sms"
    b.post("/mfa/enroll/sms", phone=NEW_PHONE)
    done = b.post("/mfa/code", code=kit.last_code(NEW_PHONE))
    assert done.url.path == "/account", alerts(done.text)
    assert _phone(kit) == NEW_PHONE


def test_a_stale_session_cannot_add_totp_to_pass_later_step_ups(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    b = kit.browser()
    kit.enroll_sms(b)
    kit.clock.advance(20 * 60)
    attack = b.post("/mfa/enroll/totp")
    assert attack.url.path == "/mfa/challenge"
    assert 'data-testid="totp-secret"' not in attack.text
    member = kit.provider.member_by_email("acme", "ada@example.com")
    assert member is not None and not member.totp_registration_id
    assert b.post("/sensitive").status_code == 403  # still no fresh factor to show
    assert b.post("/account/remove", method="sms_otp").url.path == "/mfa/challenge"


def test_a_fresh_session_or_a_first_factor_needs_no_step_up(kit: WebKit) -> None:
    kit.member(kit.org())  # OPTIONAL: a password session may add its first factor any time
    b = kit.browser()
    kit.sign_in(b)
    kit.clock.advance(20 * 60)
    assert b.post("/mfa/enroll/sms", phone=PHONE).url.path == "/mfa/code"
    assert b.post("/mfa/code", code=kit.last_code()).url.path == "/account"
    kit.enroll_totp(b)  # right after a verified code: fresh, no detour


# ---------------------------------------------------------------- 2. bounded form body


def test_an_oversized_form_is_refused_before_it_is_parsed(kit: WebKit) -> None:
    kit.member(kit.org())
    b = kit.browser()
    b.get("/")
    fields = "&".join(f"f{i}=x" for i in range(MAX_BODY // 4))
    big = b.client.post("/login", content=f"csrf_token={b.token}&{fields}", headers=FORM)
    assert big.status_code == 413 and "Form too large" in big.text
    assert big.headers["cache-control"] == "no-store"

    def chunked() -> Iterator[bytes]:  # no Content-Length: the counted stream stops it
        yield f"csrf_token={b.token}".encode()
        for _ in range(100):
            yield b"&a=" + b"x" * 1000

    streamed = b.client.post("/login", content=chunked(), headers=FORM)
    assert streamed.status_code == 413
    assert kit.sign_in(b).url.path == "/account"  # ordinary forms still work


def test_a_declared_oversized_body_is_refused_without_reading_it() -> None:
    async def receive() -> dict[str, object]:
        raise AssertionError("the body was read")

    def request(length: str) -> Request:
        headers = [(b"content-length", length.encode())]
        return Request({"type": "http", "method": "POST", "headers": headers}, receive)

    assert asyncio.run(_read_capped(request(str(MAX_BODY + 1)))) is None
    assert asyncio.run(_read_capped(request("not-a-number"))) is None


# ---------------------------------------------------------------- 3./4. session records


def test_strangers_leave_no_session_records_behind(kit: WebKit) -> None:
    kit.member(kit.org())
    b = kit.browser()
    for _ in range(20):
        b.client.cookies.clear()
        assert b.client.post("/login", data={"email": "x"}).status_code == 403
        b.client.cookies.clear()
        assert b.client.get("/authenticate").status_code == 400
    assert _web_sessions(kit) == []
    start = kit.clock.now()
    b.client.cookies.clear()
    login = b.get("/")  # a form is handed out: its token must be kept, but not for long
    (_, expires), *rest = _web_sessions(kit)
    assert not rest and expires <= start + ANONYMOUS_SECONDS
    assert f"Max-Age={int(ANONYMOUS_SECONDS)}" in login.headers["set-cookie"]
    signed_in = kit.sign_in(b)
    (_, expires), *rest = _web_sessions(kit)
    assert not rest and expires == start + kit.settings.web_session_seconds
    assert "Max-Age=43200" in signed_in.history[0].headers["set-cookie"]


def test_the_session_lifetime_counts_from_sign_in(kit: WebKit) -> None:
    kit.member(kit.org())
    b = kit.browser(web_session_seconds=3600.0)
    b.get("/")
    kit.clock.advance(25 * 60)
    assert kit.sign_in(b).url.path == "/account"
    kit.clock.advance(50 * 60)  # 75 minutes after the first visit, 50 after sign-in
    assert b.get("/account").url.path == "/account"
    kit.clock.advance(11 * 60)
    assert b.get("/account").url.path == "/"


# ---------------------------------------------------------------- 5. drop under a race


class RacingStore(SqliteStore):
    """A parallel request saves the web session between `drop`'s read and its delete."""

    races = 1

    def delete(self, collection: str, key: str, expected_version: int) -> None:
        if self.races:
            self.races -= 1
            doc = self.get(collection, key)
            assert isinstance(doc, Doc)
            self.put(collection, key, doc.data, doc.version, None)
        super().delete(collection, key, expected_version)


def test_a_retired_session_id_dies_even_if_a_parallel_request_saved_it(tmp_path: Path) -> None:
    store = RacingStore(tmp_path / "race.db")
    sessions = WebSessions(store, "web_sessions", 3600.0)
    cookie_id = sessions.create(sessions.new(0.0))
    sessions.drop(cookie_id)
    assert sessions.load(cookie_id, 0.0) is None
    key = hashlib.sha256(cookie_id.encode()).hexdigest()
    assert store.get("web_sessions", key) is None
    store.races = 100  # a record that never stops changing: bounded, and said so
    again = sessions.create(sessions.new(0.0))
    with pytest.raises(Conflict):
        sessions.drop(again)
    store.close()


# ---------------------------------------------------------------- 6. busy or unavailable


@pytest.mark.parametrize(
    ("error", "status", "says"),
    [
        (Busy("member record busy"), 429, "Wait a moment and try again."),
        (StoreUnavailable("database is locked"), 503, "try again shortly"),
        (RuntimeError("provider bug"), 500, "Something went wrong on our side."),
    ],
)
def test_store_trouble_is_a_clear_page_and_the_member_stays_signed_in(
    kit: WebKit, monkeypatch: pytest.MonkeyPatch, error: Exception, status: int, says: str
) -> None:
    kit.member(kit.org())
    b = kit.browser()
    kit.sign_in(b)

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(kit.provider, "sessions_authenticate", fail)
    monkeypatch.setattr(kit.provider, "passwords_authenticate", fail)
    page = b.get("/account")
    assert page.status_code == status and says in page.text
    assert "Traceback" not in page.text and str(error) not in page.text
    assert kit.sign_in(kit.browser()).status_code == status
    monkeypatch.undo()
    assert b.get("/account").url.path == "/account"  # the session token was not forgotten


class DownStore(SqliteStore):
    def get(self, collection: str, key: str) -> Doc | None:
        raise StoreUnavailable("disk I/O error")


def test_an_unavailable_session_store_is_a_503_page(kit: WebKit, tmp_path: Path) -> None:
    down = DownStore(tmp_path / "down.db")
    b = kit.browser(session_store=down)
    b.client.cookies.set("mfa_fsm_web", "some-id")
    page = b.client.get("/")
    assert page.status_code == 503 and "try again shortly" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    down.close()
