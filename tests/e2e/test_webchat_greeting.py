"""The bot speaks first in a new browser chat: real gateway, real celery worker serving a
bot with ``utter_conversation_start``, real Redis, the widget's protocol."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.greeting_bot import FIRST_HOURS, GREETING, greeting_bot, start_worker
from tests.processes import GatewayProcess
from workers.bus import conversation_key

from .webchat_client import ChatClient, browser_session

ENV = {"PARLEY_SESSION_SECRET": "webchat-greeting-test-secret"}


@pytest.fixture
def gateway(clean_redis: redis.Redis, tmp_path: Path) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path / "gateway.log", ENV)
    yield process
    process.stop()


def _served(client: redis.Redis, session: str, count: int, timeout: float = 60) -> None:
    key = conversation_key(f"webchat:browser:{session}", "served")
    deadline = time.monotonic() + timeout
    while int(client.get(key) or 0) < count:
        assert time.monotonic() < deadline, f"#{count} of {session} not served"
        time.sleep(0.1)


def test_a_new_session_is_greeted_once_before_its_first_message(
        gateway: GatewayProcess, clean_redis: redis.Redis, bot_model: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    worker = start_worker(greeting_bot(tmp_path), bot_model, tmp_path / "worker.log",
                          monkeypatch)
    try:
        async def scenario() -> None:
            async with browser_session() as http:
                first = ChatClient(http, gateway.url)
                session = await first.session()
                await first.connect()
                greeting = await first.next_frame("reply", timeout=60)
                assert (greeting["seq"], greeting["in_reply_to"], greeting["text"]) == (
                    1, "", GREETING)
                assert greeting["buttons"] == [{"title": "Book a table",
                                                "payload": "/book_table"}]
                # A second tab, a refreshed token and a reconnect: no second greeting.
                tab = ChatClient(http, gateway.url, token=first.token)
                await tab.session()
                await tab.connect()
                await first.close()
                await first.session()
                await first.connect()
                await tab.quiet(3)
                assert [r["text"] for r in tab.received()] == [GREETING]
                assert first.received() == [greeting]
                # The opening was not the person's turn: the first question still meets
                # the rule for a conversation's first message.
                asked = await first.send(text="when do you open")
                answer = await first.next_frame("reply", timeout=60)
                assert (answer["in_reply_to"], answer["text"]) == (asked, FIRST_HOURS)
                assert [(f["type"], f["seq"]) for f in first.history()] == [
                    ("reply", 1), ("user", 2), ("reply", 3)]
                _served(clean_redis, session, 2)
                await asyncio.sleep(1)
                # The start event was #1, the question #2; nothing else was enqueued.
                served = clean_redis.get(conversation_key(f"webchat:browser:{session}",
                                                          "served"))
                assert served == b"2"
                assert clean_redis.get(conversation_key(f"webchat:browser:{session}",
                                                        "seq")) == b"2"
        asyncio.run(scenario())
    finally:
        worker.stop()


def test_greet_on_start_false_keeps_the_bot_silent_until_spoken_to(
        gateway: GatewayProcess, clean_redis: redis.Redis, bot_model: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    bot = greeting_bot(tmp_path, greet_on_start=False)
    worker = start_worker(bot, bot_model, tmp_path / "worker.log", monkeypatch)
    try:
        async def scenario() -> None:
            async with browser_session() as http:
                browser = ChatClient(http, gateway.url)
                session = await browser.session()
                await browser.connect()
                _served(clean_redis, session, 1)  # the start event: served, in silence
                await browser.quiet(2)
                assert browser.history() == []
                asked = await browser.send(text="when do you open")
                answer = await browser.next_frame("reply", timeout=60)
                assert (answer["in_reply_to"], answer["text"]) == (asked, FIRST_HOURS)
        asyncio.run(scenario())
    finally:
        worker.stop()
