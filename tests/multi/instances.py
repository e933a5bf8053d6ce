"""Several real `mfa-fsm serve` processes sharing one store and one set of keys.

Every instance of a deployment must hash codes, encrypt secrets and sign session JWTs with
the same keys, so each test writes one signing key and one master key and hands the same
environment to every process it starts.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..serve_process import READY_TIMEOUT, free_port, stop_process, wait_ready
from .flows import Api


def via(url: str, port: int) -> str:
    """The same URL with the server's port replaced (to go through a proxy)."""
    parts = urlsplit(url)
    auth, at, _ = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{auth}{at}{parts.hostname}:{port}"))


def shared_environment(directory: Path) -> dict[str, str]:
    """Credentials and keys for every instance of one deployment (a PEM in `directory`)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = directory / "signing-key.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pem.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k != "MFA_FSM_SMS_WEBHOOK"}
    env.update(
        MFA_FSM_PROJECT_ID=f"project-test-{uuid.uuid4()}",
        MFA_FSM_SECRET=f"secret-test-{uuid.uuid4().hex}",
        MFA_FSM_KEY=base64.b64encode(os.urandom(32)).decode(),
        MFA_FSM_SIGNING_KEY_FILE=str(pem),
    )
    return env


@dataclass
class Instance:
    """One server process, its own working directory and logs, and a client for it."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    workdir: Path
    env: dict[str, str]
    api: Api = field(init=False)

    def __post_init__(self) -> None:
        self.api = Api(self.base_url, self.env["MFA_FSM_PROJECT_ID"], self.env["MFA_FSM_SECRET"])

    def log_text(self) -> str:
        return (self.workdir / "stderr.log").read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        self.api.close()
        stop_process(self.process)


def start_instance(name: str, workdir: Path, db: str, env: dict[str, str]) -> Instance:
    """`python -m mfa_fsm_cli.serve --dev --db <db>` on a free port, once it answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    for _ in range(5):
        port = free_port()
        cmd = [sys.executable, "-m", "mfa_fsm_cli.serve", "--dev", "--port", str(port)]
        with (
            open(workdir / "stdout.log", "wb") as out,
            open(workdir / "stderr.log", "wb") as err,
        ):
            process = subprocess.Popen(
                [*cmd, "--db", db], stdout=out, stderr=err, env=env, cwd=workdir
            )
        instance = Instance(name, process, f"http://127.0.0.1:{port}", workdir, env)
        if wait_ready(process, instance.base_url, READY_TIMEOUT):
            return instance
        instance.stop()
    raise RuntimeError(f"instance {name} did not start:\n{instance.log_text()}")
