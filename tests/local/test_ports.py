"""The sender ports: webhook over httpx, outbox in the store, console without secrets."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from mfa_fsm_local._memory import MemoryStore
from mfa_fsm_local._ports import ConsoleSender, FanOut, Message, OutboxSender, WebhookSender

MESSAGE = Message(
    kind="sms", to="+14155551234", body="Your code is 123456", code="123456", sent_at=1.0
)


def test_webhook_posts_the_message_as_json() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(202)

    sender = WebhookSender(
        "https://sms.example/send", client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    sender.send(MESSAGE)
    assert seen == [{"kind": "sms", "to": "+14155551234", "body": "Your code is 123456"}]


def test_webhook_failure_is_raised_not_swallowed() -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    with pytest.raises(httpx.HTTPStatusError):
        WebhookSender("https://sms.example/send", client=client).send(MESSAGE)


def test_outbox_keeps_messages_in_order_and_filters() -> None:
    store = MemoryStore()
    outbox = OutboxSender(store)
    FanOut(outbox).send(MESSAGE)
    outbox.send(Message(kind="email", to="a@example.com", body="link", token="t", sent_at=2.0))
    assert [m.kind for m in outbox.messages()] == ["sms", "email"]
    assert outbox.messages(kind="sms", to="+14155551234")[0].code == "123456"
    assert outbox.messages(to="nobody") == []


def test_console_never_logs_the_code_or_the_number(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="mfa_fsm_local"):
        ConsoleSender().send(MESSAGE)
    assert caplog.records
    assert "123456" not in caplog.text and "4155551234" not in caplog.text
