"""The Telegram sender against the fake Bot API and real Redis: one attempt per ``send``,
errors classified for the dispatcher, parts never sent twice, long payloads kept."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
import redis
import redis.asyncio as aioredis
from telegram.constants import ParseMode
from telegram.error import BadRequest

from channels.errors import PermanentSendError, TransientSendError
from channels.models import Button, OutboundMessage
from channels.telegram.adapter import TelegramAdapter
from channels.telegram.bot import TelegramSetupError, connect, make_bot, redacted_logs
from channels.telegram.parse import BotIdentity
from channels.telegram.render import TEXT_LIMIT
from channels.telegram.state import TelegramState
from tests.fakes.telegram_api import BOT_ID, TOKEN, USERNAME, FakeTelegramApi
from tests.processes import REDIS_URL, clean_redis, free_port, redis_client  # noqa: F401

T = TypeVar("T")
USER_CHAT = 111111111
CONVERSATION = f"telegram:{BOT_ID}:{USER_CHAT}"
YES_NO = (Button("Yes", "/affirm"), Button("No", "/deny"))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegramApi]:
    # PTB 22 reads its deprecated int ``RetryAfter.retry_after`` while building the error
    # and warns unless this opts in to the coming timedelta (the sender reads both forms).
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    with FakeTelegramApi() as server:
        yield server


Scenario = Callable[[TelegramAdapter], Awaitable[T]]


def run(fake: FakeTelegramApi, scenario: Scenario[T], *, redis_url: str = REDIS_URL) -> T:
    """``scenario`` with an adapter whose bot talks to ``fake`` and keeps state in Redis."""
    async def main() -> T:
        bot = make_bot(TOKEN, fake.api_url)
        me = await connect(bot)
        client = aioredis.from_url(redis_url, socket_connect_timeout=1)
        try:
            adapter = TelegramAdapter(bot=bot, me=me, secret="s", state=TelegramState(client))
            return await scenario(adapter)
        finally:
            await client.aclose()
            await bot.shutdown()

    return asyncio.run(main())


def reply(text: str, *, buttons: tuple[Button, ...] = (), image: str | None = None,
          conversation: str = CONVERSATION, sequence: int = 1) -> OutboundMessage:
    return OutboundMessage(conversation_id=conversation, channel="telegram",
                           in_reply_to=f"{BOT_ID}:1", sequence=sequence, index=0, text=text,
                           buttons=buttons, image=image)


def sending(*messages: OutboundMessage) -> Scenario[None]:
    async def scenario(adapter: TelegramAdapter) -> None:
        for message in messages:
            await adapter.send(message)
    return scenario


def failure(fake: FakeTelegramApi, message: OutboundMessage) -> Exception:
    async def scenario(adapter: TelegramAdapter) -> Exception:
        try:
            await adapter.send(message)
        except Exception as exc:
            return exc
        raise AssertionError("send did not fail")
    return run(fake, scenario)


def markup(params: dict[str, Any]) -> Any:
    return json.loads(params["reply_markup"])


def test_connect_learns_the_bot_from_get_me(fake: FakeTelegramApi) -> None:
    async def identity(adapter: TelegramAdapter) -> BotIdentity:
        return adapter._me
    assert run(fake, identity) == BotIdentity(BOT_ID, USERNAME)
    assert [c.method for c in fake.calls] == ["getMe"]


def test_a_reply_with_buttons_is_an_html_message_with_an_inline_keyboard(
        fake: FakeTelegramApi, clean_redis: redis.Redis) -> None:
    run(fake, sending(reply("Shall I book it? Fish & chips <3", buttons=YES_NO)))
    [call] = fake.sent()
    assert call.method == "sendMessage"
    assert call.params["chat_id"] == str(USER_CHAT) and call.params["parse_mode"] == "HTML"
    assert call.params["text"] == "Shall I book it? Fish &amp; chips &lt;3"
    assert markup(call.params) == {"inline_keyboard": [[
        {"text": "Yes", "callback_data": "/affirm"}, {"text": "No", "callback_data": "/deny"}]]}
    assert not clean_redis.keys("parley:telegram:*")   # one part, short payloads: no state


def test_the_fake_refuses_unescaped_html_as_telegram_does(fake: FakeTelegramApi) -> None:
    async def raw(adapter: TelegramAdapter) -> None:
        await adapter._bot.send_message(USER_CHAT, "Fish & chips <3", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        run(fake, raw)


def test_a_forum_topic_reply_goes_to_its_topic(fake: FakeTelegramApi) -> None:
    run(fake, sending(reply("We open at 18:00.",
                            conversation=f"telegram:{BOT_ID}:-1009876543210:42")))
    [call] = fake.sent()
    assert (call.params["chat_id"], call.params["message_thread_id"]) == ("-1009876543210",
                                                                          "42")


def test_an_image_is_a_photo_with_the_text_as_caption(fake: FakeTelegramApi) -> None:
    run(fake, sending(reply("Our terrace", buttons=YES_NO, image="https://example.com/t.jpg")))
    [call] = fake.sent()
    assert call.method == "sendPhoto"
    assert (call.params["photo"], call.params["caption"]) == ("https://example.com/t.jpg",
                                                              "Our terrace")
    assert markup(call.params)["inline_keyboard"][0][0]["callback_data"] == "/affirm"


def test_a_429_is_transient_with_telegrams_delay_and_is_not_retried_by_the_sdk(
        fake: FakeTelegramApi) -> None:
    fake.fail_next(status=429, retry_after=7)
    error = failure(fake, reply("hello"))
    assert isinstance(error, TransientSendError) and error.retry_after == 7.0
    assert len(fake.calls_of("sendMessage")) == 1


@pytest.mark.parametrize("status", [500, 502])
def test_a_server_error_is_transient_without_a_delay(fake: FakeTelegramApi, status: int
                                                     ) -> None:
    fake.fail_next(status=status)
    error = failure(fake, reply("hello"))
    assert isinstance(error, TransientSendError) and error.retry_after is None
    assert len(fake.calls_of("sendMessage")) == 1


def test_an_unreachable_api_is_transient(fake: FakeTelegramApi) -> None:
    async def scenario(adapter: TelegramAdapter) -> Exception:
        adapter._bot._base_url = f"http://127.0.0.1:{free_port()}/bot{TOKEN}"  # gone
        try:
            await adapter.send(reply("hello"))
        except Exception as exc:
            return exc
        raise AssertionError("send did not fail")
    error = run(fake, scenario)
    assert isinstance(error, TransientSendError) and TOKEN not in str(error)


def test_a_blocked_bot_is_a_permanent_failure(fake: FakeTelegramApi) -> None:
    fake.blocked.add(USER_CHAT)
    error = failure(fake, reply("hello"))
    assert isinstance(error, PermanentSendError)
    assert "bot was blocked by the user" in str(error)


def test_a_reply_for_another_bot_or_chat_is_permanent(fake: FakeTelegramApi) -> None:
    assert isinstance(failure(fake, reply("x", conversation="telegram:42:1")),
                      PermanentSendError)
    assert isinstance(failure(fake, reply("x", conversation=f"telegram:{BOT_ID}:abc")),
                      PermanentSendError)
    assert isinstance(failure(fake, reply("  ", buttons=YES_NO)), PermanentSendError)
    assert fake.sent() == []


def test_a_long_reply_is_split_and_a_retry_sends_only_the_missing_parts(
        fake: FakeTelegramApi, clean_redis: redis.Redis) -> None:
    text = "\n".join(f"{n:05d} " + " ".join(["word"] * 18) for n in range(100))  # ~9,600
    message = reply(text, buttons=YES_NO)
    fake.fail_next(status=429, retry_after=1, after=1)       # the second part draws a 429
    error = failure(fake, message)
    assert isinstance(error, TransientSendError) and error.retry_after == 1.0
    assert len(fake.sent()) == 1
    run(fake, sending(message))                               # the dispatcher's retry
    parts = fake.sent()
    assert len(parts) == 3 and len(fake.calls_of("sendMessage")) == 4
    assert "\n".join(p.params["text"] for p in parts) == text
    assert all(len(p.params["text"]) <= TEXT_LIMIT for p in parts)
    assert ["reply_markup" in p.params for p in parts] == [False, False, True]
    run(fake, sending(message))                               # delivered: nothing again
    assert len(fake.sent()) == 3


def test_a_long_payload_travels_as_a_reference_kept_in_redis(
        fake: FakeTelegramApi, clean_redis: redis.Redis) -> None:
    payload = '/inform{"order_id": "ORD-55821", "reason": "the parcel arrived damaged"}'
    run(fake, sending(reply("Is this your order?", buttons=(Button("Yes", payload),))))
    data = markup(fake.sent()[0].params)["inline_keyboard"][0][0]["callback_data"]
    assert data.startswith("#p:") and len(data.encode()) <= 64
    assert clean_redis.ttl(f"parley:telegram:button:{data}") > 29 * 86400

    update = {"update_id": 9, "callback_query": {
        "id": "77", "from": {"id": USER_CHAT, "is_bot": False, "first_name": "Ada"},
        "chat_instance": "1", "data": data,
        "message": {"message_id": 1, "date": 0, "chat": {"id": USER_CHAT, "type": "private"}}}}

    async def press(adapter: TelegramAdapter) -> str | None:
        message = await adapter.resolve(adapter.parse(json.dumps(update).encode()))
        return None if message is None else message.payload
    assert run(fake, press) == payload
    clean_redis.delete(f"parley:telegram:button:{data}")      # expired
    assert run(fake, press) is None


def test_without_redis_a_multi_part_send_is_transient(fake: FakeTelegramApi) -> None:
    scenario = sending(reply("word " * 2000))
    with pytest.raises(TransientSendError, match="Redis unavailable"):
        run(fake, scenario, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    assert fake.sent() == []


def test_a_wrong_token_fails_to_connect_without_showing_it(fake: FakeTelegramApi) -> None:
    fake.token = TOKEN.replace("AAH", "BBH")
    with pytest.raises(TelegramSetupError) as caught:
        run(fake, sending())
    assert "rejected the bot token" in str(caught.value) and TOKEN not in str(caught.value)


def test_the_token_is_redacted_from_http_logs(fake: FakeTelegramApi,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with redacted_logs(TOKEN):
        run(fake, sending(reply("hello")))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/bot<token>/sendMessage" in logged and TOKEN not in logged
