"""The development outbox: sent texts and emails, so a demo or a test can read the codes.

Registered only when `WebSettings.outbox` is set; never in production.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from ._kit import Page
from ._login import MAGIC_TOKEN_TYPE


def outbox(page: Page) -> Response:
    read = page.settings.outbox
    if read is None:
        return page.error("There is no outbox here.", 404, title="Not found")
    rows = []
    for m in reversed(read()[-50:]):
        link = ""
        if m.kind == "email" and m.token:
            query = urlencode({"stytch_token_type": MAGIC_TOKEN_TYPE, "token": m.token})
            link = page.link(f"/authenticate?{query}")
        rows.append({"kind": m.kind, "to": m.to, "at": m.sent_at, "code": m.code, "link": link})
    return page.render("outbox.html", title="Development outbox", messages=rows)
