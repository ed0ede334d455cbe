"""Planted personal data and planted secrets, at DEBUG, on every channel: the website
webhook, Slack, Telegram and WhatsApp (one conversation handed off to a person, so the
desk's tables hold a transcript too). Afterwards every line every process wrote (the
gateway with its archiver, the Celery worker and its children) and every row of every
table of the database are read: none holds a planted value in the clear.

The planted values are the ones a support chat sees: an email, a phone number, a card
number, an IBAN. The archive keeps them redacted (``[email]`` …; checked through the desk
API, which decrypts); the desk's transcript keeps them encrypted (an agent must read what
the person wrote)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from channels.secret_values import secret_values
from channels.slack.adapter import sign as slack_sign
from channels.web.adapter import sign as web_sign
from channels.whatsapp.adapter import sign as twilio_sign
from desk.database import database_url, upgrade
from tests.conftest import FIXTURES
from tests.e2e.desk_support import add_agent, archive_settled, every_row
from tests.fakes.callback_sink import CallbackSink
from tests.fakes.slack_api import FakeBot, FakeSlackApi
from tests.fakes.telegram_api import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.twilio_api import ACCOUNT_SID, BUSINESS, PERSON, TwilioApiFake, recorded
from tests.processes import GatewayProcess, WorkerProcess, encryption_env

EMAIL, PHONE = "planted.person@example.org", "+44 20 7946 0958"
CARD, IBAN = "4111 1111 1111 1111", "GB82 WEST 1234 5698 7654 32"
SAID = f"hello, my email is {EMAIL}, call {PHONE}, card {CARD}, iban {IBAN}"
# Every form in which a planted value could show: as typed, compacted, its distinctive part.
IN_THE_CLEAR = (EMAIL, "planted.person", PHONE, "7946 0958", "79460958", CARD,
                CARD.replace(" ", ""), IBAN, IBAN.replace(" ", ""), "WEST 1234")

WEB_SECRET, SESSION_SECRET = "planted-web-secret-9f2", "planted-session-secret-7a1c"
SLACK_SECRET, TEAM, SLACK_TOKEN = "planted-slack-signing-51e", "T0A1B2C3D", "xoxb-planted-77"
TELEGRAM_SECRET = "planted_telegram_secret_3"
TWILIO_TOKEN, PUBLIC = "planted-twilio-auth-token-e4", "https://bot.example.test"


@pytest.fixture
def platforms() -> Iterator[tuple[FakeSlackApi, FakeTelegramApi, TwilioApiFake, CallbackSink]]:
    with FakeSlackApi({SLACK_TOKEN: FakeBot(TEAM)}) as slack, FakeTelegramApi() as telegram, \
            TwilioApiFake(ACCOUNT_SID, TWILIO_TOKEN, BUSINESS) as twilio, \
            CallbackSink(WEB_SECRET) as sink:
        yield slack, telegram, twilio, sink


def _env(slack: FakeSlackApi, telegram: FakeTelegramApi, twilio: TwilioApiFake,
         sink: CallbackSink, url: str) -> dict[str, str]:
    return {
        "PARLEY_WEB_SECRET": WEB_SECRET, "PARLEY_WEB_CALLBACK_URL": sink.url,
        "PARLEY_SESSION_SECRET": SESSION_SECRET, "PARLEY_DATABASE_URL": url,
        "PARLEY_SLACK_SIGNING_SECRET": SLACK_SECRET,
        "PARLEY_SLACK_BOT_TOKENS": f"{TEAM}={SLACK_TOKEN}", "PARLEY_SLACK_API_URL": slack.api_url,
        "PARLEY_TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "PARLEY_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
        "PARLEY_TELEGRAM_API_URL": telegram.api_url,
        "PARLEY_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "PARLEY_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "PARLEY_WHATSAPP_FROM": f"whatsapp:{BUSINESS}", "PARLEY_WHATSAPP_PUBLIC_URL": PUBLIC,
        "PARLEY_TWILIO_API_URL": twilio.url,
    }


def _web(gateway: GatewayProcess, number: int, said: str) -> None:
    body = {"conversation_id": "planted", "user_id": "u-planted",
            "message_id": f"planted-{number}",
            **({"payload": said} if said.startswith("/") else {"text": said})}
    raw, stamp = json.dumps(body).encode(), str(int(time.time()))
    answer = requests.post(f"{gateway.url}/channels/web/messages", data=raw, timeout=10,
                           headers={"Content-Type": "application/json",
                                    "X-Parley-Timestamp": stamp,
                                    "X-Parley-Signature": web_sign(WEB_SECRET, stamp, raw)})
    assert answer.status_code == 202, answer.text


def _slack(gateway: GatewayProcess, said: str) -> None:
    body = json.loads((FIXTURES / "slack" / "message_im.json").read_text())
    body["event_id"] = "EvPLANTED1"
    body["event"].update(text=said, ts=f"{time.time():.6f}")
    raw, stamp = json.dumps(body), str(int(time.time()))
    answer = requests.post(f"{gateway.url}/channels/slack/events", data=raw.encode(),
                           timeout=10, headers={
                               "Content-Type": "application/json",
                               "X-Slack-Request-Timestamp": stamp,
                               "X-Slack-Signature": slack_sign(SLACK_SECRET, stamp, raw)})
    assert answer.status_code == 200, answer.text


def _telegram(gateway: GatewayProcess, said: str) -> None:
    update = json.loads((FIXTURES / "telegram" / "private_text.json").read_text())
    update["update_id"] = 990001
    update["message"].update(text=said, entities=[])
    answer = requests.post(f"{gateway.url}/channels/telegram", json=update, timeout=10,
                           headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
    assert answer.status_code == 200, answer.text


def _whatsapp(gateway: GatewayProcess, said: str) -> None:
    body = recorded("text_message", MessageSid=f"SM{7:032x}", Body=said,
                    From=f"whatsapp:{PERSON}", WaId=PERSON.lstrip("+"))
    path = "/channels/whatsapp"
    answer = requests.post(gateway.url + path, data=body, timeout=10, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_sign(TWILIO_TOKEN, PUBLIC + path, body)})
    assert answer.status_code == 200, answer.text


def test_planted_personal_data_and_secrets_are_in_no_log_line_and_no_row(
        platforms: tuple[FakeSlackApi, FakeTelegramApi, TwilioApiFake, CallbackSink],
        clean_redis: redis.Redis, bot_model: Path, tmp_path: Path) -> None:
    slack, telegram, twilio, sink = platforms
    db_path = tmp_path / "desk.db"
    url = f"sqlite:///{db_path}"
    asyncio.run(upgrade(database_url(url, tmp_path)))
    env = _env(slack, telegram, twilio, sink, url)
    worker = WorkerProcess(bot_model, tmp_path / "worker.log", log_level="DEBUG")
    gateway = GatewayProcess(tmp_path / "gateway.log", env, verbose=True)
    twilio.callback_target = gateway.url
    try:
        _web(gateway, 1, SAID)
        _web(gateway, 2, "/talk_to_human")
        _web(gateway, 3, SAID)  # handed off: the agent's transcript shows it
        _slack(gateway, SAID)
        _telegram(gateway, SAID)
        _whatsapp(gateway, SAID)
        sink.wait_for(2, timeout=60)
        slack.wait_for_posts(1, timeout=60)
        telegram.wait_for_sent(1, timeout=60)
        twilio.wait_for(1, timeout=60)
        deadline = time.monotonic() + 60
        while not archive_settled(clean_redis) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert archive_settled(clean_redis)

        _, token = add_agent(url, "dpo@example.com", role="admin")
        review = requests.get(f"{gateway.url}/desk/api/review", params={"limit": 200},
                              headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert review.status_code == 200, review.text
        shown = json.dumps(review.json())
        assert "[email]" in shown and "[card]" in shown and "[iban]" in shown
    finally:
        gateway.stop()
        worker.stop()

    logs = {path.name: path.read_text(errors="replace")
            for path in (tmp_path / "gateway.log", tmp_path / "worker.log")}
    assert "DEBUG" in logs["gateway.log"] and "DEBUG" in logs["worker.log"]
    rows = every_row(db_path)
    assert "planted" in rows  # the web conversation's id: the rows were read
    secrets = secret_values(encryption_env(env))
    assert SLACK_TOKEN in secrets and TELEGRAM_TOKEN in secrets
    for name, text in logs.items():
        for value in (*IN_THE_CLEAR, *secrets):
            assert value not in text, f"{value!r} is in {name}"
    for value in IN_THE_CLEAR:
        assert value not in rows, f"{value!r} is in the database"
