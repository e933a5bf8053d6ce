"""`mfa-fsm demo`: the sign-in and MFA pages on 127.0.0.1:8000, ready to click through.

Runs the web routes over the local provider on its embedded SQLite default, seeds one
organization per policy (required with all methods, required with TOTP only, optional)
with members whose demo passwords it prints, and shows every sent SMS code and magic link
in the terminal and on the dev outbox page. Seeding is idempotent: a second start on the
same data directory reuses what is there.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from mfa_fsm_local._ports import Message
    from mfa_fsm_local.provider import LocalProvider

DEFAULT_DATA_DIR = ".mfa-fsm-demo"
DEMO_PASSWORD = "demo-password-2024"  # demo only: printed on purpose
MAGIC_TOKEN_TYPE = "multi_tenant_magic_links"


@dataclass(frozen=True)
class DemoOrg:
    slug: str
    name: str
    settings: dict[str, Any]
    members: tuple[str, ...]


DEMO_ORGS: tuple[DemoOrg, ...] = (
    DemoOrg(
        "acme-required",
        "Acme (MFA required, all methods)",
        {"mfa_policy": "REQUIRED_FOR_ALL", "mfa_methods": "ALL_ALLOWED"},
        ("ada@acme.example", "alan@acme.example"),
    ),
    DemoOrg(
        "globex-totp-only",
        "Globex (MFA required, authenticator app only)",
        {
            "mfa_policy": "REQUIRED_FOR_ALL",
            "mfa_methods": "RESTRICTED",
            "allowed_mfa_methods": ["totp"],
        },
        ("grace@globex.example",),
    ),
    DemoOrg(
        "initech-optional",
        "Initech (MFA optional)",
        {"mfa_policy": "OPTIONAL"},
        ("linus@initech.example",),
    ),
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `mfa-fsm demo`."""
    p = sub.add_parser(
        "demo",
        help="run the sign-in and MFA pages with seeded organizations and a dev outbox",
        description="Serve the web routes over the local provider (SQLite in --data-dir), "
        "seed one organization per MFA policy with demo members, and print sent codes and "
        "sign-in links. Development only: codes and demo passwords are shown on purpose.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        help=f"where the SQLite file and dev keys live (default {DEFAULT_DATA_DIR})",
    )
    p.add_argument(
        "--step-up-seconds",
        type=float,
        default=300.0,
        help="how old a second factor may be before the sensitive action asks again (default 300)",
    )
    p.set_defaults(run=run)


class TerminalOutbox:
    """Prints each sent code or sign-in link, the way a dev outbox shows it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def send(self, message: Message) -> None:
        if message.kind == "sms" and message.code:
            print(f"[outbox] SMS to {message.to}: code {message.code}", flush=True)
        elif message.kind == "email" and message.token:
            query = urlencode(
                {"stytch_token_type": "multi_tenant_magic_links", "token": message.token}
            )
            print(
                f"[outbox] email to {message.to}: {self.base_url}/authenticate?{query}", flush=True
            )


class RedactQuery(logging.Filter):
    """Access log lines keep the path but never a query string (a magic-link token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, sep, _ = args[2].partition("?")
            record.args = (*args[:2], path + ("?[redacted]" if sep else ""), *args[3:])
        return True


def seed(provider: LocalProvider) -> list[tuple[str, str, str]]:
    """Create the demo organizations and members unless they exist; (org, email, password)."""
    from argon2 import PasswordHasher

    from mfa_fsm_local.errors import DuplicateSlug

    hasher = PasswordHasher()
    rows = []
    for spec in DEMO_ORGS:
        try:
            org = provider.organizations_create(spec.name, spec.slug, **spec.settings)
        except DuplicateSlug:
            org = provider.organizations_get(spec.slug)
        for email in spec.members:
            member = provider.member_by_email(org.organization_id, email)
            if member is None or not member.password_hash:
                provider.passwords_migrate(
                    org.organization_id, email, hasher.hash(DEMO_PASSWORD), "argon_2id"
                )
            rows.append((spec.slug, email, DEMO_PASSWORD))
    return rows


def run(args: argparse.Namespace) -> int:
    """Seed, print how to sign in, serve until interrupted."""
    import uvicorn

    from mfa_fsm_local._ports import FanOut, OutboxSender
    from mfa_fsm_local.config import open_provider
    from mfa_fsm_web import WebSettings, create_app

    if not 0 < args.port < 65536:
        print("mfa-fsm demo: error: --port must be between 1 and 65535", file=sys.stderr)
        return 2
    if args.step_up_seconds <= 0:
        print("mfa-fsm demo: error: --step-up-seconds must be positive", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir)
    provider = open_provider(data_dir)
    base_url = f"http://{args.host}:{args.port}"
    terminal = TerminalOutbox(base_url)
    provider.driver.sms = FanOut(provider.driver.sms, terminal)
    provider.email = FanOut(provider.email, terminal)
    rows = seed(provider)
    settings = WebSettings(
        app_name="mfa-fsm demo",
        outbox=OutboxSender(provider.repo.store).messages,
        secure_cookies=False,
        step_up_seconds=args.step_up_seconds,
    )
    app = create_app(provider, settings=settings)
    print(f"mfa-fsm demo: data in {data_dir.resolve()}")
    print("Sign in with (organization / email / password):")
    for org, email, password in rows:
        print(f"  {org:18} {email:24} {password}")
    print(f"Sent SMS codes and sign-in links: {base_url}/dev/outbox (and printed here)")
    print(f"Open {base_url}/ — press Ctrl+C to stop.", flush=True)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="info")
    logging.getLogger("uvicorn.access").addFilter(RedactQuery())
    server = uvicorn.Server(config)
    try:
        server.run()
    finally:
        provider.repo.store.close()
    return 0 if server.started else 1
