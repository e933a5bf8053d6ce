"""`mfa-fsm demo`: a real process that seeds, prints how to sign in, shows codes and links,
restarts on its own data, and keeps magic-link tokens out of its access log."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from mfa_fsm_cli.demo import DEMO_ORGS, DEMO_PASSWORD

from .demo_process import running_demo

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _post(client: httpx.Client, path: str, page: httpx.Response, **data: str) -> httpx.Response:
    token = CSRF.search(page.text)
    assert token is not None, page.text
    return client.post(path, data={"csrf_token": token.group(1)} | data)


def test_demo_seeds_prints_credentials_and_restarts_on_the_same_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for run in range(2):
        with running_demo(data, tmp_path / f"run{run}.log") as demo:
            out = demo.wait_for_output("press Ctrl+C")
            for org in DEMO_ORGS:
                for email in org.members:
                    assert re.search(rf"{org.slug}\s+{re.escape(email)}\s+{DEMO_PASSWORD}", out)
            assert f"Open {demo.url}/" in out and f"{demo.url}/dev/outbox" in out
            page = httpx.get(demo.url + "/")
            assert page.status_code == 200 and "Sign in" in page.text
        assert "Traceback" not in demo.output()
    assert (data / "mfa.db").exists()


def test_demo_shows_codes_and_links_but_logs_no_token(tmp_path: Path) -> None:
    with (
        running_demo(tmp_path / "data", tmp_path / "demo.log") as demo,
        httpx.Client(base_url=demo.url, follow_redirects=True) as client,
    ):
        home = client.get("/")
        choice = _post(
            client,
            "/login",
            home,
            organization="acme-required",
            email="ada@acme.example",
            password=DEMO_PASSWORD,
        )
        assert choice.url.path == "/mfa/enroll"
        code_page = _post(client, "/mfa/enroll/sms", choice, phone="+14155550199")
        out = demo.wait_for_output("[outbox] SMS to +14155550199")
        code = re.search(r"\[outbox\] SMS to \+14155550199: code (\d{6})", out)
        assert code is not None
        outbox = client.get("/dev/outbox")
        assert code.group(1) in outbox.text
        account = _post(client, "/mfa/code", code_page, code=code.group(1))
        assert account.url.path == "/account"

        home = client.get("/")
        sent = _post(
            client,
            "/login/magic-link",
            _post(client, "/logout", home),
            organization="initech-optional",
            email="linus@initech.example",
        )
        assert sent.status_code == 200
        out = demo.wait_for_output("[outbox] email to linus@initech.example")
        link = re.search(r"email to linus@initech\.example: (\S+)", out)
        assert link is not None
        token = re.search(r"token=([A-Za-z0-9_-]+)", link.group(1))
        assert token is not None
        landing = client.get(link.group(1).removeprefix(demo.url))
        done = _post(client, "/authenticate", landing, token=token.group(1))
        assert done.url.path == "/account"
        out = demo.wait_for_output('"POST /authenticate HTTP/1.1" 303')
    assert out.count(token.group(1)) == 1  # only the outbox line; never the access log
    assert "/authenticate?[redacted]" in out
    assert len(re.findall(rf"\b{code.group(1)}\b", out)) == 1  # printed once, by the outbox


def test_bad_options_exit_2_without_serving(tmp_path: Path) -> None:
    from mfa_fsm_cli.main import main

    data = tmp_path / "unused"
    assert main(["demo", "--port", "0", "--data-dir", str(data)]) == 2
    assert main(["demo", "--step-up-seconds", "0", "--data-dir", str(data)]) == 2
    assert not data.exists()
