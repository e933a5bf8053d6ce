"""The self-hosted provider: factors, primary auth, sessions, lockout, stores, audit."""

from ._driver import Settings
from ._jwt import SessionSigner
from ._keys import Keyring
from ._ports import (
    Clock,
    ConsoleSender,
    FanOut,
    ManualClock,
    Message,
    OutboxSender,
    Sender,
    SystemClock,
    WebhookSender,
)
from ._shared import AuthResult
from ._store import Conflict, Store, StoreUnavailable
from .config import open_provider
from .provider import LocalProvider
from .stores import open_store

__all__ = [
    "AuthResult",
    "Clock",
    "Conflict",
    "ConsoleSender",
    "FanOut",
    "Keyring",
    "LocalProvider",
    "ManualClock",
    "Message",
    "OutboxSender",
    "Sender",
    "SessionSigner",
    "Settings",
    "Store",
    "StoreUnavailable",
    "SystemClock",
    "WebhookSender",
    "open_provider",
    "open_store",
]
