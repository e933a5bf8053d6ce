"""Attack tests: each fails if its protection is removed (CSRF, cookie flags, rotation,
fixation, secrets kept out of URLs, pages and the database in usable form)."""

from __future__ import annotations

import re
import sqlite3

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from mfa_fsm_web import create_app

from .conftest import PASSWORD, PHONE, Browser, WebKit, alerts


def _set_cookie(b: Browser) -> str:
    assert b.last is not None
    headers = [r.headers.get("set-cookie", "") for r in (*b.last.history, b.last)]
    found = [h for h in headers if h.startswith("mfa_fsm_web=")]
    assert found, "no session cookie was set"
    return found[-1]


def test_every_form_carries_a_csrf_token(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    b = kit.browser()
    pages = [b.get("/"), kit.sign_in(b), b.get("/mfa/enroll/sms")]
    pages.append(b.post("/mfa/enroll/sms", phone=PHONE))
    pages.append(b.post("/mfa/code", code=kit.last_code()))
    pages += [b.get("/protected"), b.get("/sensitive")]
    for page in pages:
        forms = re.findall(r"<form\b.*?</form>", page.text, flags=re.S)
        assert forms, page.url
        for form in forms:
            assert 'method="post"' in form and 'name="csrf_token"' in form, form


def test_post_without_or_with_a_foreign_csrf_token_is_refused(kit: WebKit) -> None:
    kit.member(kit.org())
    victim, attacker = kit.browser(), kit.browser()
    victim.get("/")
    attacker.get("/")
    creds = {"organization": "acme", "email": "ada@example.com", "password": PASSWORD}
    missing = victim.client.post("/login", data=creds)
    assert missing.status_code == 403 and "Form refused" in missing.text
    foreign = victim.client.post("/login", data=creds | {"csrf_token": attacker.token})
    assert foreign.status_code == 403
    forged = victim.client.post("/login", data=creds | {"csrf_token": victim.token[:-1] + "x"})
    assert forged.status_code == 403
    assert victim.get("/account").url.path == "/"  # still signed out
    assert victim.post("/login", **creds).url.path == "/account"
    token_before = victim.token
    fresh = victim.client.post("/logout", data={"csrf_token": attacker.token})
    assert fresh.status_code == 403 and victim.get("/account").url.path == "/account"
    assert token_before != attacker.token


def test_cookie_is_httponly_samesite_and_secure_under_https(kit: WebKit) -> None:
    plain = kit.browser()
    plain.get("/")
    cookie = _set_cookie(plain).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    tls = kit.browser(base_url="https://testserver")
    tls.get("/")
    assert "; secure" in _set_cookie(tls).lower()
    forced = kit.browser(secure_cookies=True)
    forced.get("/")
    assert "; secure" in _set_cookie(forced).lower()


def test_session_id_rotates_at_login_and_at_mfa_and_old_ids_are_dead(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    b = kit.browser()
    b.get("/")
    anonymous = b.cookie
    kit.sign_in(b)
    with_ist = b.cookie
    b.post("/mfa/enroll/sms", phone=PHONE)
    b.post("/mfa/code", code=kit.last_code())
    with_session = b.cookie
    assert len({anonymous, with_ist, with_session}) == 3
    for old in (anonymous, with_ist):
        stale = TestClient(b.client.app, cookies={"mfa_fsm_web": old or ""})
        assert stale.get("/account").url.path == "/"
        assert stale.get("/mfa/code").url.path == "/"
        stale.close()


def test_a_fixated_cookie_gains_nothing_when_the_victim_signs_in(kit: WebKit) -> None:
    kit.member(kit.org())
    attacker = kit.browser()
    attacker.get("/")
    planted = attacker.cookie
    victim = TestClient(attacker.client.app, cookies={"mfa_fsm_web": planted or ""})
    page = victim.get("/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    creds = {"organization": "acme", "email": "ada@example.com", "password": PASSWORD}
    assert victim.post("/login", data=creds | {"csrf_token": token.group(1)}).url.path == (
        "/account"
    )
    assert attacker.get("/account").url.path == "/"  # the planted id was retired
    victim.close()


def test_no_token_code_or_secret_in_urls_pages_or_the_cookie(kit: WebKit) -> None:
    kit.member(kit.org(mfa_policy="REQUIRED_FOR_ALL"))
    b = kit.browser()
    kit.sign_in(b)
    b.post("/mfa/enroll/sms", phone=PHONE)
    code = kit.last_code()
    db = sqlite3.connect(kit.path)

    def stored(field: str) -> str:
        rows = db.execute("SELECT data FROM documents WHERE collection = 'web_sessions'")
        found = re.findall(rf'"{field}":"([^"]+)"', " ".join(r[0] for r in rows))
        assert found, field
        return str(found[-1])

    ist = stored("intermediate_session_token")
    page = b.post("/mfa/code", code=code)
    session_token = stored("session_token")
    secrets = [ist, session_token, code, PASSWORD]
    for url in b.history:
        assert not any(s in url for s in secrets), url
    assert not any(s in page.text for s in secrets)
    cookie = b.cookie or ""
    assert cookie not in secrets and len(cookie) >= 40
    keys = [k for (k,) in db.execute("SELECT key FROM documents WHERE collection='web_sessions'")]
    assert cookie not in keys  # stored under a hash: a database reader cannot ride the cookie
    db.close()


def test_security_headers_on_every_page(kit: WebKit) -> None:
    b = kit.browser()
    for page in (b.get("/"), b.get("/account"), b.client.post("/login", data={})):
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "script-src" not in page.headers["content-security-policy"]  # none at all


def test_bad_input_is_a_clear_4xx_never_a_500(kit: WebKit) -> None:
    kit.member(kit.org())
    b = kit.browser()
    b.get("/")
    long = b.post("/login", organization="acme", email="a" * 600 + "@x.io", password="x")
    assert long.status_code == 400 and "too long" in long.text
    upload = b.client.post(
        "/login", data={"csrf_token": b.token}, files={"f": ("a.txt", b"x", "text/plain")}
    )
    assert upload.status_code == 400
    weird = b.post("/mfa/code", code="１２３４５６")
    assert weird.status_code in (200, 400)
    junk_cookie = TestClient(b.client.app, cookies={"mfa_fsm_web": "x" * 5000})
    assert junk_cookie.get("/").status_code == 200
    junk_cookie.close()
    kit.sign_in(b)
    assert b.post("/account/remove", method="../../etc").status_code == 400
    assert b.post("/account/default").status_code == 400


def test_mounted_under_a_prefix_links_forms_and_cookie_follow(kit: WebKit) -> None:
    kit.member(kit.org())
    outer = Starlette(routes=[Mount("/auth", app=create_app(kit.provider, settings=kit.settings))])
    client = TestClient(outer)
    page = client.get("/auth/")
    assert page.status_code == 200
    assert 'action="/auth/login"' in page.text and 'href="/auth/static/style.css"' in page.text
    assert "Path=/auth/" in page.headers["set-cookie"]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    done = client.post(
        "/auth/login",
        data={
            "csrf_token": token.group(1),
            "organization": "acme",
            "email": "ada@example.com",
            "password": PASSWORD,
        },
    )
    assert done.url.path == "/auth/account" and "Signed in." in alerts(done.text)
    assert client.get("/auth/static/style.css").status_code == 200
    client.close()


def test_the_dev_outbox_exists_only_when_configured(kit: WebKit) -> None:
    production = kit.browser(outbox=None)
    assert production.get("/dev/outbox").status_code == 404
    assert "Dev outbox" not in production.get("/").text
    dev = kit.browser()
    assert dev.get("/dev/outbox").status_code == 200


def test_every_post_route_refuses_a_missing_token(kit: WebKit) -> None:
    from mfa_fsm_web._app import ROUTES

    kit.member(kit.org())
    b = kit.browser()
    kit.sign_in(b)
    posts = sorted({path for path, _, methods in ROUTES if "POST" in methods})
    assert len(posts) >= 15
    for path in posts:
        refused = b.client.post(path, data={"code": "123456", "method": "totp"})
        assert refused.status_code == 403, path
    assert b.get("/account").url.path == "/account"  # nothing happened to the session


def test_every_page_shows_the_flow_state(kit: WebKit) -> None:
    from mfa_fsm_web._app import ROUTES

    kit.member(kit.org())
    b = kit.browser()
    kit.sign_in(b)
    for path in sorted({path for path, _, methods in ROUTES if "GET" in methods}):
        page = b.get(path)
        assert page.status_code < 500, path
        assert 'data-testid="current-state"' in page.text, path
        assert 'class="flow"' in page.text, path


def test_a_web_session_expires(kit: WebKit) -> None:
    kit.member(kit.org())
    b = kit.browser(web_session_seconds=60.0)
    kit.sign_in(b)
    kit.clock.advance(61)
    assert b.get("/account").url.path == "/"


def test_parallel_requests_of_one_browser_never_fail(kit: WebKit) -> None:
    from concurrent.futures import ThreadPoolExecutor

    kit.member(kit.org())
    b = kit.browser()
    kit.sign_in(b)
    tabs = [TestClient(b.client.app, cookies={"mfa_fsm_web": b.cookie or ""}) for _ in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        pages = list(pool.map(lambda tab: tab.get("/account"), tabs * 3))
    for tab in tabs:
        tab.close()
    assert [p.status_code for p in pages] == [200] * 18
    assert all(p.url.path == "/account" for p in pages)
