"""A form's ``from_text`` question takes the answer whatever the NLU made of it (as in Rasa,
the form's mapping wins over the fallback), with the mapping's conditions respected; only an
understood way out (the form's cancel rule, asking for a person) escapes."""

from __future__ import annotations

from typing import Any

from brain.dialogue.domain import Domain, Form, MappingCondition, Slot, SlotMapping
from brain.dialogue.events import FormActivated, SlotSet, UserUttered
from brain.dialogue.slot_filling import mapped_values
from brain.dialogue.tracker import Tracker

from .test_fallback import NONSENSE, Chat, Desk, buttons, make_engine, parse, texts

REASON = "it broke after one day"


def _in_the_form() -> Chat:
    chat = Chat(make_engine(desk=Desk()))
    assert chat.say("request_refund").actions == ("refund_form",)
    assert chat.tracker.requested_slot == "refund_reason"
    return chat


def test_an_answer_the_nlu_did_not_understand_fills_the_slot() -> None:
    chat = _in_the_form()
    # the guess is cancel, which the mapping excludes: Rasa sees nlu_fallback instead
    turn = chat.say(REASON, [("cancel", 0.3), ("greet", 0.2)], fallback=True)
    assert turn.actions == ("refund_form", "utter_refund_filed")
    assert texts(turn) == [f"Refund filed. Reason: {REASON}"]
    assert chat.tracker.fallback_stage == 0 and chat.tracker.active_form is None


def test_an_answer_parsed_as_another_intent_fills_the_slot() -> None:
    chat = _in_the_form()
    turn = chat.say(REASON, [("greet", 0.91), ("affirm", 0.05)])
    assert turn.actions == ("refund_form", "utter_refund_filed")
    assert chat.tracker.slots["refund_reason"] == REASON


def test_nonsense_is_an_answer_too_no_did_you_mean() -> None:
    chat = _in_the_form()
    turn = chat.say("asdf qwer", NONSENSE, fallback=True)
    assert turn.actions == ("refund_form", "utter_refund_filed") and buttons(turn) == []


def test_cancel_still_cancels() -> None:
    chat = _in_the_form()
    turn = chat.say("cancel")
    assert turn.actions == ("action_deactivate_loop", "utter_cancelled")
    assert chat.tracker.slots["refund_reason"] is None and chat.tracker.active_form is None


def test_asking_for_a_person_still_hands_off() -> None:
    # the mapping does not exclude talk_to_human: the way out is Parley's
    chat = _in_the_form()
    turn = chat.say("talk_to_human")
    assert turn.actions == ("action_handoff",) and chat.tracker.handoff
    assert chat.tracker.slots["refund_reason"] is None


def _domain(mapping: SlotMapping) -> Domain:
    return Domain(intents=("inform", "greet", "cancel"),
                  slots={"note": Slot("note", "text", (mapping,))},
                  forms={"note_form": Form("note_form", ("note",))})


def _tracker(domain: Domain, requested: str = "note") -> Tracker:
    tracker = Tracker("test:mapping", domain.initial_slots())
    tracker.apply(FormActivated(name="note_form"))
    tracker.apply(SlotSet(name="requested_slot", value=requested))
    return tracker


def _message(intent: str, *, fallback: bool = False) -> UserUttered:
    parsed: dict[str, Any] = parse([(intent, 0.3 if fallback else 0.9)], fallback=fallback)
    return UserUttered(text="some words", parse=parsed)


def test_mapping_conditions_hold_as_in_rasa() -> None:
    only_inform = _domain(SlotMapping("from_text", intent=("inform",)))
    tracker = _tracker(only_inform)
    assert mapped_values(only_inform, tracker, _message("inform")) == {"note": "some words"}
    assert mapped_values(only_inform, tracker, _message("greet")) == {}
    # not understood: the intent is nlu_fallback, which `intent: [inform]` does not name
    assert mapped_values(only_inform, tracker, _message("inform", fallback=True)) == {}
    not_greet = _domain(SlotMapping("from_text", not_intent=("greet",)))
    assert mapped_values(not_greet, _tracker(not_greet), _message("greet")) == {}
    assert mapped_values(not_greet, _tracker(not_greet),
                         _message("greet", fallback=True)) == {"note": "some words"}
    asked = _domain(SlotMapping("from_text", conditions=(
        MappingCondition("note_form", "note"),)))
    assert mapped_values(asked, _tracker(asked, requested="other"),
                         _message("inform", fallback=True)) == {}
