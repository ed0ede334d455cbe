"""The fixture bot's Rasa actions on a real action server (``python -m rasa_sdk``): the
same conversations as in-process, the same Tracker seen, a slow server costs one apology,
a stopped one an apology per message until the breaker fails the calls at once."""

from __future__ import annotations

import ast
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from brain.bot import Bot
from tests.brain.rasa_bot import SANIC_WEBSOCKETS, rasa_bot, story_failures
from tests.integrations.rasa_action_server import RasaActionServer, remote_copy

pytestmark = pytest.mark.filterwarnings(SANIC_WEBSOCKETS)
APOLOGY = "Sorry, our order system is not answering right now."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RasaActionServer]:
    running = RasaActionServer(tmp_path_factory.mktemp("actions") / "server.log")
    logging.getLogger("tests").info("action server started in %.2f s", running.started_in)
    yield running
    running.stop()


@pytest.fixture
def remote(server: RasaActionServer, tmp_path: Path) -> Bot:
    return rasa_bot(remote_copy(tmp_path, server.url))


def test_the_tutorial_bot_passes_its_conversation_tests_on_the_action_server(
        remote: Bot, tmp_path: Path) -> None:
    assert not (tmp_path / "remote_bot" / "actions").exists()  # nothing runs in-process
    failures = story_failures(remote, tmp_path / "remote_bot")
    assert failures == {name: [] for name in failures} and len(failures) == 4


def test_an_action_sees_the_same_tracker_on_the_server_as_in_process(remote: Bot) -> None:
    seen = []
    for bot in (remote, rasa_bot()):
        tracker = bot.new_tracker("telegram:bot1:42")
        bot.respond(tracker, '/check_order{"order_id": "ORD-1001"}', now=1_000.0,
                    channel="telegram", message_id="m1")
        turn = bot.respond(tracker, "/debug", now=1_010.0, channel="telegram",
                           message_id="m2")
        seen.append(ast.literal_eval(turn.messages[0].text))
    assert seen[0] == seen[1] and seen[0]["order_id"] == "ORD-1001"


def test_a_slow_action_server_costs_one_apology_not_a_stuck_conversation(
        remote: Bot, caplog: pytest.LogCaptureFixture) -> None:
    tracker = remote.new_tracker("web:s:slow")
    begun = time.monotonic()
    with caplog.at_level(logging.WARNING):
        turn = remote.respond(tracker, "/slow", now=1_000.0)
    took = time.monotonic() - begun
    # endpoints.yml says timeout: 0.5; the action sleeps 2 s; a read timeout is not retried
    assert [m.text for m in turn.messages] == [APOLOGY] and 0.5 <= took < 1.5
    assert "action action_slow failed: action_server: timed out (after 1 attempts)" in (
        caplog.text) and "retrying" not in caplog.text
    after = remote.respond(tracker, "/greet", now=1_010.0)
    assert [m.text for m in after.messages] == ["Hi! I can check an order or start a return."]


def test_a_stopped_action_server_apologises_then_the_breaker_fails_fast(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stopped = RasaActionServer(tmp_path / "server.log")
    bot = rasa_bot(remote_copy(tmp_path, stopped.url))
    tracker = bot.new_tracker("web:s:down")
    assert [m.text for m in bot.respond(tracker, "/greet", now=1.0).messages] == [
        "Hi! I can check an order or start a return."]
    stopped.stop()
    replies, attempts = [], []
    for n in range(4):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            turn = bot.respond(tracker, '/check_order{"order_id": "ORD-1001"}', now=10.0 + n)
        replies.append([m.text for m in turn.messages])
        attempts.append(sum("retrying" in r.getMessage() for r in caplog.records))
    assert replies == [[APOLOGY]] * 4
    # connection refused is retried once (nothing can have reached the server); from the
    # third failure on the breaker is open: the fourth call makes no attempt at all
    assert attempts == [1, 1, 1, 0]
    assert "circuit open after repeated failures" in caplog.text
    assert tracker.slots["order_status"] is None  # nothing of the failed actions applied
