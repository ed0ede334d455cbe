"""Stories drive the dialogue: the story policy in the engine, next to rules and forms."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from brain.actions import load_actions
from brain.dialogue.domain_reader import load_domain
from brain.dialogue.engine import DialogueEngine
from brain.dialogue.events import UserUttered
from brain.dialogue.memoization import load_story_policy
from brain.dialogue.rules import load_rules
from brain.dialogue.tracker import Tracker
from tests.brain.dialogue.conftest import parse

INTENTS = ["greet", "ask_a", "ask_b", "thanks", "bye", "affirm", "deny", "need_help", "news",
           "order", "inform"]
RESPONSES = ["utter_greet", "utter_vip_greet", "utter_a", "utter_b", "utter_welcome",
             "utter_bye_a", "utter_bye_b", "utter_extra", "utter_did_that_help",
             "utter_happy", "utter_ask_newsletter", "utter_subscribed", "utter_done",
             "utter_ask_order_id", "utter_rule_greet", "utter_sorry"]


def _bot(folder: Path, *, stories: str = "", rules: str = "", slots: str = "",
         forms: str = "", actions: str = "") -> Path:
    lines = ["version: '3.1'", f"intents: {INTENTS}", "entities: [order_id]", "responses:"]
    lines += [f"  {name}:\n  - text: '{name}'" for name in RESPONSES]
    text = "\n".join(lines) + "\n" + textwrap.dedent(slots) + textwrap.dedent(forms)
    (folder / "data").mkdir(parents=True)
    (folder / "domain.yml").write_text(text, encoding="utf-8")
    (folder / "data" / "stories.yml").write_text(
        "stories:\n" + textwrap.dedent(stories) if stories else "", encoding="utf-8")
    (folder / "data" / "rules.yml").write_text(
        "rules:\n" + textwrap.dedent(rules) if rules else "", encoding="utf-8")
    (folder / "data" / "nlu.yml").write_text("nlu:\n" + "".join(
        f"- intent: {name}\n  examples: |\n    - {name} please\n    - say {name}\n"
        for name in INTENTS), encoding="utf-8")
    if actions:
        (folder / "actions.py").write_text(textwrap.dedent(actions), encoding="utf-8")
    return folder


class Chat:
    def __init__(self, folder: Path, *, max_history: int = 5) -> None:
        domain = load_domain(folder)
        self.engine = DialogueEngine(domain, load_rules(folder), load_actions(folder),
                                     stories=load_story_policy(folder, domain,
                                                               max_history=max_history))
        self.tracker = Tracker("test:1", domain.initial_slots())
        self.clock = 1_000.0

    def say(self, intent: str, text: str = "", **kwargs: Any) -> list[str]:
        self.clock += 1
        message = UserUttered(timestamp=self.clock, text=text or intent,
                              parse=parse(intent, text or intent, **kwargs),
                              message_id=f"m{self.clock}")
        return list(self.engine.handle(self.tracker, message).actions)


TWO_CONTEXTS = """\
- story: a
  steps:
  - intent: ask_a
  - action: utter_a
  - intent: thanks
  - action: utter_welcome
  - intent: bye
  - action: utter_bye_a
- story: b
  steps:
  - intent: ask_b
  - action: utter_b
  - intent: thanks
  - action: utter_welcome
  - intent: bye
  - action: utter_bye_b
