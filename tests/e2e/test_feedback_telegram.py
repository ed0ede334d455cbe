"""Telegram feedback end to end: a bot folder whose ``feedback.yml`` marks a response asks
"Was this helpful?" after it with inline buttons; pressing one (a callback query through
the real gateway to the real worker) is archived as a rating of that reply, with no NLU
parse and no user event, and thanked."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from tests.conftest import FIXTURES
from tests.e2e.test_telegram_channel import (  # noqa: F401  (fake, gateway: fixtures)
    as_telegram_would,
    button_press,
    fake,
    gateway,
    post,
    text_update,
    texts,
)
from tests.fakes.telegram_api import FakeTelegramApi
from tests.processes import GatewayProcess, WorkerProcess
from workers.bus import ARCHIVE_STREAM

FEEDBACK = """\
helpful:
  after: [utter_opening_hours]
  channels: [telegram]
satisfaction:
  after_handoff: true
thanks: "Thanks for your feedback!"
"""


@pytest.fixture
def asking_worker(bot_model: Path, clean_redis: redis.Redis, tmp_path: Path
                  ) -> Iterator[WorkerProcess]:
    bot = tmp_path / "asking_bot"
    shutil.copytree(FIXTURES / "bots" / "dialogue_bot", bot,
                    ignore=shutil.ignore_patterns("__pycache__", "models"))
    (bot / "feedback.yml").write_text(FEEDBACK, encoding="utf-8")
    process = WorkerProcess(bot_model, tmp_path / "worker.log", bot=bot)
    yield process
    process.stop()


def archived(client: redis.Redis) -> list[dict[str, Any]]:
    entries = cast(list[Any], client.xrange(ARCHIVE_STREAM))
    return [json.loads(fields[b"record"]) for _, fields in entries]


def test_a_marked_reply_asks_was_this_helpful_and_the_pressed_button_is_a_rating(
        gateway: GatewayProcess, asking_worker: WorkerProcess, fake: FakeTelegramApi,
        clean_redis: redis.Redis) -> None:
    assert post(gateway, text_update("/opening_hours")).status_code == 200
    sent = fake.wait_for_sent(2, timeout=60)
    assert texts(sent) == ["We open at 18:00.", "Was this helpful?"]
    keyboard = json.loads(sent[1].params["reply_markup"])["inline_keyboard"]
    buttons = {b["text"]: b["callback_data"] for row in keyboard for b in row}
    assert list(buttons) == ["👍 Yes", "👎 No"] and len(keyboard) == 1  # one row
    asked = archived(clean_redis)[0]
    assert [r["text"] for r in asked["replies"]] == ["We open at 18:00.", "Was this helpful?"]

    press = post(gateway, button_press(buttons["👎 No"]))
    assert press.status_code == 200 and press.json()["method"] == "answerCallbackQuery"
    as_telegram_would(fake, press)                     # the spinner stops
    assert texts(fake.wait_for_sent(3, timeout=60))[2] == "Thanks for your feedback!"

    rating = archived(clean_redis)[1]
    assert rating["kind"] == "feedback" and rating["channel"] == "telegram"
    assert rating["feedback"] == {"kind": "thumbs", "value": 0, "comment": "",
                                  "about_sequence": asked["sequence"], "about_position": 0}
    assert rating["parse"] is None
    assert [e["type"] for e in rating["events"]] == ["bot"]  # the thanks; no user event
    assert [r["text"] for r in rating["replies"]] == ["Thanks for your feedback!"]

    # The next message is understood as usual: the rating left the dialogue alone.
    assert post(gateway, text_update("/greet")).status_code == 200
    assert texts(fake.wait_for_sent(4, timeout=60))[3] in ("Hello!", "Hi there!")
    time.sleep(0.5)
    assert len(fake.sent()) == 4  # /greet is not marked: nothing asked after it
