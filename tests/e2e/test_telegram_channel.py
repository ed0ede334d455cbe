"""Telegram end to end: signed updates into the real gateway, the real worker answering,
replies arriving at the fake Bot API, as Telegram would carry them."""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from channels.telegram.adapter import SECRET_HEADER
from tests.conftest import FIXTURES, REPO
from tests.fakes.telegram_api import BOT_ID, TOKEN, Call, FakeTelegramApi
from tests.processes import REDIS_URL, GatewayProcess, WorkerProcess, free_port
from workers.bus import INBOUND_QUEUE

SECRET = "e2e_telegram-secret"
ADA = 111111111
GROUP = -1001234567890
_ids = itertools.count(700000001)


@pytest.fixture
def fake() -> Iterator[FakeTelegramApi]:
    with FakeTelegramApi() as server:
        yield server


@pytest.fixture
def gateway(fake: FakeTelegramApi, clean_redis: redis.Redis, tmp_path: Path
            ) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path / "gateway.log", {
        "PARLEY_TELEGRAM_BOT_TOKEN": TOKEN, "PARLEY_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "PARLEY_TELEGRAM_API_URL": fake.api_url})
    yield process
    process.stop()


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "telegram" / f"{name}.json").read_text(
        encoding="utf-8"))
    return data


def text_update(text: str, *, template: str = "private_text") -> dict[str, Any]:
    """A recorded message update with a new ``update_id`` and ``text`` (a leading command
    gets its ``bot_command`` entity, as Telegram marks it)."""
    update = copy.deepcopy(fixture(template))
    update["update_id"] = next(_ids)
    message = update["message"]
    message["text"] = text
    command = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
    message["entities"] = ([{"offset": 0, "length": command.end(), "type": "bot_command"}]
                           if command else [])
    return update


def button_press(data: str) -> dict[str, Any]:
    update = copy.deepcopy(fixture("callback_query"))
    update["update_id"] = next(_ids)
    update["callback_query"]["id"] = f"cbq-{update['update_id']}"
    update["callback_query"]["data"] = data
    return update


def post(gateway: GatewayProcess, update: dict[str, Any] | bytes, *, secret: str | None = SECRET
         ) -> requests.Response:
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    return requests.post(gateway.url + "/channels/telegram", data=body, headers=headers,
                         timeout=10)


def as_telegram_would(fake: FakeTelegramApi, response: requests.Response) -> None:
    """Telegram performs the method call a webhook returns in its response body."""
    call = response.json()
    method = call.pop("method")
    result = requests.post(f"{fake.api_url}{TOKEN}/{method}", json=call, timeout=5)
    assert result.json() == {"ok": True, "result": True}


def texts(calls: list[Call]) -> list[str]:
    return [c.params["text"] for c in calls]


def metrics(gateway: GatewayProcess) -> str:
    return requests.get(gateway.url + "/metrics", timeout=5).text


def test_a_private_conversation_books_a_table_with_a_button_click(
        gateway: GatewayProcess, worker: WorkerProcess, fake: FakeTelegramApi) -> None:
    for text in ["/start", "/book_table", '/inform{"guests": 2}', '/inform{"name": "Ada"}']:
        response = post(gateway, text_update(text))
        assert (response.status_code, response.text) == (200, "")
    sent = fake.wait_for_sent(4, timeout=60)
    assert texts(sent)[0] in ("Hello!", "Hi there!")          # /start is the greeting
    assert texts(sent)[1:] == ["For how many people?", "Under which name?",
                               "A table for 2.0 under Ada. Shall I book it?"]
    assert {c.params["chat_id"] for c in sent} == {str(ADA)}
    keyboard = json.loads(sent[3].params["reply_markup"])["inline_keyboard"]
    buttons = {b["text"]: b["callback_data"] for row in keyboard for b in row}
    assert buttons == {"Yes": "/affirm", "No": "/deny"}

    click = post(gateway, button_press(buttons["Yes"]))
    assert click.status_code == 200
    press = click.json()
    assert press["method"] == "answerCallbackQuery" and press["callback_query_id"].startswith(
        "cbq-")
    as_telegram_would(fake, click)                               # the spinner stops
    assert post(gateway, text_update("when do you open")).status_code == 200
    sent = fake.wait_for_sent(6, timeout=60)
    assert texts(sent)[4].startswith("Booked: BK-")
    assert texts(sent)[5] == "We open at 18:00."
    assert len(fake.calls_of("answerCallbackQuery", ok=True)) == 1
    report = metrics(gateway)
    assert 'parley_telegram_updates_total{kind="command"} 4.0' in report
    assert 'parley_telegram_updates_total{kind="callback_query"} 1.0' in report
    assert 'parley_replies_delivered_total{channel="telegram"} 6.0' in report


