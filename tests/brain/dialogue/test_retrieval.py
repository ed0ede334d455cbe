"""``utter_faq``: the rule ``intent: faq → action: utter_faq`` sends the response of the
sub-intent the NLU selected; without one the turn takes the action-failed path."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from brain.actions import load_actions
from brain.bot import Bot, parse_payload
from brain.conversation_tests import load_stories, run_story
from brain.dialogue.domain_reader import load_domain
from brain.dialogue.engine import DialogueEngine
from brain.dialogue.events import ActionFailed, UserUttered
from brain.dialogue.rules import load_rules
from brain.dialogue.tracker import Tracker
from brain.nlu import load_nlu_config, load_training_data, train_model
from tests.conftest import FIXTURES

FAQ_BOT = FIXTURES / "bots" / "faq_bot"
HOURS = "We are open 9:00 to 18:00, Monday to Saturday."


def _engine(bot: Path = FAQ_BOT) -> DialogueEngine:
    return DialogueEngine(load_domain(bot), load_rules(bot), load_actions(bot))


def _selected(intent: str, key: str | None) -> dict[str, Any]:
    """A parse as the NLU writes it: ``intent``, and ``key`` selected under it."""
    parse: dict[str, Any] = {"text": "x", "intent": {"name": intent, "confidence": 0.9},
                             "intent_ranking": [{"name": intent, "confidence": 0.9}],
                             "entities": [], "nlu_fallback": False, "ambiguous": False,
                             "fallback_reason": None,
                             "response_selector": {"all_retrieval_intents": [intent]}}
    if key is not None:
        parse["response_selector"][intent] = {
            "response": {"responses": [], "confidence": 0.8, "intent_response_key": key,
                         "utter_action": f"utter_{key}"},
            "ranking": [{"confidence": 0.8, "intent_response_key": key}]}
    return parse


def _say(engine: DialogueEngine, parse: dict[str, Any]) -> tuple[Any, Tracker]:
    tracker = Tracker("test:faq", engine.domain.initial_slots())
    turn = engine.handle(tracker, UserUttered(timestamp=1.0, text="x", parse=parse,
                                              message_id="m1"))
    return turn, tracker


def test_the_rule_sends_the_selected_sub_intents_response() -> None:
    turn, tracker = _say(_engine(), _selected("faq", "faq/ask_hours"))
    assert turn.actions == ("utter_faq",)
    assert [(m.text, m.response) for m in turn.messages] == [(HOURS, "utter_faq/ask_hours")]
    assert not any(isinstance(e, ActionFailed) for e in tracker.events)


def test_each_retrieval_intent_answers_from_its_own_selection() -> None:
    parse = _selected("chitchat", "chitchat/ask_name")
    parse["response_selector"]["faq"] = _selected("faq", "faq/ask_hours")[
        "response_selector"]["faq"]
    turn, _ = _say(_engine(), parse)
    assert turn.actions == ("utter_chitchat",)
    assert [m.response for m in turn.messages] == ["utter_chitchat/ask_name"]


def test_rasa_default_selector_is_used_when_the_intent_has_none() -> None:
    parse = _selected("faq", None)
    parse["response_selector"]["default"] = _selected("faq", "faq/ask_returns")[
        "response_selector"]["faq"]
    turn, _ = _say(_engine(), parse)
    assert [m.response for m in turn.messages] == ["utter_faq/ask_returns"]


def test_no_selection_takes_the_action_failed_path(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="parley.brain.dialogue.retrieval"):
        turn, tracker = _say(_engine(), _selected("faq", None))
    assert turn.actions == ("utter_faq",)
    assert [m.response for m in turn.messages] == ["utter_action_failed"]
    failed = [e for e in tracker.events if isinstance(e, ActionFailed)]
    assert [(e.name, e.error) for e in failed] == [
        ("utter_faq", "no sub-intent of 'faq' selected for the latest message")]
    assert "conversation test:faq: utter_faq cannot answer" in caplog.text


def test_a_selected_sub_intent_without_a_response_fails_without_a_crash(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="parley.brain.dialogue.retrieval"):
        turn, tracker = _say(_engine(), _selected("faq", "faq/ask_parking"))
    assert [m.response for m in turn.messages] == ["utter_action_failed"]
    assert [e.error for e in tracker.events if isinstance(e, ActionFailed)] == [
        "no response utter_faq/ask_parking in the domain"]


def test_another_retrieval_intents_response_is_never_sent_for_utter_faq() -> None:
    parse = _selected("faq", None)
    parse["response_selector"]["default"] = _selected("chitchat", "chitchat/ask_name")[
        "response_selector"]["chitchat"]
    turn, _ = _say(_engine(), parse)
    assert [m.response for m in turn.messages] == ["utter_action_failed"]


def test_without_a_rule_the_intent_mapping_answers_too(tmp_path: Path) -> None:
    bot = tmp_path / "faq_bot"
    shutil.copytree(FAQ_BOT, bot)
    (bot / "data" / "rules.yml").write_text('version: "3.1"\nrules: []\n')
    turn, _ = _say(_engine(bot), _selected("faq", "faq/ask_location"))
    assert turn.actions == ("utter_faq",)
    assert [m.response for m in turn.messages] == ["utter_faq/ask_location"]


def test_a_button_payload_names_the_sub_intent() -> None:
    parse = parse_payload("/faq/ask_hours")
    assert parse is not None
    assert parse["intent"] == {"name": "faq", "confidence": 1.0,
                               "full_retrieval_intent_name": "faq/ask_hours"}
    assert parse["response_selector"]["faq"]["response"]["utter_action"] == (
        "utter_faq/ask_hours")
    turn, _ = _say(_engine(), parse)
    assert [m.text for m in turn.messages] == [HOURS]
    assert parse_payload("/greet")["intent"] == {"name": "greet", "confidence": 1.0}


def test_a_plain_payload_of_the_retrieval_intent_cannot_be_answered() -> None:
    turn, _ = _say(_engine(), parse_payload("/faq"))
    assert [m.response for m in turn.messages] == ["utter_action_failed"]


@pytest.mark.slow
def test_conversation_tests_name_sub_intents_as_rasa_test_stories_do(tmp_path: Path) -> None:
    bot = tmp_path / "faq_bot"
    shutil.copytree(FAQ_BOT, bot)
    nlu = train_model(load_training_data(bot), load_nlu_config(bot), seed=0)
    robot = Bot(nlu, _engine(bot))
    results = [run_story(robot, story) for story in load_stories(bot)]
    assert [r.failures for r in results] == [[], [], []]
    # and a wrong expectation fails, naming the sub-intent the bot selected
    (bot / "tests" / "test_faq.yml").write_text(
        "stories:\n- story: wrong\n  steps:\n  - user: when are you open\n"
        "    intent: faq/ask_location\n  - action: utter_faq/ask_location\n")
    [wrong] = [run_story(robot, story) for story in load_stories(bot)]
    assert wrong.failures == [
        "step 1 (line 4): 'when are you open' expected intent faq/ask_location, got "
        "faq/ask_hours",
        "end of story: expected actions ['utter_faq/ask_location'], got ['utter_faq']"]
