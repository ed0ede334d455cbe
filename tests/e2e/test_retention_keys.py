"""Every key Parley writes expires (``workers.retention``), seen on a real run of every
channel at once: the website webhook, the browser chat, Slack, Telegram and WhatsApp, and a
handoff that an agent closes beside one still waiting. Before the database is emptied, the
scan finds the per-conversation keys of every kind — each with the retention the gateway and
the worker were given (``PARLEY_RETENTION_DAYS=2``) — and no key without an expiry but the
documented global ones and the open handoff's (the conftest's scan then runs again)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.e2e.key_expiry import families, keys_without_expiry
from tests.e2e.test_slack_channel import dm
from tests.e2e.test_slack_channel import post as slack_post
from tests.e2e.test_telegram_channel import post as telegram_post
from tests.e2e.test_telegram_channel import text_update
from tests.e2e.test_web_webhook import _message as web_message
from tests.e2e.test_web_webhook import _post as web_post
from tests.e2e.test_whatsapp_channel import _post as whatsapp_post
from tests.e2e.test_whatsapp_channel import _said
from tests.fakes.all_platforms import (
    PUBLIC,
    SLACK_SECRET,
    SLACK_TOKEN,
    TEAM,
    TELEGRAM_SECRET,
    TWILIO_TOKEN,
    WEB_SECRET,
)
from tests.fakes.callback_sink import CallbackSink
from tests.fakes.slack_api import FakeBot, FakeSlackApi
from tests.fakes.telegram_api import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.twilio_api import ACCOUNT_SID, BUSINESS, TwilioApiFake
from tests.processes import GatewayProcess, WorkerProcess
from workers.bus import conversation_key, desk_key

from .desk_support import DeskApi, add_agent, desk_database
from .webchat_client import ChatClient, browser_session

pytestmark = pytest.mark.timeout(300)
RETENTION = 2 * 86400
# What a conversation leaves after its turns (a browser chat also its outbox).
STATE = {"conv:seq", "conv:served", "conv:tracker", "conv:events", "conv:outseq",
         "conv:owner", "conv:outbox", "conv:outbox_seq", "conv:delivered"}


class Fakes:
    def __init__(self, slack: FakeSlackApi, telegram: FakeTelegramApi, twilio: TwilioApiFake,
                 sink: CallbackSink) -> None:
        self.slack, self.telegram, self.twilio, self.sink = slack, telegram, twilio, sink


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with FakeSlackApi({SLACK_TOKEN: FakeBot(TEAM)}) as slack, FakeTelegramApi() as telegram, \
            TwilioApiFake(ACCOUNT_SID, TWILIO_TOKEN, BUSINESS) as twilio, \
            CallbackSink(WEB_SECRET) as sink:
        yield Fakes(slack, telegram, twilio, sink)


def _env(fakes: Fakes, database: str) -> dict[str, str]:
    return {"PARLEY_WEB_SECRET": WEB_SECRET, "PARLEY_WEB_CALLBACK_URL": fakes.sink.url,
            "PARLEY_SESSION_SECRET": "retention-test-session-secret",
            "PARLEY_SLACK_SIGNING_SECRET": SLACK_SECRET,
            "PARLEY_SLACK_BOT_TOKENS": f"{TEAM}={SLACK_TOKEN}",
            "PARLEY_SLACK_API_URL": fakes.slack.api_url,
            "PARLEY_TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
            "PARLEY_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
            "PARLEY_TELEGRAM_API_URL": fakes.telegram.api_url,
            "PARLEY_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "PARLEY_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "PARLEY_WHATSAPP_FROM": f"whatsapp:{BUSINESS}", "PARLEY_WHATSAPP_PUBLIC_URL": PUBLIC,
            "PARLEY_TWILIO_API_URL": fakes.twilio.url, "PARLEY_DATABASE_URL": database,
            "PARLEY_RETENTION_DAYS": "2"}


def _eventually(check: object, timeout: float = 30) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _platforms(gateway: GatewayProcess, fakes: Fakes) -> None:
    """A conversation on each messaging platform and on the website's webhook."""
    assert web_post(gateway, web_message("site-1", 1, "/opening_hours"),
                    secret=WEB_SECRET).status_code == 202
    fakes.sink.wait_for(1, timeout=60)
    assert telegram_post(gateway, text_update("/book_table"),
                         secret=TELEGRAM_SECRET).status_code == 200
    fakes.telegram.wait_for_sent(1, timeout=60)
    assert slack_post(gateway, dm("Ev0RETAIN1", "hi"), secret=SLACK_SECRET).status_code == 200
    fakes.slack.wait_for_posts(1, timeout=60)
    fakes.twilio.statuses = ("sent", "delivered")
    fakes.twilio.callback_target = gateway.url
    # The third answer offers buttons: a numbered list, remembered as the choices.
    for number, text in enumerate(("/book_table", '/inform{"guests": 2}',
                                   '/inform{"name": "Ada"}'), start=1):
        assert whatsapp_post(gateway, _said(number, text),
                             token=TWILIO_TOKEN).status_code == 200
        fakes.twilio.wait_for(number, timeout=60)


