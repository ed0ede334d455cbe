"""Actions written for Rasa (rasa_sdk classes in the bot's ``actions/`` package) run
in-process: Parley's tracker through rasa_sdk's Tracker, their events and dispatcher
messages as Parley's, forms validated by a FormValidationAction."""

from __future__ import annotations

import ast
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from brain.actions import load_actions
from brain.actions.context import OutgoingMessage
from brain.actions.rasa_events import rasa_effects, response_messages
from brain.actions.rasa_tracker_state import tracker_state
from brain.bot import Bot
from brain.dialogue.domain_reader import load_domain
from brain.dialogue.events import (
    ActionExecuted,
    ActionFailed,
    FormActivated,
    FormDeactivated,
    HandoffStarted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from brain.dialogue.responses import ResponseRenderer
from brain.dialogue.tracker import Tracker
from brain.errors import BotDataError
from tests.brain.rasa_bot import RASA_BOT, SANIC_WEBSOCKETS, rasa_bot, story_failures

pytestmark = pytest.mark.filterwarnings(SANIC_WEBSOCKETS)
DOMAIN = load_domain(RASA_BOT)


@pytest.fixture(scope="module")
def bot() -> Bot:
    return rasa_bot()


def _say(bot: Bot, tracker: Tracker, payload: str, *, at: float = 1_000.0,
         channel: str | None = None) -> list[str]:
    turn = bot.respond(tracker, payload, now=at, channel=channel, message_id=f"m{at}")
    return [m.text for m in turn.messages]


def test_the_tutorial_bot_passes_its_conversation_tests_in_process(bot: Bot) -> None:
    failures = story_failures(bot)
    assert failures == {name: [] for name in failures} and len(failures) == 4


def test_an_action_sees_parleys_tracker_through_rasa_sdks_tracker(bot: Bot) -> None:
    tracker = bot.new_tracker("telegram:bot1:42")
    _say(bot, tracker, '/check_order{"order_id": "ORD-1001"}', channel="telegram")
    [seen] = _say(bot, tracker, '/debug{"order_id": "ord-7"}', at=1_010.0, channel="telegram")
    answer = ast.literal_eval(seen)
    assert {k: v for k, v in answer.items() if k != "event_types"} == {
        # The slot mapping is global, as in Rasa: the new message's order number set it.
        "sender_id": "telegram:bot1:42", "order_id": "ord-7", "entities": ["ord-7"],
        "intent": "debug", "text": '/debug{"order_id": "ord-7"}', "active_loop": None,
        "latest_action": "action_listen", "paused": False, "channel": "telegram",
        "forms": ["return_form"]}
    # Rasa's log: action_listen before each user message, the slots its entities set after
    # it; the running action not yet in it
    assert answer["event_types"] == ["session_started", "action", "user", "slot", "action",
                                     "bot", "slot", "slot", "action", "user", "slot"]


def test_dispatcher_messages_map_onto_parleys_messages() -> None:
    renderer = ResponseRenderer(DOMAIN)

    def render(name: str, values: Any) -> OutgoingMessage | None:
        return renderer.render(name, slots={"order_id": None}, channel=None, seed="s",
                               conversation_id="c", extra=values)

    button = {"title": "Talk to a person", "payload": "/talk_to_human"}
    messages, dropped = response_messages([
        {"text": "plain", "buttons": [button], "image": None, "custom": {}},
        {"response": "utter_order_status", "order_id": "ORD-1", "status": "late",
         "text": None, "buttons": []},
        {"response": "utter_ask_reason", "buttons": [button]},
        {"text": "a label", "image": "https://example.com/l.png"},
        {"text": None, "custom": {"card": 1}},
        {"response": "utter_nonexistent"},
    ], render)
    assert messages == [
        OutgoingMessage("plain", (button,)),
        OutgoingMessage("Order ORD-1 is late.", response="utter_order_status"),
        OutgoingMessage("Why are you returning it?",
                        (*DOMAIN.responses["utter_ask_reason"][0].buttons, button),
                        response="utter_ask_reason"),
        OutgoingMessage("a label", image="https://example.com/l.png")]
    assert dropped == ["utter_message custom", "response utter_nonexistent (not in the domain)"]


def test_returned_events_map_onto_parley_events() -> None:
    tracker = Tracker("t:1", DOMAIN.initial_slots())
    tracker.apply_all([FormActivated(name="return_form"), SlotSet(name="order_id", value="X")])
    effects = rasa_effects([
        {"event": "slot", "name": "reason", "value": "damaged"},
        {"event": "slot", "name": "no_such_slot", "value": 1},
        {"event": "active_loop", "name": None},
        {"event": "reset_slots"},
        {"event": "pause"}, {"event": "resume"}, {"event": "pause"},
        {"event": "bot", "text": "hi", "data": {"buttons": [{"title": "a", "payload": "/a"}]}},
        {"event": "restart"},
        {"event": "followup", "name": "action_offer_help"},
        {"event": "rewind"}, {"event": "undo"}, {"event": "reminder", "intent": "greet"},
    ], action="action_x", tracker=tracker, domain=DOMAIN, now=5.0)
    assert effects.steps == [
        SlotSet(timestamp=5.0, name="reason", value="damaged"),
        FormDeactivated(timestamp=5.0, name="return_form"),
        SlotSet(timestamp=5.0, name="order_id", value=None),  # reset: back to initial
        SlotSet(timestamp=5.0, name="reason", value=None),
        HandoffStarted(timestamp=5.0, reason="action_x"),  # resume cancelled the first
        OutgoingMessage("hi", ({"title": "a", "payload": "/a"},)),
        SessionStarted(timestamp=5.0)]
    assert effects.followup == "action_offer_help"
    assert effects.unsupported == ["slot no_such_slot (not in the domain)", "rewind", "undo",
                                   "reminder"]
    opened = rasa_effects([{"event": "active_loop", "name": "return_form"}], action="a",
                          tracker=Tracker("t:2"), domain=DOMAIN, now=0.0)
    assert (opened.steps, opened.followup) == ([], "return_form")  # the form runs next


def test_reset_pause_and_restart_leave_a_replayable_tracker(bot: Bot) -> None:
    tracker = bot.new_tracker("web:s:1")
    _say(bot, tracker, '/check_order{"order_id": "ORD-1001"}')
    assert tracker.slots["order_status"] == "shipped"
    assert _say(bot, tracker, "/reset", at=1_010.0) == ["Done, I forgot everything."]
    assert tracker.slots == DOMAIN.initial_slots()
    _say(bot, tracker, '/check_order{"order_id": "ORD-3003"}', at=1_020.0)
    turn = bot.respond(tracker, "/talk_to_human", now=1_030.0)
    assert next(m.text for m in turn.messages) == "I'll get a person for you."
    assert turn.handoff is not None and turn.handoff.kind == "requested" and tracker.handoff
    stored = Tracker.from_json(tracker.to_json())
    replayed = Tracker(tracker.conversation_id, dict(tracker.initial_slots),
                       events=list(stored.events))
    assert (replayed.slots, replayed.handoff) == (tracker.slots, True)
    again = bot.new_tracker("web:s:2")
    _say(bot, again, '/check_order{"order_id": "ORD-1001"}')
    _say(bot, again, "/restart", at=1_010.0)
    assert isinstance(again.events[-1], SessionStarted) and again.slots["order_id"] is None


def test_unsupported_events_and_payloads_are_ignored_and_logged_once(
        bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    tracker = bot.new_tracker("web:s:3")
    with caplog.at_level(logging.WARNING, logger="parley.brain.dialogue.actions"):
        assert _say(bot, tracker, "/remind_me") == ["I'll remind you."]
        assert _say(bot, tracker, "/remind_me", at=1_010.0) == ["I'll remind you."]
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [
        "action action_remind_me: utter_message custom is not supported by Parley and was "
        "ignored (logged once)",
        "action action_remind_me: reminder is not supported by Parley and was ignored "
        "(logged once)"]


def test_a_failing_rasa_action_keeps_the_conversation(bot: Bot,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    tracker = bot.new_tracker("web:s:4")
    with caplog.at_level(logging.ERROR, logger="parley.brain.dialogue.actions"):
        texts = _say(bot, tracker, "/broken")
    assert texts == ["Sorry, our order system is not answering right now."]
    assert ActionFailed(name="action_broken", error="RuntimeError: the order system "
                        "exploded") in tracker.events
    assert "conversation web:s:4: action action_broken failed" in caplog.text
    assert _say(bot, tracker, "/greet", at=1_010.0) == [
        "Hi! I can check an order or start a return."]


def test_the_form_asks_what_required_slots_adds_and_rejects_with_a_reason(bot: Bot) -> None:
    tracker = bot.new_tracker("web:s:5")
    assert _say(bot, tracker, '/start_return{"order_id": "x1"}') == [
        "\"x1\" doesn't look like an order number (ORD- and digits).",
        "What is your order number?"]
    assert tracker.slots["order_id"] is None and tracker.active_form == "return_form"
    assert _say(bot, tracker, '/inform{"order_id": "ord-1001", "reason": "damaged"}',
                at=1_010.0) == ["Please send a link to a photo of the damage."]
    assert tracker.slots["requested_slot"] == "photo_url"
    texts = _say(bot, tracker, '/inform{"photo_url": "https://p/1.jpg"}', at=1_020.0)
    assert texts == ["Your return RET-ORD-1001 is registered.",
                     "Anything else I can do for you?"]


def _tmp_bot(tmp_path: Path, actions_py: str, rules: str = "") -> Path:
    bot_dir = tmp_path / "bot"
    shutil.copytree(RASA_BOT, bot_dir, ignore=shutil.ignore_patterns("__pycache__"))
    (bot_dir / "actions.py").write_text(actions_py)
    if rules:
        with (bot_dir / "data" / "rules.yml").open("a") as file:
            file.write(rules)
    return bot_dir


LOOPING = '''
from rasa_sdk import Action
from rasa_sdk.events import FollowupAction
from rasa_sdk.interfaces import ActionExecutionRejection


class Loop(Action):
    def name(self):
        return "action_loop"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="again")
        return [FollowupAction("action_loop")]


class Refuse(Action):
    def name(self):
        return "action_refuse"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="never sent")
        raise ActionExecutionRejection("action_refuse", "not now")
'''


def test_actions_py_and_the_actions_package_load_together_and_followups_are_bounded(
        tmp_path: Path) -> None:
    bot_dir = _tmp_bot(tmp_path, LOOPING, "- rule: loop\n  steps:\n  - intent: goodbye\n"
                       "  - action: action_loop\n- rule: refuse\n  steps:\n  - intent: inform\n"
                       "  - action: action_refuse\n")
    actions = load_actions(bot_dir)
    assert {"action_loop", "action_refuse", "action_check_order"} <= set(actions)
    bot = rasa_bot(bot_dir)
    tracker = bot.new_tracker("web:s:6")
    turn = bot.respond(tracker, "/goodbye", now=1_000.0)
    assert turn.actions == ("action_loop",) * 12  # the follow-up chain is cut, not endless
    refused = bot.respond(tracker, "/inform", now=1_010.0)
    assert (refused.actions, refused.messages) == (("action_refuse",), ())


@pytest.mark.parametrize(("source", "message"), [
    ("from rasa_sdk import Action\nclass A(Action):\n    def name(self):\n"
     "        return 'action_check_order'\n    def run(self, d, t, m):\n        return []\n",
     "action 'action_check_order' is defined twice"),
    ("from rasa_sdk.forms import ValidationAction\nclass V(ValidationAction):\n    pass\n",
     "ValidationAction (Rasa's global slot validation and extract_<slot> mappings) is not "
     "supported"),
    ("import actions.orders\n", "imports 'actions': import the package's own modules "
     "relatively"),
    ("from rasa_sdk import Action\nclass S(Action):\n    def name(self):\n"
     "        return 'action_session_start'\n    def run(self, d, t, m):\n        return []\n",
     "the rasa_sdk action 'action_session_start' would never run"),
])
def test_action_code_parley_cannot_run_is_a_load_error(tmp_path: Path, source: str,
                                                        message: str) -> None:
    bot_dir = _tmp_bot(tmp_path, source)
    with pytest.raises(BotDataError) as caught:
        load_actions(bot_dir)
    [problem] = caught.value.problems
    assert message in problem.message and problem.path.endswith("actions.py")
    assert problem.line is not None


def test_the_tracker_state_is_rasas_json() -> None:
    tracker = Tracker("slack:T1:C1", DOMAIN.initial_slots())
    tracker.apply_all([
        UserUttered(timestamp=1.0, text="hi", message_id="m1",
                    parse={"intent": {"name": "greet", "confidence": 0.9}, "entities": []}),
        ActionExecuted(timestamp=1.0, name="return_form"), FormActivated(name="return_form"),
        FormDeactivated(name="return_form", completed=True), HandoffStarted(reason="x")])
    state = tracker_state(tracker)
    assert json.loads(json.dumps(state)) == state
    assert [e["event"] for e in state["events"]] == [
        "action", "user", "action", "active_loop", "active_loop", "slot", "pause"]
    assert state["events"][1]["parse_data"]["intent"]["name"] == "greet"
    assert (state["paused"], state["active_loop"], state["latest_action_name"],
            state["latest_input_channel"]) == (True, {}, "return_form", "slack")


def test_the_tutorial_bot_validates_clean() -> None:
    """Placeholders its actions fill through ``utter_message(response=…, status=…)`` and
    the questions its ``required_slots`` adds are known to ``parley data validate``."""
    from brain.validation import validate_bot

    report = validate_bot(RASA_BOT)
    assert (report.errors, report.warnings) == ((), ())
