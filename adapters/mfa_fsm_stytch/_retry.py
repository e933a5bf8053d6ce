"""When a failed call may be sent again, and how long to wait first. Pure.

The policy, in one place:

* A request that never reached Stytch (connect error, connect or pool timeout) may be
  sent again, whatever it is.
* A rate-limit refusal (429 `too_many_requests`, or a 429 without a Stytch body) was
  not processed, so it may be sent again. A 429 `user_lock_limit_reached` is a lockout,
  never retried.
* A timeout while waiting for the answer, a broken connection or a 5xx means Stytch
  may have acted. Only calls that cannot spend, send or create twice are sent again
  (`sessions.authenticate`, `sessions.revoke`, factor deletion). A code authenticate
  is never re-sent blindly (the code may already be spent, and a second try would count
  as a wrong code); `otps.sms.send` is not re-sent (it would bill a second SMS and
  kill the code already on its way); nor are `totps.create` and primary authenticates.
* At most `max_attempts` tries, with capped exponential backoff and full jitter from an
  injectable random source; `Retry-After` is honoured up to the cap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from ._wire import Call, Reply


class Failure(StrEnum):
    """How an attempt failed, as far as retrying is concerned."""

    NOT_SENT = "not_sent"  # the request never reached the server
    MAYBE_PROCESSED = "maybe_processed"  # it may have been acted on
    RATE_LIMITED = "rate_limited"  # refused before processing
    FINAL = "final"  # an answer to keep


def classify(reply: Reply) -> Failure:
    """What an HTTP answer means for retrying."""
    if reply.status_code == 429 and reply.error_type in (None, "too_many_requests"):
        return Failure.RATE_LIMITED
    if reply.status_code >= 500:
        return Failure.MAYBE_PROCESSED
    return Failure.FINAL


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter."""

    max_attempts: int = 3
    base_delay: float = 0.25
    max_delay: float = 4.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("max_attempts must be >= 1 and delays >= 0")

    def may_retry(self, call: Call, failure: Failure, attempt: int) -> bool:
        """Whether attempt number `attempt` (1-based) may be followed by another."""
        if attempt >= self.max_attempts or failure is Failure.FINAL:
            return False
        if failure is Failure.MAYBE_PROCESSED:
            return call.idempotent
        return True

    def delay(self, attempt: int, random: Callable[[], float], retry_after: float | None) -> float:
        """Seconds to wait after attempt `attempt` failed."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        wait = random() * ceiling
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait


NO_RETRY = RetryPolicy(max_attempts=1)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header; dates and junk are ignored."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
