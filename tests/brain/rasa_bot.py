"""The Rasa-tutorial fixture bot (``tests/fixtures/bots/rasa_sdk_bot``) for the tests of
Rasa actions, in-process and on an action server: its engine, a Bot that reads button
payloads only (the tests send ``/intent{"entity": "value"}``, so no model is trained),
and its conversation tests."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from brain.bot import Bot, load_engine
from brain.conversation_tests import load_stories, run_story
from tests.conftest import FIXTURES

RASA_BOT = FIXTURES / "bots" / "rasa_sdk_bot"
# rasa_sdk 3.16's sanic 22.12 imports a module websockets 11+ deprecates; harmless, and
# hidden outside tests (Python shows DeprecationWarning only in __main__).
SANIC_WEBSOCKETS = ("ignore:websockets.connection was renamed to websockets.protocol"
                    ":DeprecationWarning")


class PayloadsOnly:
    """Stands in for the NLU model: every message of these tests is a button payload,
    which ``Bot.respond`` parses without the model."""

    config = SimpleNamespace(timezone="Europe/Berlin")

    def parse(self, text: str, **_: Any) -> dict[str, Any]:
        raise AssertionError(f"not a payload: {text!r}")


def rasa_bot(bot_dir: Path = RASA_BOT) -> Bot:
    return Bot(PayloadsOnly(), load_engine(bot_dir))  # type: ignore[arg-type]


def story_failures(bot: Bot, bot_dir: Path = RASA_BOT) -> dict[str, list[str]]:
    return {story.name: run_story(bot, story).failures for story in load_stories(bot_dir)}
