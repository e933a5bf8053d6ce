"""`mfa-fsm serve`: run the Stytch-B2B-compatible API (uvicorn) over a local provider.

Credentials come from `MFA_FSM_PROJECT_ID` and `MFA_FSM_SECRET`; with `--dev` and neither
set, a pair is generated and printed once, so a developer can start it with no setup.
Logs go to stderr, one JSON line per request; SIGTERM and Ctrl-C shut it down cleanly.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT_DB = ".mfa-fsm/mfa.db"


class UsageError(Exception):
    """Bad options or environment: reported in one line, exit status 2."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `mfa-fsm serve`."""
    p = sub.add_parser(
        "serve",
        help="serve the Stytch-B2B-compatible API over the local provider",
        description="Serve Stytch's B2B MFA API (organizations, members, passwords, magic "
        "links, SMS OTP, TOTP, recovery codes, sessions, JWKS) over the local provider, so "
        "the official Stytch SDKs run against it. Credentials: MFA_FSM_PROJECT_ID and "
        "MFA_FSM_SECRET (HTTP Basic auth).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    p.add_argument(
        "--db",
        default=DEFAULT_DB,
        metavar="PATH",
        help=f"SQLite database file, development keys beside it (default {DEFAULT_DB}); or a "
        "store URL such as memory://",
    )
    p.add_argument(
        "--dev",
        action="store_true",
        help="development mode: GET /v1/dev/outbox shows sent SMS and emails; credentials "
        "are generated when none are set",
    )
    p.set_defaults(run=run)


def credentials(env: Mapping[str, str], dev: bool) -> tuple[str, str, bool]:
    """The project id and secret, and whether they were generated just now."""
    project_id = env.get("MFA_FSM_PROJECT_ID", "")
    secret = env.get("MFA_FSM_SECRET", "")
    if project_id and secret:
        return project_id, secret, False
    if dev and not project_id and not secret:
        generated_id = f"project-test-{secrets.token_hex(8)}"
        return generated_id, f"secret-test-{secrets.token_urlsafe(24)}", True
    raise UsageError(
        "set MFA_FSM_PROJECT_ID and MFA_FSM_SECRET"
        + (" (or neither, to generate a pair)" if dev else " (or use --dev)")
    )


def run(args: argparse.Namespace) -> int:
    """Build the provider and app, then serve until SIGTERM or SIGINT."""
    try:
        if not 0 < args.port < 65536:
            raise UsageError("--port must be between 1 and 65535")
        project_id, secret, generated = credentials(os.environ, args.dev)
    except UsageError as exc:
        print(f"mfa-fsm serve: error: {exc}", file=sys.stderr)
        return 2
    _configure_logging()
    import uvicorn

    from mfa_fsm_local.config import open_provider
    from mfa_fsm_server import create_app

    if "://" in args.db:  # a store URL (memory://, postgresql://, ...): keys in the default dir
        data_dir, store_url = Path(DEFAULT_DB).parent.resolve(), args.db
    else:
        db = Path(args.db).resolve()
        data_dir, store_url = db.parent, f"sqlite:///{db}"
    provider = open_provider(data_dir, store_url=store_url, project_id=project_id)
    app = create_app(provider, project_id=project_id, secret=secret, dev=args.dev)
    if generated:
        print(f"MFA_FSM_PROJECT_ID={project_id}", flush=True)
        print(f"MFA_FSM_SECRET={secret}", flush=True)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    try:
        _server_class()(config).run()
    finally:
        app.state.provider_calls.close()  # calls still queued finish before the store closes
        close = getattr(provider.repo.store, "close", None)
        if callable(close):
            close()
    return 0


def _server_class() -> type[Any]:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's graceful shutdown on SIGTERM/SIGINT, then a normal return (exit 0).

        uvicorn re-raises the signal once it has shut down, which kills the process before
        the store is closed; here `run` returns and the caller closes it.
        """

        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            sigs = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in sigs}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    return Server


def _configure_logging() -> None:
    """Plain messages on stderr: the access lines are JSON already."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    """`python -m mfa_fsm_cli.serve`: the same command without the other sub-commands."""
    parser = argparse.ArgumentParser(prog="mfa-fsm")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    code: int = args.run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
