"""Knobs of the web routes; the defaults suit a real deployment, the demo loosens a few."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mfa_fsm_local._ports import Message
from mfa_fsm_local._store import Store


@dataclass(frozen=True)
class WebSettings:
    """How the mounted routes behave.

    `step_up_seconds` is how old a session's second factor may be before a sensitive action
    asks for a fresh one (seed 004's `last_authenticated_at` check). `protected_factors`
    lists factor-type sets, any one of which a session must carry to open the protected
    page. `outbox` (dev only) returns the sent messages for the outbox page; leave it None
    in production and the page does not exist. `session_store` keeps web sessions elsewhere
    than the provider's own store (needed for a provider without one).
    """

    app_name: str = "mfa-fsm"
    cookie_name: str = "mfa_fsm_web"
    secure_cookies: bool | None = None  # None: Secure whenever the request came over https
    web_session_seconds: float = 12 * 3600.0
    step_up_seconds: float = 300.0
    resend_cooldown_seconds: float = 30.0
    protected_factors: Sequence[frozenset[str]] = field(
        default_factory=lambda: (
            frozenset({"otp"}),
            frozenset({"totp"}),
            frozenset({"recovery_codes"}),
        )
    )
    outbox: Callable[[], list[Message]] | None = None
    session_collection: str = "web_sessions"
    session_store: Store | None = None  # None: the provider's own store

    def __post_init__(self) -> None:
        if self.step_up_seconds <= 0 or self.resend_cooldown_seconds < 0:
            raise ValueError("step_up_seconds must be positive, resend cooldown not negative")
        if self.web_session_seconds <= 0:
            raise ValueError("web_session_seconds must be positive")


__all__ = ["WebSettings"]
