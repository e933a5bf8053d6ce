"""Build a provider from a data directory and the environment: the usual way to start one."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ._driver import Settings
from ._jwt import SessionSigner, dev_signer
from ._keys import Keyring, dev_keyring
from ._ports import ConsoleSender, FanOut, OutboxSender, Sender, WebhookSender
from .provider import LocalProvider
from .stores import open_store


def open_provider(
    data_dir: str | os.PathLike[str],
    *,
    store_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    **kw: object,
) -> LocalProvider:
    """A provider on `data_dir/mfa.db` (or `store_url`), keys from the environment.

    `MFA_FSM_KEY` (base64, 32 bytes) keys code hashing and TOTP encryption;
    `MFA_FSM_SIGNING_KEY_FILE` names a PEM for session JWTs. Without them, development keys
    are made once in `data_dir` with a loud warning. `MFA_FSM_SMS_WEBHOOK` sends SMS by POST.
    Sent messages always go to the store's outbox too, for tests and the dev UI.
    """
    env = os.environ if environ is None else environ
    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    store = open_store(store_url or f"sqlite:///{(root / 'mfa.db').resolve()}")
    keyring = Keyring.from_env(env) or dev_keyring(root)
    pem_file = env.get("MFA_FSM_SIGNING_KEY_FILE")
    signer = SessionSigner.from_pem(Path(pem_file).read_bytes()) if pem_file else dev_signer(root)
    outbox = OutboxSender(store)
    sms: Sender = FanOut(outbox, ConsoleSender())
    if env.get("MFA_FSM_SMS_WEBHOOK"):
        sms = FanOut(outbox, WebhookSender(env["MFA_FSM_SMS_WEBHOOK"]))
    return LocalProvider(
        store,
        keyring,
        sms=sms,
        email=FanOut(outbox, ConsoleSender()),
        settings=settings,
        signer=signer,
        **kw,  # type: ignore[arg-type]
    )