def test_groups_take_commands_mentions_and_replies_meant_for_the_bot(
        gateway: GatewayProcess, worker: WorkerProcess, fake: FakeTelegramApi,
        clean_redis: redis.Redis) -> None:
    skipped = [text_update("lunch anyone?", template="group_chatter"),
               text_update("/opening_hours@OtherBot", template="group_command_for_me")]
    for update in skipped:
        assert post(gateway, update).status_code == 200
    assert clean_redis.llen(INBOUND_QUEUE) == 0
    taken = [text_update("/opening_hours@ParleyTestBot", template="group_command_for_me"),
             text_update("@ParleyTestBot when do you open", template="forum_topic_mention")]
    taken[1]["message"]["entities"] = [{"offset": 0, "length": 14, "type": "mention"}]
    for update in taken:
        assert post(gateway, update).status_code == 200
    sent = fake.wait_for_sent(2, timeout=60)
    by_chat = {c.params["chat_id"]: c.params for c in sent}
    assert by_chat[str(GROUP)]["text"] == "We open at 18:00."
    topic = by_chat["-1009876543210"]
    assert (topic["text"], topic["message_thread_id"]) == ("We open at 18:00.", "42")
    assert len(sent) == 2


def test_a_redelivered_update_is_answered_once(
        gateway: GatewayProcess, worker: WorkerProcess, fake: FakeTelegramApi,
        clean_redis: redis.Redis) -> None:
    update = text_update("/opening_hours")
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: post(gateway, update), range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    sent = fake.wait_for_sent(1, timeout=60)
    time.sleep(1)
    assert texts(fake.sent()) == ["We open at 18:00."] and len(sent) == 1
    assert clean_redis.keys("parley:dedupe:*") == [
        f"parley:dedupe:telegram:{BOT_ID}:{update['update_id']}".encode()]
    report = metrics(gateway)
    assert 'parley_inbound_messages_total{channel="telegram",outcome="accepted"} 1.0' in report
    assert 'parley_inbound_messages_total{channel="telegram",outcome="duplicate"} 3.0' in report


@pytest.mark.parametrize(("secret", "body", "status"), [
    ("forged-secret", None, 401), (None, None, 401), ("", None, 401),
    (SECRET.upper(), None, 401), (SECRET, b'{"update_id": ', 400),
    (SECRET, b'{"update_id": 5, "message": {"message_id": 1}}', 400)])
def test_a_forged_or_missing_secret_or_a_malformed_update_enqueues_nothing(
        gateway: GatewayProcess, fake: FakeTelegramApi, clean_redis: redis.Redis,
        secret: str | None, body: bytes | None, status: int) -> None:
    response = post(gateway, body if body is not None else text_update("/greet"),
                    secret=secret)
    assert response.status_code == status
    assert "error" in response.json()
    assert SECRET not in response.text
    assert clean_redis.llen(INBOUND_QUEUE) == 0
    assert not clean_redis.keys("parley:dedupe:*") and not clean_redis.keys("parley:conv:*")


def test_a_429_is_retried_no_earlier_than_telegram_said(
        gateway: GatewayProcess, worker: WorkerProcess, fake: FakeTelegramApi) -> None:
    fake.fail_next(status=429, retry_after=6)  # longer than the dispatcher's own backoff (5 s)
    assert post(gateway, text_update("/opening_hours")).status_code == 200
    fake.wait_for_sent(1, timeout=60)
    attempts = fake.calls_of("sendMessage")
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 6.0
    assert texts(fake.sent()) == ["We open at 18:00."]


def test_updates_the_bot_does_not_take_are_answered_200_and_skipped(
        gateway: GatewayProcess, fake: FakeTelegramApi, clean_redis: redis.Redis) -> None:
    for name in ["edited_message", "my_chat_member", "sticker", "group_chatter",
                 "group_command_for_other_bot"]:
        response = post(gateway, fixture(name))
        assert (response.status_code, response.text) == (200, ""), name
    unknown = post(gateway, {"update_id": 5, "business_message": {"message_id": 1}})
    assert (unknown.status_code, unknown.text) == (200, "")
    inline = post(gateway, fixture("callback_query_inline"))    # no chat: only answered
    assert inline.json() == {"method": "answerCallbackQuery",
                             "callback_query_id": "4382bfdwdsb323b2e0"}
    expired = post(gateway, button_press("#p:no-such-reference"))
    assert expired.json()["text"].startswith("This button has expired")
    as_telegram_would(fake, expired)
    assert clean_redis.llen(INBOUND_QUEUE) == 0
    assert not clean_redis.keys("parley:dedupe:*")
    report = metrics(gateway)
    assert 'parley_telegram_updates_total{kind="ignored"} 7.0' in report
    assert 'parley_telegram_updates_total{kind="expired_button"} 1.0' in report


@pytest.mark.parametrize(("token", "api", "said"), [
    (TOKEN.replace("AAH", "BBH"), None, "Telegram rejected the bot token "
                                        "(PARLEY_TELEGRAM_BOT_TOKEN): Unauthorized"),
    (TOKEN, "http://127.0.0.1:{port}/bot", "getMe failed: the Telegram API at "
                                           "http://127.0.0.1:{port}/bot<token> did not answer")])
def test_a_gateway_that_cannot_reach_its_bot_stops_with_one_line(
        fake: FakeTelegramApi, token: str, api: str | None, said: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(PARLEY_REDIS_URL=REDIS_URL, PARLEY_PORT=str(free_port()),
               PARLEY_TELEGRAM_BOT_TOKEN=token, PARLEY_TELEGRAM_WEBHOOK_SECRET=SECRET,
               PARLEY_TELEGRAM_API_URL=api.format(port=port) if api else fake.api_url)
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "gateway"], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()       # nothing else opened, nothing leaked
    assert line.startswith("parley: error: " + said.format(port=port))
    assert token not in result.stdout + result.stderr
