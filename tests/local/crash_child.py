"""A provider process for `test_crash.py` to SIGKILL (run as a script; the test imports
its helpers).

    python crash_child.py DATA_DIR STAGE

Opens `open_provider(DATA_DIR)` with a fixed `MFA_FSM_KEY` (so the next process shares the
keyring; the session signing key is the development key file, made once in DATA_DIR) and
the system clock, then, by STAGE:

- `sms_sent`: creates an organization (REQUIRED_FOR_ALL) and a member, logs in, sends an SMS
  code to a new phone, prints {organization_id, member_id, ist, code} as one JSON line;
- `session`: the same, then enters the code and adds {session_token, session_jwt};
- `loop`: the same organization and member, enrolled, then logs in and answers the SMS
  challenge again and again, printing one JSON line per finished flow.

After printing it sleeps (or keeps looping) until it is killed.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import bcrypt

from mfa_fsm_local._ports import OutboxSender
from mfa_fsm_local.config import open_provider
from mfa_fsm_local.provider import LocalProvider

MASTER_KEY = "Y3Jhc2gtdGVzdCBtYXN0ZXIga2V5LCAzMiBieXRlcyE="  # base64 of 32 fixed bytes
PHONE = "+14155550100"
EMAIL = "crash@example.com"
PASSWORD = "correct horse battery staple"


def provider(data_dir: str) -> LocalProvider:
    return open_provider(data_dir, environ={"MFA_FSM_KEY": MASTER_KEY})


def last_code(p: LocalProvider) -> str:
    codes = [m.code for m in OutboxSender(p.repo.store).messages(kind="sms", to=PHONE) if m.code]
    return codes[-1]


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def main(data_dir: str, stage: str) -> None:
    p = provider(data_dir)
    org = p.organizations_create("Crash", "crash", mfa_policy="REQUIRED_FOR_ALL")
    org_id = org.organization_id
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    member_id = p.passwords_migrate(org_id, EMAIL, hashed, "bcrypt").member_id
    ist = p.passwords_authenticate(org_id, EMAIL, PASSWORD).intermediate_session_token
    p.otps_sms_send(org_id, member_id, mfa_phone_number=PHONE, intermediate_session_token=ist)
    code = last_code(p)
    out: dict[str, Any] = {
        "organization_id": org_id,
        "member_id": member_id,
        "ist": ist,
        "code": code,
    }
    if stage == "sms_sent":
        emit(out)
    elif stage == "session":
        done = p.otps_sms_authenticate(org_id, member_id, code, intermediate_session_token=ist)
        emit(out | {"session_token": done.session_token, "session_jwt": done.session_jwt})
    elif stage == "loop":
        p.otps_sms_authenticate(org_id, member_id, code, intermediate_session_token=ist)
        for n in range(1_000_000):
            ist = p.passwords_authenticate(org_id, EMAIL, PASSWORD).intermediate_session_token
            code = last_code(p)  # the challenge went out at login (SMS is the default)
            done = p.otps_sms_authenticate(org_id, member_id, code, intermediate_session_token=ist)
            emit(out | {"n": n, "ist": ist, "code": code, "session_token": done.session_token})
    else:
        raise SystemExit(f"unknown stage {stage!r}")
    time.sleep(600)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
