"""The staged fallback with a bot folder's labels: what "Did you mean …?" offers, the way out
to a person (only when there is one), unserved turns counted in a row, and the core
fallback for a message understood but not covered."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from brain.actions import load_actions
from brain.bot import parse_payload
from brain.dialogue.domain_reader import load_domain
from brain.dialogue.engine import DialogueEngine, TurnResult
from brain.dialogue.events import FallbackTriggered, HandoffStarted, UserUttered
from brain.dialogue.fallback import HANDOFF_REQUEST
from brain.dialogue.handoff import HandoffOffer
from brain.dialogue.rules import load_rules
from brain.dialogue.suggestions import META_INTENTS
from brain.dialogue.tracker import Tracker
from brain.fallback_settings import FallbackSettings, load_bot_fallback_settings
from brain.policy_settings import PolicySettings
from tests.conftest import FIXTURES

BOT = FIXTURES / "bots" / "fallback_bot"
NONSENSE = [("goodbye", 0.16), ("cancel", 0.11), ("check_order_status", 0.11),
            ("affirm", 0.11), ("out_of_scope", 0.11)]


class Desk:
    """Someone is there, or not, as the test says."""

    def __init__(self, *, available: bool = True) -> None:
        self.available = available

    def offer(self, *, requested_team: str, intent: str | None, slots: Mapping[str, Any],
              channel: str | None) -> HandoffOffer:
        return HandoffOffer(team=requested_team or "support", available=self.available)


def make_engine(folder: Path = BOT, *, desk: Desk | None = None,
                policy: PolicySettings | None = None,
                fallback: FallbackSettings | None = None) -> DialogueEngine:
    domain = load_domain(folder)
    return DialogueEngine(domain, load_rules(folder), load_actions(folder), desk=desk,
                          policy=policy,
                          fallback=fallback or load_bot_fallback_settings(folder, domain.intents))


def parse(ranking: list[tuple[str, float]], *, fallback: bool = False,
          **extra: Any) -> dict[str, Any]:
    return {"intent": {"name": ranking[0][0], "confidence": ranking[0][1]},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
            "entities": [], "nlu_fallback": fallback, "ambiguous": False,
            "fallback_reason": "low_confidence" if fallback else None, **extra}


class Chat:
    def __init__(self, engine: DialogueEngine) -> None:
        self.engine = engine
        self.tracker = Tracker("test:fallback", engine.domain.initial_slots())
        self.n = 0

    def say(self, text: str, ranking: list[tuple[str, float]] | None = None, *,
            fallback: bool = False, **extra: Any) -> TurnResult:
        """``ranking`` given: what the NLU made of ``text``; else ``text`` is a button
        payload, or an intent understood for sure."""
        self.n += 1
        parsed = parse_payload(text) if text.startswith("/") else parse(
            ranking or [(text, 0.97)], fallback=fallback, **extra)
        assert parsed is not None
        message = UserUttered(timestamp=1000.0 + self.n, text=text, parse=parsed,
                              message_id=f"m{self.n}")
        return self.engine.handle(self.tracker, message, channel="webchat")

    def nonsense(self) -> TurnResult:
        return self.say("asdf qwer", NONSENSE, fallback=True)


def buttons(turn: TurnResult) -> list[tuple[str, str]]:
    return [(b["title"], b["payload"]) for m in turn.messages for b in m.buttons]


def texts(turn: TurnResult) -> list[str]:
    return [m.text for m in turn.messages]


@pytest.mark.parametrize("available, label", [(True, "Talk to a person"),
                                              (False, "Leave a message for our team")])
def test_nonsense_asks_to_rephrase_with_only_the_way_out(available: bool, label: str) -> None:
    turn = Chat(make_engine(desk=Desk(available=available))).nonsense()
    assert turn.actions == ("action_ask_affirmation",)  # stage 1, whatever it says
    assert turn.messages[0].response == "utter_please_rephrase"
    assert buttons(turn) == [(label, "/talk_to_human")]


def test_no_desk_no_person_offered() -> None:
    chat = Chat(make_engine(desk=None))
    assert buttons(chat.nonsense()) == []
    guess = chat.say("i wnat a refnud", [("request_refund", 0.43), ("out_of_scope", 0.33)],
                     fallback=True)
    assert buttons(guess) == []                   # stage 2: rephrase
    third = chat.nonsense()                       # stage 3: nobody to hand off to
    assert third.actions == ("action_ask_rephrase",) and not chat.tracker.handoff


def test_handoff_false_in_fallback_yml_offers_no_person(tmp_path: Path) -> None:
    folder = tmp_path / "bot"
    shutil.copytree(BOT, folder)
    (folder / "fallback.yml").write_text("handoff: false\n", encoding="utf-8")
    chat = Chat(make_engine(folder, desk=Desk()))
    assert buttons(chat.nonsense()) == []
    chat.nonsense()
    assert chat.nonsense().actions == ("action_ask_rephrase",) and not chat.tracker.handoff


def test_a_typod_refund_offers_one_refund_button_with_the_folders_label() -> None:
    chat = Chat(make_engine(desk=Desk()))
    turn = chat.say("i wnat a refnud", [("request_refund", 0.41), ("refund_request", 0.37),
                                        ("out_of_scope", 0.2), ("greet", 0.02)], fallback=True)
    assert turn.actions == ("action_ask_affirmation",)
    assert turn.messages[0].response == "utter_did_you_mean"
    assert buttons(turn) == [("Request a refund", "/request_refund"),
                             ("Talk to a person", "/talk_to_human")]
    click = chat.say("/request_refund")
    assert click.actions == ("refund_form",) and chat.tracker.fallback_stage == 0


def test_labels_come_from_training_examples_and_never_name_an_entity() -> None:
    chat = Chat(make_engine(desk=Desk()))
    turn = chat.say("wher order", [("check_order_status", 0.3), ("change_address", 0.29),
                                   ("bot_challenge", 0.28), ("thanks", 0.27)], fallback=True)
    # the first example names an order number; change_address is not_suggested
    assert buttons(turn)[0] == ("Where is my order", "/check_order_status")
    assert len(buttons(turn)) == 2
    titles = [title for title, _ in buttons(turn)]
    assert not {t.lower().replace(" ", "_") for t in titles} & META_INTENTS


def test_a_retrieval_intent_is_offered_as_its_sub_intent() -> None:
    chat = Chat(make_engine(desk=Desk()))
    selector = {"faq": {"response": {"intent_response_key": "faq/ask_returns",
                                     "utter_action": "utter_faq/ask_returns"}}}
    turn = chat.say("retrun?", [("faq", 0.4), ("greet", 0.35)], fallback=True,
                    response_selector=selector)
    assert buttons(turn)[0] == ("Returns", "/faq/ask_returns")


def test_three_out_of_scope_in_a_row_offer_a_person() -> None:
    chat = Chat(make_engine(desk=Desk()))
    assert chat.say("out_of_scope").actions == ("utter_out_of_scope",)
    assert chat.say("out_of_scope").actions == ("utter_out_of_scope",)
    third = chat.say("out_of_scope")
    assert third.actions == ("utter_out_of_scope", "action_offer_handoff")
    assert buttons(third) == [("Talk to a person", "/talk_to_human")]
    assert chat.say("/talk_to_human").actions == ("action_handoff",)
    started = [e for e in chat.tracker.events if isinstance(e, HandoffStarted)]
    assert [e.reason for e in started] == ["talk_to_human"]  # the person asked


def test_no_second_offer_when_the_answer_offers_a_person_already(tmp_path: Path) -> None:
    folder = tmp_path / "bot"
    shutil.copytree(BOT, folder)
    domain = (folder / "domain.yml").read_text(encoding="utf-8")
    answer = '    - text: "Sorry, that\'s not something I can do."\n'
    assert answer in domain
    (folder / "domain.yml").write_text(domain.replace(answer, answer + (
        "      buttons:\n        - {title: Ask a person, payload: /talk_to_human}\n")),
        encoding="utf-8")
    chat = Chat(make_engine(folder, desk=Desk()))
    for _ in range(3):
        turn = chat.say("out_of_scope")
    assert turn.actions == ("utter_out_of_scope",)
    assert buttons(turn) == [("Ask a person", "/talk_to_human")]
    assert chat.tracker.fallback_stage == 3


def test_out_of_scope_counts_toward_the_handoff_of_misunderstood_messages() -> None:
    chat = Chat(make_engine(desk=Desk()))
    chat.nonsense()
    chat.say("out_of_scope")
    third = chat.nonsense()
    assert third.actions == ("action_handoff",) and chat.tracker.handoff
    assert "passing this conversation" in texts(third)[0]


def test_a_served_turn_in_between_resets_the_count() -> None:
    chat = Chat(make_engine(desk=Desk()))
    chat.say("out_of_scope")
    chat.say("out_of_scope")
    assert chat.say("check_order_status").actions == ("utter_check_order_status",)
    assert chat.tracker.fallback_stage == 0
    assert chat.say("out_of_scope").actions == ("utter_out_of_scope",)
    assert chat.nonsense().actions == ("action_ask_rephrase",)  # stage 2, not a handoff


def test_a_failed_action_counts() -> None:
    chat = Chat(make_engine(desk=Desk()))
    assert texts(chat.say("crash")) == ["Sorry, something went wrong on my side."]
    chat.say("crash")
    third = chat.say("crash")
    assert third.actions == ("action_crash", "action_offer_handoff")
    reasons = [e.reason for e in chat.tracker.events
               if isinstance(e, FallbackTriggered) and e.stage]
    assert reasons == ["action_failed"] * 3


def test_understood_but_unhandled_gets_utter_default_not_a_misunderstanding() -> None:
    chat = Chat(make_engine(desk=Desk()))
    turn = chat.say("change_address")
    assert turn.actions == ("utter_default",)
    assert texts(turn) == ["Sorry, I can't help with that here yet."]
    assert "understand" not in texts(turn)[0]
    assert chat.tracker.fallback_stage == 1       # not served: it counts


def test_the_domains_utter_default_and_another_core_fallback_action(tmp_path: Path) -> None:
    folder = tmp_path / "bot"
    shutil.copytree(BOT, folder)
    domain = (folder / "domain.yml").read_text(encoding="utf-8")
    (folder / "domain.yml").write_text(domain + '  utter_default:\n    - text: "Not yet!"\n',
                                       encoding="utf-8")
    assert texts(Chat(make_engine(folder)).say("change_address")) == ["Not yet!"]
    custom = make_engine(folder, policy=PolicySettings(core_fallback_action="utter_greet"))
    assert Chat(custom).say("change_address").actions == ("utter_greet",)
    silent = make_engine(folder, policy=PolicySettings(enable_fallback_prediction=False))
    assert Chat(silent).say("change_address").messages == ()


def test_parleys_handoff_request_payload_hands_off_only_where_possible() -> None:
    chat = Chat(make_engine(desk=Desk()))
    assert chat.say(f"/{HANDOFF_REQUEST}").actions == ("action_handoff",)
    assert chat.tracker.handoff
    nobody = Chat(make_engine(desk=None))
    assert nobody.say(f"/{HANDOFF_REQUEST}").actions == ("utter_default",)


def test_the_count_replays_from_the_events() -> None:
    chat = Chat(make_engine(desk=Desk()))
    chat.say("out_of_scope")
    chat.nonsense()
    replayed = Tracker("test:fallback", chat.engine.domain.initial_slots(),
                       events=list(chat.tracker.events))
    stored = Tracker.from_json(chat.tracker.to_json())
    assert replayed.fallback_stage == stored.fallback_stage == chat.tracker.fallback_stage == 2
