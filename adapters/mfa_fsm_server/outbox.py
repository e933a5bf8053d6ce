"""`GET /v1/dev/outbox`: the SMS and emails the provider sent, oldest first (dev only).

Tests and local development read one-time codes and magic-link tokens here instead of a
phone or an inbox. The app mounts it only when built with `dev=True`.
"""

from __future__ import annotations

import json

from mfa_fsm_local._ports import Message
from mfa_fsm_local._store import Store

from .bodies import OutboxQuery
from .endpoint import Call, Endpoint
from .responses import OutboxMessage, OutboxResponse
from .wire import timestamp

PAGE = 1000


def read_outbox(store: Store, kind: str | None, to: str | None) -> list[Message]:
    """Every message in the store's outbox log, oldest first, page by page (no cap)."""
    found: list[Message] = []
    after = 0
    while True:
        page = store.read_log("outbox", after=after, limit=PAGE)
        for entry in page:
            message = Message(**json.loads(entry.data))
            if (kind is None or message.kind == kind) and (to is None or message.to == to):
                found.append(message)
        if len(page) < PAGE:
            return found
        after = page[-1].seq


async def dev_outbox(call: Call) -> OutboxResponse:
    query = call.query_as(OutboxQuery)
    found = await call.run(read_outbox, call.provider.repo.store, query.kind, query.to)
    return OutboxResponse(
        messages=[
            OutboxMessage(
                kind=m.kind,
                to=m.to,
                body=m.body,
                code=m.code,
                token=m.token,
                sent_at=timestamp(m.sent_at),
            )
            for m in found
        ]
    )


ENDPOINT = Endpoint(
    "GET",
    "/v1/dev/outbox",
    "Messages sent so far, oldest first (development only)",
    dev_outbox,
    OutboxResponse,
    query=OutboxQuery,
    errors=(400, 401),
)
