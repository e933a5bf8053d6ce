"""The driver's logic, sans I/O: each operation is a generator that yields the HTTP calls
it needs and receives their replies, so the sync and async shells share all of it.

Replies become engine events; the engine's effects become calls (`otps.sms.send`,
`totps.create`, a factor delete) or checks on Stytch's reply. A reply the engine
refuses is never trusted: the session it carried is revoked and `ResponseRefused` raised.
"""

from __future__ import annotations

from ._answer import Answers
from ._open import Openings
from ._steps import Op, SessionIntent, Track, credentials, new_flow_id


class Planner(Openings, Answers):
    """Builds calls, judges replies, and keeps the engine's word final."""


__all__ = ["Op", "Planner", "SessionIntent", "Track", "credentials", "new_flow_id"]
