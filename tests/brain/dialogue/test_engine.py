"""The dialogue policy: precedence, forms, digressions, fallback stages, handoff, failures."""

from __future__ import annotations

import logging

import pytest

from brain.conversation_tests import StoryDesk
from brain.dialogue.engine import DialogueEngine
from brain.dialogue.events import ActionFailed, HandoffEnded
from brain.dialogue.tracker import Tracker
from brain.handoff.settings import load_desk_settings

from .conftest import BOT, Say, texts


def test_rule_answers_intent(say: Say) -> None:
    turn = say("greet")
    assert turn.actions == ("utter_greet",)
    assert texts(turn)[0] in ("Hello!", "Hi there!")


def test_intent_to_response_mapping_without_a_rule(say: Say) -> None:
    turn = say("opening_hours")
    assert (turn.actions, texts(turn)) == (("utter_opening_hours",), ["We open at 18:00."])


def test_form_asks_each_slot_validates_and_submits(say: Say, tracker: Tracker) -> None:
    turn = say("book_table", entities={"guests": 4})
    assert turn.actions == ("booking_form",)
    assert texts(turn) == ["Under which name?"]  # guests came with the request
    assert tracker.active_form == "booking_form" and tracker.requested_slot == "name"
    turn = say("inform", "x")                    # the validator rejects with its reason
    assert texts(turn) == ["A name needs at least two letters.", "Under which name?"]
    turn = say("inform", "ada lovelace")
    assert tracker.slots["name"] == "Ada Lovelace"
    assert texts(turn) == ["A table for 4.0 under Ada Lovelace. Shall I book it?"]
    assert [b["payload"] for b in turn.messages[0].buttons] == ["/affirm", "/deny"]
    turn = say("affirm")
    assert turn.actions == ("booking_form", "action_book")
    assert texts(turn)[0].startswith("Booked: BK-")
    assert tracker.active_form is None and tracker.requested_slot is None


def test_slot_type_rejects_with_reason_and_reasks(say: Say, tracker: Tracker) -> None:
    say("book_table")
    turn = say("inform", entities={"guests": 40})
    assert texts(turn) == ['Sorry, "40" is not a valid guests: expected at most 12.',
                           "For how many people?"]
    assert tracker.slots["guests"] is None and tracker.active_form == "booking_form"


def test_correction_inside_a_form(say: Say, tracker: Tracker) -> None:
    say("book_table", entities={"guests": 2})
    say("inform", "Grace")
    say("inform", entities={"guests": 3})       # "actually, three of us"
    assert tracker.slots["guests"] == 3.0 and tracker.requested_slot == "confirmed"


def test_digression_answers_then_resumes_the_form(say: Say, tracker: Tracker) -> None:
    say("book_table")
    turn = say("opening_hours", "when do you open")
    assert texts(turn) == ["We open at 18:00.", "For how many people?"]
    assert tracker.active_form == "booking_form"


def test_cancel_inside_a_form_runs_the_form_rule(say: Say, tracker: Tracker) -> None:
    say("book_table")
    turn = say("cancel")
    assert turn.actions == ("action_deactivate_loop", "utter_cancelled")
    assert tracker.active_form is None


def test_form_completed_by_first_message_submits_at_once(say: Say) -> None:
    turn = say("book_table", entities={"guests": 2, "name": "Ada"})
    assert texts(turn) == ["A table for 2.0 under Ada. Shall I book it?"]
    turn = say("deny")
    assert turn.actions == ("booking_form", "action_book") and texts(turn) == ["Okay, cancelled."]


def test_fallback_stages_then_handoff_and_silence(say: Say, tracker: Tracker,
                                                  engine: DialogueEngine,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "desk", StoryDesk(load_desk_settings(BOT)))  # someone's there
    first = say("greet", "blorp", confidence=0.4, fallback=True,
                ranking=["greet", "book_table", "opening_hours", "cancel"])
    assert first.actions == ("action_ask_affirmation",)
    assert [b["payload"] for b in first.messages[0].buttons] == [
        "/book_table", "/talk_to_human"]   # no greeting; 0.13 and 0.1 are not plausible
    second = say("greet", "blorp blorp", fallback=True)
    assert second.actions == ("action_ask_rephrase",)
    third = say("greet", "blorp?", fallback=True)
    assert third.actions == ("action_handoff",) and tracker.handoff
    assert say("greet").messages == ()          # the bot stays silent while handed over
    tracker.apply(HandoffEnded())
    assert say("greet").actions == ("utter_greet",)


def test_understanding_resets_the_fallback_counter(say: Say, tracker: Tracker) -> None:
    say(None, "???", fallback=True)
    say("greet")
    assert tracker.fallback_stage == 0
    assert say(None, "???", fallback=True).actions == ("action_ask_affirmation",)


def test_explicit_request_for_a_person_hands_over(say: Say, tracker: Tracker) -> None:
    turn = say("talk_to_human")
    assert turn.actions == ("action_handoff",) and tracker.handoff


def test_failing_action_keeps_the_conversation(say: Say, tracker: Tracker,
                                               caplog: pytest.LogCaptureFixture) -> None:
    slots_before = dict(tracker.slots)
    with caplog.at_level(logging.ERROR, logger="parley.brain.dialogue.actions"):
        turn = say("crash")
    assert texts(turn) == ["Oops, that failed."]
    assert any(isinstance(e, ActionFailed) and "backend exploded" in e.error
               for e in tracker.events)
    assert "conversation test:1: action action_crash failed" in caplog.text
    assert tracker.slots == slots_before
    assert say("greet").actions == ("utter_greet",)   # and the bot goes on


def test_tracker_round_trips_mid_form(say: Say, tracker: Tracker) -> None:
    say("book_table", entities={"guests": 2})
    again = Tracker.from_json(tracker.to_json())
    assert (again.slots, again.active_form, again.requested_slot) == (
        tracker.slots, "booking_form", "name")
    assert again.to_json() == tracker.to_json()
