"""`mfa-fsm serve`: credentials from the environment or generated in --dev, clean SIGTERM."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx
import pytest

from mfa_fsm_cli import serve

from .conftest import start_server


def test_dev_generates_credentials_prints_them_once_and_they_work(tmp_path: Path) -> None:
    live = start_server(tmp_path / "srv", generated=True)
    try:
        out = (tmp_path / "srv" / "stdout.log").read_text()
        ids = re.findall(r"^MFA_FSM_PROJECT_ID=(\S+)$", out, re.M)
        secrets = re.findall(r"^MFA_FSM_SECRET=(\S+)$", out, re.M)
        assert len(ids) == 1 and len(secrets) == 1
        url = live.base_url + "/v1/b2b/organizations/organization-missing"
        ok = httpx.get(url, auth=(ids[0], secrets[0]))
        assert ok.json()["error_type"] == "organization_not_found"
        assert httpx.get(url, auth=(ids[0], "guess")).status_code == 401
        assert secrets[0] not in (tmp_path / "srv" / "stderr.log").read_text()
    finally:
        assert live.stop() == 0


def test_sigterm_shuts_down_cleanly(tmp_path: Path) -> None:
    live = start_server(tmp_path / "srv", dev=False)
    live.process.send_signal(signal.SIGTERM)
    assert live.process.wait(timeout=10) == 0
    assert "Finished server process" in live.log_text()
    live.stop()


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        ([], {}),
        (["--dev"], {"MFA_FSM_PROJECT_ID": "project-test-x"}),
        ([], {"MFA_FSM_SECRET": "s"}),
        (["--port", "0"], {"MFA_FSM_PROJECT_ID": "p", "MFA_FSM_SECRET": "s"}),
    ],
)
def test_missing_credentials_or_bad_port_is_a_usage_error(
    argv: list[str],
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.delenv("MFA_FSM_PROJECT_ID", raising=False)
    monkeypatch.delenv("MFA_FSM_SECRET", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert serve.main([*argv, "--db", str(tmp_path / "mfa.db")]) == 2
    assert "mfa-fsm serve: error:" in capsys.readouterr().err
    assert not (tmp_path / "mfa.db").exists()


def test_serve_is_a_subcommand_of_mfa_fsm() -> None:
    from mfa_fsm_cli.main import build_parser

    args = build_parser().parse_args(["serve", "--port", "9000", "--dev", "--db", "x.db"])
    assert args.run is serve.run
    assert (args.host, args.port, args.dev, args.db) == ("127.0.0.1", 9000, True, "x.db")


def test_db_may_be_a_store_url(tmp_path: Path) -> None:
    live = start_server(tmp_path / "srv", db="memory://")
    try:
        org = live.client().organizations.create(organization_name="M", organization_slug="mem")
        assert org.organization.organization_slug == "mem"
        assert not (tmp_path / "srv" / "mfa.db").exists()
        assert (tmp_path / "srv" / ".mfa-fsm").is_dir()  # development keys, beside the cwd
    finally:
        assert live.stop() == 0
