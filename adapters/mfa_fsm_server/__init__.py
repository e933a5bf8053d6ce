"""A Stytch-B2B-compatible HTTP API (ASGI) over the local provider.

Point the official SDK at it (`stytch.B2BClient(project_id, secret,
environment="http://127.0.0.1:8000")`) and the MFA flows run offline, in CI or
self-hosted. `create_app` builds the Starlette application; `mfa-fsm serve` runs it.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
