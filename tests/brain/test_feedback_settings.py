"""``feedback.yml``: where a bot asks for feedback; every defect named by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from brain.actions import load_actions
from brain.dialogue.domain_reader import load_domain
from brain.errors import BotDataError
from brain.feedback_settings import (
    DEFAULT_CHANNELS,
    FeedbackSettings,
    Question,
    load_feedback_settings,
    validate_feedback,
)
from tests.conftest import REPO

NAMES = {"utter_opening_hours", "utter_goodbye", "action_book"}


def _bot(tmp_path: Path, text: str) -> Path:
    (tmp_path / "feedback.yml").write_text(text, encoding="utf-8")
    return tmp_path


def test_no_file_asks_nothing(tmp_path: Path) -> None:
    assert load_feedback_settings(tmp_path) == FeedbackSettings()
    assert validate_feedback(tmp_path) == []


def test_a_full_file_is_read(tmp_path: Path) -> None:
    settings = load_feedback_settings(_bot(tmp_path, """\
helpful:
  after: [utter_opening_hours, action_book]
  channels: [telegram, web]
satisfaction:
  after: utter_goodbye
  question: "Rate us from 1 to 5"
thanks: "Thanks!"
"""), names=NAMES)
    assert settings.helpful == Question("Was this helpful?",
                                        frozenset({"utter_opening_hours", "action_book"}),
                                        frozenset({"telegram", "web"}))
    assert settings.satisfaction == Question("Rate us from 1 to 5", frozenset({"utter_goodbye"}),
                                             frozenset(DEFAULT_CHANNELS), after_handoff=True)
    assert settings.thanks == "Thanks!"


def test_every_defect_is_named_by_file_and_line(tmp_path: Path) -> None:
    bot = _bot(tmp_path, """\
helpful:
  after: [utter_opening_hours, utter_nothing]
  channels: [telegram, webchat, fax]
  asked: true
satisfaction:
  after_handoff: "yes"
  question: ""
thanks: 5
colour: blue
""")
    with pytest.raises(BotDataError) as caught:
        load_feedback_settings(bot, names=NAMES)
    shown = [str(p).removeprefix(f"{bot}/") for p in caught.value.problems]
    assert shown == [
        "feedback.yml:2: 'helpful': 'utter_nothing' is not a response or custom action of "
        "the bot (it would never be asked after)",
        "feedback.yml:3: 'helpful': the browser chat (webchat) is not asked: its widget "
        "shows thumbs on every bot reply",
        "feedback.yml:3: 'helpful': unknown channel 'fax' (channels: slack, telegram, "
        "whatsapp, web)",
        "feedback.yml:4: unknown key 'asked' in 'helpful' (allowed: after, question, channels)",
        "feedback.yml:6: 'satisfaction': 'after_handoff' must be true or false, got 'yes'",
        "feedback.yml:7: 'satisfaction': 'question' must be a text of 1 to 1000 characters, "
        "got ''",
        "feedback.yml:8: feedback.yml: 'thanks' must be a text of 1 to 1000 characters, got 5",
        "feedback.yml:9: unknown key 'colour' in feedback.yml (allowed: helpful, "
        "satisfaction, thanks)"]
    assert validate_feedback(bot, NAMES) == list(caught.value.problems)


@pytest.mark.parametrize("text, problem", [
    ("- helpful\n", "feedback.yml:1: feedback.yml must be a mapping"),
    ("helpful: [utter_x]\n", "feedback.yml:1: 'helpful' must be a mapping"),
    ("helpful: {question: Really}\n", "feedback.yml:1: 'helpful' needs 'after'"),
    ("helpful: {after: {a: 1}}\n", "feedback.yml:1: 'helpful': 'after' must be a list"),
    ("helpful:\n  after: [x]\n  after: [y]\n", "feedback.yml:3: duplicate key 'after'"),
])
def test_malformed_files_are_refused(tmp_path: Path, text: str, problem: str) -> None:
    bot = _bot(tmp_path, text)
    with pytest.raises(BotDataError) as caught:
        load_feedback_settings(bot)
    assert str(caught.value).removeprefix(f"{bot}/").startswith(problem), str(caught.value)


def test_a_misnamed_file_is_pointed_out(tmp_path: Path) -> None:
    (tmp_path / "feedback.yaml").write_text("thanks: hi\n")
    with pytest.raises(BotDataError, match=r"Parley reads feedback\.yml; rename this file"):
        load_feedback_settings(tmp_path)


def test_the_example_bot_marks_names_it_has() -> None:
    example = REPO / "examples" / "support_bot"
    domain = load_domain(example)
    names = {*domain.responses, *domain.actions, *load_actions(example)}
    settings = load_feedback_settings(example, names=names)
    assert settings.helpful is not None and settings.helpful.after
    assert settings.satisfaction is not None and settings.satisfaction.after_handoff
