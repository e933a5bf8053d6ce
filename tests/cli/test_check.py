"""`mfa-fsm check`: exit codes, summaries, traces, JSON, and clear usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mfa_fsm import _table
from mfa_fsm_cli import check
from mfa_fsm_cli.main import main

from . import rules_fixtures as R

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = "tests.cli.rules_fixtures"


def test_a_clean_run_exits_0_with_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--depth", "3"]) == 0
    out, err = capsys.readouterr()
    assert "configurations   1248" in out
    for word in ("distinct states", "transitions", "table edges", "seconds"):
        assert word in out
    assert "OK: every invariant held" in out
    assert err == ""  # not a terminal: no progress bar


def test_json_output_parses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--depth", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True
    assert data["depth"] == 2 and data["configurations"] == 1248
    assert isinstance(data["seconds"], float)
    assert data["violation"] is None and data["dead_ends"]["count"] == 0


def test_progress_goes_to_a_terminal_only_and_never_into_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["check", "--depth", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    with check._progress(enabled=False) as on_progress:
        assert on_progress is None
    with check._progress(enabled=True) as on_progress:
        assert on_progress is not None
        on_progress(1, 2)


def test_a_broken_invariant_exits_1_with_a_step_by_step_trace(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with R.broken_table(R.without_guard(_table.method_allowed)):
        assert main(["check", "--depth", "3"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: invariant 4 broken; shortest counterexample (2 events" in out
    assert "configuration: REQUIRED_FOR_ALL, RESTRICTED to sms_otp | mbr-new" in out
    assert "  1. t+0s  primary_authenticated (start): start -> primary_done  [accepted]" in out
    assert "  2. t+0s  method_chosen totp: primary_done -> enrolling_totp  [accepted]" in out
    assert "effects: create_totp_registration, audit" in out
    assert "broken: invariant 4: TOTP initiated under a policy that forbids it" in out


def test_a_broken_invariant_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    with R.broken_table(R.skip_consume_ist):
        assert main(["check", "--depth", "3", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert [i["number"] for i in data["violation"]["invariants"]] == [8]


def test_a_rule_demanding_a_forbidden_method_exits_1_with_dead_ends(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", "--depth", "4", "--rules", f"{FIXTURES}:admins_must_use_totp"]) == 1
    out = capsys.readouterr().out
    assert "rules: admins_must_use_totp" in out
    assert "FAIL: 10 dead end(s) in 10 configuration(s)" in out
    assert "  - REQUIRED_FOR_ALL, RESTRICTED to sms_otp | mbr-admin" in out
    assert "shortest trace to a dead end:" in out
    assert "1. t+0s  primary_authenticated (start): start -> primary_done" in out


def test_dead_ends_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check", "--depth", "4", "--json", "--rules", f"{FIXTURES}:admins_must_use_totp"]
    assert main(args) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["dead_ends"]["count"] == 10
    assert data["dead_ends"]["shortest"]["steps"][0]["dest"] == "primary_done"


def test_a_list_of_rules_and_repeated_options(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check", "--depth", "3", "--rules", f"{FIXTURES}:RULES"]
    assert main([*args, "--rules", f"{FIXTURES}:no_opinion"]) == 0
    out = capsys.readouterr().out
    assert "rules: admins_use_totp_where_allowed, no_opinion, no_opinion" in out


def test_a_crashing_rule_exits_1_naming_the_crash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--depth", "3", "--rules", f"{FIXTURES}:returns_garbage"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: the engine raised an exception" in out
    assert "crashed: the engine raised RuleError" in out


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nocolon", "expected MODULE:NAME"),
        (":RULES", "expected MODULE:NAME"),
        (f"{FIXTURES}:", "expected MODULE:NAME"),
        ("no_such_module_for_mfa_fsm:RULES", "cannot import 'no_such_module_for_mfa_fsm'"),
        (f"{FIXTURES}:missing", "has no 'missing'"),
        (f"{FIXTURES}:NOT_A_RULE", "NOT_A_RULE is a int, not a rule function"),
    ],
)
def test_bad_rules_exit_2_with_one_line(
    spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--rules", spec]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("mfa-fsm check: error: --rules ")
    assert message in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_a_rules_module_failing_on_import_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "exploding_rules_mod.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["check", "--rules", "exploding_rules_mod:RULES"]) == 2
    err = capsys.readouterr().err
    assert "RuntimeError: boom" in err and "Traceback" not in err


def test_depth_below_1_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--depth", "0"]) == 2
    assert "--depth must be at least 1" in capsys.readouterr().err


def _console_script() -> Path:
    script = Path(sys.executable).with_name("mfa-fsm")
    if not script.exists():
        pytest.skip("the mfa-fsm console script is not installed next to this Python")
    return script


def test_the_console_script_runs_the_checker() -> None:
    script = _console_script()
    done = subprocess.run(
        [str(script), "check", "--depth", "2", "--json", "--rules", f"{FIXTURES}:RULES"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["ok"] is True and data["rules"] == ["admins_use_totp_where_allowed", "no_opinion"]
    assert done.stderr == ""


def test_the_console_script_reports_bad_rules_without_a_traceback() -> None:
    script = _console_script()
    done = subprocess.run(
        [str(script), "check", "--rules", "no_such_module_for_mfa_fsm:RULES"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "cannot import" in done.stderr and "Traceback" not in done.stderr
