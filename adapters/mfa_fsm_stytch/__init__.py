"""Drive Stytch's B2B MFA API with the mfa-fsm engine, sync or async, over httpx.

Stytch authenticates; the engine decides. Primary authenticate replies become engine
events, the engine's effects become Stytch calls, and Stytch's replies become events
again. A reply the engine refuses (say, a session without the required factor) is
never trusted. The driver keeps no state: each call returns the `Flow` to keep.
"""

from ._async import AsyncStytchDriver
from ._outcome import MemberSession, Outcome, TotpRegistration
from ._retry import NO_RETRY, RetryPolicy
from ._sync import StytchDriver
from ._wire import LIVE_URL, TEST_URL
from .errors import (
    CredentialMismatch,
    MalformedResponse,
    ProviderUnavailable,
    RateLimited,
    RecoveryCodeNotFound,
    ResponseRefused,
    SessionNotFound,
    StytchApiError,
    StytchError,
)

__all__ = [
    "AsyncStytchDriver",
    "CredentialMismatch",
    "LIVE_URL",
    "MalformedResponse",
    "MemberSession",
    "NO_RETRY",
    "Outcome",
    "ProviderUnavailable",
    "RateLimited",
    "RecoveryCodeNotFound",
    "ResponseRefused",
    "RetryPolicy",
    "SessionNotFound",
    "StytchApiError",
    "StytchDriver",
    "StytchError",
    "TEST_URL",
    "TotpRegistration",
]