"""


def test_max_history_decides_how_far_back_a_story_tells_two_contexts_apart(
        tmp_path: Path) -> None:
    folder = _bot(tmp_path, stories=TWO_CONTEXTS)
    for context, expected in [("ask_a", "utter_bye_a"), ("ask_b", "utter_bye_b")]:
        chat = Chat(folder)
        assert chat.say(context) == [f"utter_{context[-1]}"]
        assert chat.say("thanks") == ["utter_welcome"]
        assert chat.say("bye") == [expected]
    # Three states back the two stories look the same: ambiguous, so neither is used.
    short = Chat(folder, max_history=3)
    short.say("ask_a")
    short.say("thanks")
    assert short.say("bye") == ["utter_default"]


def test_story_actions_chain_until_the_story_listens(tmp_path: Path) -> None:
    folder = _bot(tmp_path, stories="""\
        - story: sad
          steps:
          - intent: greet
          - action: utter_greet
          - intent: deny
          - action: utter_sorry
          - action: utter_did_that_help
          - intent: affirm
          - action: utter_happy
        - story: greeting alone
          steps:
          - intent: need_help
          - action: utter_greet
          - action: utter_extra
        - story: just hello
          steps:
          - intent: greet
          - action: utter_greet
        """)
    chat = Chat(folder)
    # After a story's last action the bot listens, though another story goes on after
    # utter_greet elsewhere.
    assert chat.say("greet") == ["utter_greet"]
    assert chat.say("deny") == ["utter_sorry", "utter_did_that_help"]
    assert chat.say("affirm") == ["utter_happy"]
    assert Chat(folder).say("need_help") == ["utter_greet", "utter_extra"]


def test_a_slot_that_influences_the_conversation_changes_the_prediction(
        tmp_path: Path) -> None:
    stories = """\
        - story: vip
          steps:
          - intent: greet
          - action: action_check_vip
          - slot_was_set:
            - vip: true
          - action: utter_vip_greet
        - story: not vip
          steps:
          - intent: greet
          - action: action_check_vip
          - slot_was_set:
            - vip: false
          - action: utter_greet
        """
    actions = """\
        from brain.actions import ActionContext, action
        from brain.dialogue.events import SlotSet


        @action("action_check_vip")
        def check_vip(context: ActionContext):
            return [SlotSet(name="vip", value=context.latest_message.text == "vip")]
        """
    slots = """\
        slots:
          vip:
            mappings:
            - type: custom
            type: bool
        """
    folder = _bot(tmp_path / "on", stories=stories, actions=actions, slots=slots)
    assert Chat(folder).say("greet", "vip") == ["action_check_vip", "utter_vip_greet"]
    assert Chat(folder).say("greet", "hi") == ["action_check_vip", "utter_greet"]
    off = _bot(tmp_path / "off", stories=stories, actions=actions,
               slots=slots + "    influence_conversation: false\n")
    assert Chat(off).say("greet", "vip") == ["action_check_vip"]  # the stories now disagree


def test_entities_are_part_of_the_user_state(tmp_path: Path) -> None:
    folder = _bot(tmp_path, stories="""\
        - story: with an order id
          steps:
          - intent: inform
            entities:
            - order_id
          - action: utter_done
        - story: without
          steps:
          - intent: inform
          - action: utter_ask_order_id
        """)
    assert Chat(folder).say("inform", entities={"order_id": "1"}) == ["utter_done"]
    assert Chat(folder).say("inform") == ["utter_ask_order_id"]


def test_a_story_with_a_form_goes_on_after_the_form(tmp_path: Path) -> None:
    folder = _bot(tmp_path, stories="""\
        - story: order
          steps:
          - intent: order
          - action: order_form
          - active_loop: order_form
          - slot_was_set:
            - order_id: "4471"
          - active_loop: null
          - action: utter_done
        """, slots="""\
        slots:
          order_id:
            type: text
            mappings:
            - type: from_entity
              entity: order_id
        """, forms="""\
        forms:
          order_form:
            required_slots: [order_id]
        """)
    chat = Chat(folder)
    assert chat.say("order") == ["order_form"]
    assert chat.tracker.active_form == "order_form"
    assert chat.say("inform", entities={"order_id": "4471"}) == ["order_form", "utter_done"]
    assert chat.tracker.active_form is None


def test_a_rule_wins_over_a_story(tmp_path: Path) -> None:
    folder = _bot(tmp_path, stories="""\
        - story: greet
          steps:
          - intent: greet
          - action: utter_greet
          - intent: thanks
          - action: utter_welcome
        """, rules="""\
        - rule: greet
          steps:
          - intent: greet
          - action: utter_rule_greet
        """)
    chat = Chat(folder)
    assert chat.say("greet") == ["utter_rule_greet"]
    assert chat.say("thanks") == ["utter_welcome"]  # the one-state window still holds


def test_yes_means_what_the_previous_question_asked(tmp_path: Path) -> None:
    folder = _bot(tmp_path, rules="""\
        - rule: ask whether it helped
          steps:
          - intent: need_help
          - action: utter_did_that_help
        - rule: offer the newsletter
          steps:
          - intent: news
          - action: utter_ask_newsletter
        - rule: yes, it helped
          steps:
          - action: utter_did_that_help
          - intent: affirm
          - action: utter_happy
        - rule: yes to the newsletter
          steps:
          - action: utter_ask_newsletter
          - intent: affirm
          - action: utter_subscribed
        """)
    chat = Chat(folder)
    assert chat.say("need_help") == ["utter_did_that_help"]
    assert chat.say("affirm") == ["utter_happy"]
    assert chat.say("news") == ["utter_ask_newsletter"]
    assert chat.say("affirm") == ["utter_subscribed"]
    assert chat.say("affirm") == ["utter_default"]  # after utter_subscribed: no rule
    assert Chat(folder).say("affirm") == ["utter_default"]


def test_a_rule_with_two_user_turns(tmp_path: Path) -> None:
    folder = _bot(tmp_path, rules="""\
        - rule: hello
          steps:
          - intent: greet
          - action: utter_greet
        - rule: a greeting answered with yes
          steps:
          - intent: greet
          - action: utter_greet
          - intent: affirm
          - action: utter_welcome
        """)
    chat = Chat(folder)
    assert chat.say("greet") == ["utter_greet"]
    assert chat.say("affirm") == ["utter_welcome"]
    assert chat.say("affirm") == ["utter_default"]