async def _chats_and_handoffs(gateway: GatewayProcess, token: str) -> tuple[str, str]:
    """A browser chat; one handed off, answered and closed; one left waiting. The handoff
    ids: (closed, waiting)."""
    async with browser_session() as http:
        agent = DeskApi(http, gateway.url, token)
        await agent.online()
        chat = ChatClient(http, gateway.url)
        await chat.connect()
        await chat.send(payload="/greet")
        await chat.replies(1)
        helped = ChatClient(http, gateway.url)
        await helped.connect()
        await helped.send(text="human please")
        await helped.next_frame("reply")
        (first,) = await agent.waiting()
        await agent.ok("POST", f"/handoffs/{first['id']}/claim")
        assert (await agent.reply(first["id"], "Hello, I can help."))[0] == 202
        assert (await helped.next_frame("reply"))["text"] == "Hello, I can help."
        await agent.ok("POST", f"/handoffs/{first['id']}/close", {})
        await helped.next_frame("reply")  # the bot has the conversation again
        waiting = ChatClient(http, gateway.url)
        await waiting.connect()
        await waiting.send(text="human please")
        await waiting.next_frame("reply")
        async with asyncio.timeout(20):
            while not (queued := [h for h in await agent.waiting() if h["id"] != first["id"]]):
                await asyncio.sleep(0.1)
        return first["id"], queued[0]["id"]


def test_every_key_of_every_channel_expires_but_the_global_ones_and_an_open_handoffs(
        fakes: Fakes, clean_redis: redis.Redis, bot_model: Path, tmp_path: Path) -> None:
    database = desk_database(tmp_path)
    _, token = add_agent(database, "ada@example.com")
    worker = WorkerProcess(bot_model, tmp_path / "worker.log",
                           env={"PARLEY_RETENTION_DAYS": "2"})
    gateway = GatewayProcess(tmp_path / "gateway.log", _env(fakes, database))
    try:
        _platforms(gateway, fakes)
        closed, waiting = asyncio.run(_chats_and_handoffs(gateway, token))
        _eventually(lambda: not clean_redis.keys("parley:conv:*:outq"))  # all delivered
    finally:
        gateway.stop()
        worker.stop()

    assert keys_without_expiry(clean_redis) == []
    seen = families(clean_redis)
    missing = STATE | {"dedupe:web", "dedupe:webchat", "dedupe:telegram", "dedupe:slack",
                       "dedupe:whatsapp", "dedupe:desk", "whatsapp:sent", "whatsapp:choices",
                       "desk:handoff"}
    assert missing - seen.keys() == set(), seen
    # The conversations' keys expire with the retention both processes were given ...
    held = clean_redis.hget(desk_key("handoff", waiting), "conversation_id")
    assert held is not None
    for raw in clean_redis.scan_iter(match="parley:conv:*", count=1000):
        key, ttl = raw.decode(), clean_redis.ttl(raw)
        if key.startswith(conversation_key(held.decode(), "")):
            continue
        assert 0 < ttl <= RETENTION, (key, ttl)
        if key.rsplit(":", 1)[-1] in ("seq", "served", "tracker", "events", "owner"):
            assert ttl > RETENTION - 600, (key, ttl)
    # ... the closed handoff's record too; the waiting one's conversation and record do not.
    assert 0 < clean_redis.ttl(desk_key("handoff", closed)) <= RETENTION
    assert clean_redis.ttl(desk_key("handoff", waiting)) == -1
    assert clean_redis.ttl(conversation_key(held.decode(), "seq")) == -1
    assert clean_redis.zscore(desk_key("closed"), closed) is not None
