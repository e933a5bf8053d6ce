"""A real `mfa-fsm serve` process for tests: a free loopback port, readiness, shutdown.

`start_serve` is the one entry point: it retries on a fresh port when the first one is
taken meanwhile, and raises with the server's log when it never answers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

READY_TIMEOUT = 20.0
ATTEMPTS = 5


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve_env(project_id: str, secret: str) -> dict[str, str]:
    """This process's environment with the given credentials and no key or webhook."""
    env = {**os.environ, "MFA_FSM_PROJECT_ID": project_id, "MFA_FSM_SECRET": secret}
    for name in ("MFA_FSM_KEY", "MFA_FSM_SIGNING_KEY_FILE", "MFA_FSM_SMS_WEBHOOK"):
        env.pop(name, None)
    return env


@dataclass(frozen=True)
class Served:
    """A started server process and the URL it answers on."""

    process: subprocess.Popen[bytes]
    base_url: str


def wait_ready(process: subprocess.Popen[bytes], base_url: str, timeout: float) -> bool:
    """Whether the server answers `/openapi.json` before `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False  # e.g. the port was taken meanwhile: try another
        try:
            if httpx.get(base_url + "/openapi.json", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            time.sleep(0.05)
    return False


def stop_process(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then SIGKILL after 10 s; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def _log_text(stdout: Path, stderr: Path | None) -> str:
    return (stderr.read_text() if stderr is not None else "") + stdout.read_text()


def _spawn(
    cmd: list[str], env: dict[str, str], cwd: Path | None, stdout: Path, stderr: Path | None
) -> subprocess.Popen[bytes]:
    with open(stdout, "wb") as out:
        if stderr is None:
            return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        with open(stderr, "wb") as err:
            return subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)


def start_serve(
    args: list[str],
    *,
    env: dict[str, str],
    stdout: Path,
    stderr: Path | None = None,
    cwd: Path | None = None,
    what: str = "the server",
    timeout: float = READY_TIMEOUT,
) -> Served:
    """`python -m mfa_fsm_cli.serve --port <free> *args`, once it answers.

    Output goes to `stdout` (and `stderr`, or the same file when None). Raises
    `RuntimeError("<what> did not start: ...")` with the log after `ATTEMPTS` ports.
    """
    for _ in range(ATTEMPTS):
        port = free_port()
        cmd = [sys.executable, "-m", "mfa_fsm_cli.serve", "--port", str(port), *args]
        process = _spawn(cmd, env, cwd, stdout, stderr)
        base_url = f"http://127.0.0.1:{port}"
        if wait_ready(process, base_url, timeout):
            return Served(process, base_url)
        stop_process(process)
    raise RuntimeError(f"{what} did not start:\n" + _log_text(stdout, stderr))
