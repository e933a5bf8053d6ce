"""The commands of docs/stores.md's "Several instances" section, run as written: the keys
they make are accepted, and two instances started with them share logins and JWT keys."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path

from .conftest import Stores
from .flows import finish_login, park_login
from .instances import Instance, start_instance

DOC = Path(__file__).resolve().parents[2] / "docs" / "stores.md"
SERVE = re.compile(r'^mfa-fsm serve --host 0\.0\.0\.0 --port \d+ --db "\$DB"$')


def documented_commands() -> tuple[list[str], list[str]]:
    """The setup lines and the `mfa-fsm serve` lines of the section's shell block."""
    section = DOC.read_text().split("## Several instances", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line and not line.startswith("#")]
    serve = [line for line in lines if line.startswith("mfa-fsm serve")]
    return [line for line in lines if line not in serve], serve


def environment_after(setup: list[str], workdir: Path) -> dict[str, str]:
    """The environment the setup lines leave behind (and `$DB`), run by bash in `workdir`."""
    script = "set -euo pipefail\n" + "\n".join(setup) + "\nenv -0\nprintf 'DB=%s\\0' \"$DB\"\n"
    done = subprocess.run(
        ["bash", "-c", script], cwd=workdir, capture_output=True, check=True, env=os.environ
    )
    pairs = (item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    return dict(pairs)


def test_documented_commands_start_instances_that_share_logins_and_keys(
    stores: Stores, tmp_path: Path
) -> None:
    setup, serve = documented_commands()
    assert len(serve) == 2 and all(SERVE.match(line) for line in serve), serve
    env = environment_after(setup, tmp_path)
    assert (tmp_path / "signing-key.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY")
    assert env["MFA_FSM_SIGNING_KEY_FILE"] == str(tmp_path / "signing-key.pem")
    assert len(env["MFA_FSM_KEY"]) == 44 and "|" in env["DB"]
    env.update(  # the documented placeholders, made real for this test
        MFA_FSM_PROJECT_ID=f"project-test-{uuid.uuid4()}",
        MFA_FSM_SECRET=f"secret-test-{uuid.uuid4().hex}",
    )
    started: list[Instance] = []
    try:
        for name in "AB":
            started.append(start_instance(name, tmp_path / name, stores.url, env))
        a, b = started
        login = park_login(a.api, a.api.create_org())
        token = finish_login(b.api, login)
        assert a.api.session_member(token) == login.member_id
        jwks = f"/v1/b2b/sessions/jwks/{env['MFA_FSM_PROJECT_ID']}"
        assert a.api.call("GET", jwks)["keys"] == b.api.call("GET", jwks)["keys"]
        assert not list((tmp_path / "A").glob(".mfa-fsm/*"))  # no key files of its own
    finally:
        for instance in started:
            instance.stop()
