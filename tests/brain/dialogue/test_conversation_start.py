"""The bot's opening words when a conversation starts before the person writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from brain.actions import load_actions
from brain.bot import Bot
from brain.dialogue.domain_reader import load_domain
from brain.dialogue.engine import DialogueEngine
from brain.dialogue.events import SessionStarted, UserUttered
from brain.dialogue.rules import load_rules
from brain.errors import BotDataError
from brain.nlu.config import load_greet_on_start, load_nlu_config
from brain.validation import validate_bot
from tests.greeting_bot import FIRST_HOURS, GREETING, LATER_HOURS, greeting_bot

from .conftest import BOT, parse, texts


def _engine(bot: Path, **options: Any) -> DialogueEngine:
    return DialogueEngine(load_domain(bot), load_rules(bot), load_actions(bot), **options)


class _NluThatMustNotRun:
    """Stands in for the model: the conversation start has nothing to parse."""

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("NLU ran on the conversation start")


def _hours(n: int) -> UserUttered:
    return UserUttered(timestamp=2_000.0 + n, text="when do you open",
                       parse=parse("opening_hours", "when do you open"), message_id=f"m{n}")


def test_the_greeting_is_said_and_the_first_message_still_starts_the_conversation(
        tmp_path: Path) -> None:
    engine = _engine(greeting_bot(tmp_path))
    bot = Bot(_NluThatMustNotRun(), engine)  # type: ignore[arg-type]
    tracker = bot.new_tracker("test:start")
    opening = bot.start_conversation(tracker, channel="webchat", now=1_000.0)
    assert texts(opening) == [GREETING]
    assert opening.messages[0].buttons == ({"title": "Book a table", "payload": "/book_table"},)
    assert opening.actions == ("utter_conversation_start",)
    assert isinstance(tracker.events[0], SessionStarted)
    assert not any(isinstance(e, UserUttered) for e in tracker.events)  # no user turn
    # The rule with conversation_start: true answers the first real message ...
    assert texts(engine.handle(tracker, _hours(1))) == [FIRST_HOURS]
    # ... and only the first.
    assert texts(engine.handle(tracker, _hours(2))) == [LATER_HOURS]
    assert [e for e in tracker.events if isinstance(e, SessionStarted)] == [tracker.events[0]]


def test_a_bot_without_the_response_says_nothing_but_starts_the_session() -> None:
    bot = Bot(_NluThatMustNotRun(), _engine(BOT))  # type: ignore[arg-type]
    tracker = bot.new_tracker("test:silent")
    opening = bot.start_conversation(tracker, now=1_000.0)
    assert (opening.messages, opening.actions) == ((), ())
    assert [type(e) for e in tracker.events] == [SessionStarted]


def test_greet_on_start_false_keeps_the_bot_silent(tmp_path: Path) -> None:
    folder = greeting_bot(tmp_path, greet_on_start=False)
    assert load_greet_on_start(folder) is False
    assert load_nlu_config(folder) == load_nlu_config(BOT)  # not an NLU setting
    engine = _engine(folder, greet_on_start=load_greet_on_start(folder))
    tracker = Bot(_NluThatMustNotRun(), engine).new_tracker("test:off")  # type: ignore[arg-type]
    assert engine.start_conversation(tracker, now=1_000.0).messages == ()
    assert load_greet_on_start(BOT) is True  # the default, without a config.yml


@pytest.mark.parametrize("value", ["no", "1", "'false'", "[true]"])
def test_a_bad_greet_on_start_names_file_and_line(tmp_path: Path, value: str) -> None:
    (tmp_path / "config.yml").write_text(f"language: en\ngreet_on_start: {value}\n")
    for loader in (load_greet_on_start, load_nlu_config):
        with pytest.raises(BotDataError) as error:
            loader(tmp_path)
        assert str(error.value).startswith(f"{tmp_path / 'config.yml'}:2: 'greet_on_start': "
                                           "expected true or false, got ")


def test_the_greeting_response_counts_as_used(tmp_path: Path) -> None:
    report = validate_bot(greeting_bot(tmp_path))
    assert not [p for p in (*report.errors, *report.warnings)
                if "utter_conversation_start" in p.message]
