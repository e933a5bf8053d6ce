"""What each racing process runs: its own store and provider on a shared URL, one call.

Imported by the fork server before any test forks from it, so fifty processes start in
milliseconds and share the imported code instead of each importing it again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

import mfa_fsm_local._postgres
import mfa_fsm_local._redis
from mfa_fsm import MfaError
from mfa_fsm_local._jwt import SessionSigner
from mfa_fsm_local._keys import Keyring
from mfa_fsm_local._ports import ManualClock, OutboxSender
from mfa_fsm_local.provider import LocalProvider
from mfa_fsm_local.stores import open_store

MASTER = b"k" * 32
PRELOADED = (mfa_fsm_local._postgres, mfa_fsm_local._redis)  # imported once, by the fork server


def provider_on(url: str, now: float, signing_key: bytes) -> LocalProvider:
    """A provider as every process of one deployment builds it: same store, same keys."""
    store = open_store(url)
    outbox = OutboxSender(store)
    keyring = Keyring.from_master(MASTER, nonce_source=os.urandom)
    signer = SessionSigner.from_pem(signing_key)
    return LocalProvider(
        store, keyring, clock=ManualClock(now), sms=outbox, email=outbox, signer=signer
    )


@dataclass(frozen=True)
class Job:
    url: str
    action: str  # "authenticate" or "send"
    organization_id: str
    member_id: str
    ist: str
    code: str
    now: float
    signing_key: bytes


def run(job: Job, barrier: Barrier, out: Queue[str]) -> None:
    """Wait for all, make the call, report one line: `won`, `sent`, an error type, or a crash."""
    provider = None
    try:
        provider = provider_on(job.url, job.now, job.signing_key)
        barrier.wait(timeout=60)
        if job.action == "authenticate":
            provider.otps_sms_authenticate(
                job.organization_id, job.member_id, job.code, intermediate_session_token=job.ist
            )
            out.put("won")
        else:
            provider.otps_sms_send(
                job.organization_id, job.member_id, intermediate_session_token=job.ist
            )
            out.put("sent")
    except MfaError as exc:
        out.put(exc.error_type)
    except BaseException as exc:  # reported, so the parent's assertion shows it
        out.put(f"crash {exc!r}")
    finally:
        if provider is not None:
            provider.repo.store.close()
