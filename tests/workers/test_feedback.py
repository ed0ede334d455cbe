"""Ratings and feedback questions (``workers.feedback``): the button payload, the entry a
rating becomes, and when a turn gets "Was this helpful?" or the 1–5 question — decided on
the real turns of the dialogue fixture bot (button payloads, so no NLU model is needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from brain.actions import load_actions
from brain.bot import parse_payload
from brain.dialogue.domain_reader import load_domain
from brain.dialogue.engine import DialogueEngine, TurnResult
from brain.dialogue.events import HandoffStarted, UserUttered
from brain.dialogue.rules import load_rules
from brain.dialogue.tracker import Tracker
from brain.feedback_settings import FeedbackSettings, Question
from channels.models import InboundMessage, InvalidRating
from tests.conftest import FIXTURES
from workers.feedback import (
    CSAT_RESPONSE,
    HELPFUL_RESPONSE,
    answer_feedback,
    button_payload,
    feedback_entry,
    rating_of_payload,
    with_question,
)

BOT = FIXTURES / "bots" / "dialogue_bot"
SETTINGS = FeedbackSettings(
    helpful=Question("Was this helpful?", frozenset({"utter_opening_hours", "action_book"})),
    satisfaction=Question("Rate us 1-5", frozenset({"utter_goodbye"}), after_handoff=True),
    thanks="Thanks!")


def message(payload: str | None = None, *, channel: str = "telegram", kind: str = "message",
            sequence: int = 5, control: dict[str, object] | None = None) -> InboundMessage:
    return InboundMessage(channel=channel, account="bot", chat="42", user_id="u",
                          message_id=f"m{sequence}", payload=payload, sequence=sequence,
                          kind=kind, control=control or {})  # type: ignore[arg-type]


def test_a_button_payload_is_compact_and_reads_back() -> None:
    thumbs = button_payload("thumbs", 1, 12, 0)
    assert thumbs == '/parley_feedback{"k":"t","v":1,"s":12,"p":0}'
    assert len(button_payload("thumbs", 0, 2**53, 10_000).encode()) <= 64  # Telegram's limit
    rating = rating_of_payload(thumbs)
    assert rating is not None and rating.to_control() == {
        "kind": "thumbs", "value": 1, "comment": "", "about_sequence": 12, "about_position": 0}
    csat = rating_of_payload(button_payload("csat", 4, 7, None))
    assert csat is not None and (csat.kind, csat.value, csat.about_position) == ("csat", 4, None)
    assert rating_of_payload("/affirm") is None
    assert rating_of_payload("/parley_feedbackish") is None


@pytest.mark.parametrize("payload", [
    "/parley_feedback{", '/parley_feedback{"k":"x","v":1}', '/parley_feedback{"k":"t","v":3,'
    '"s":1,"p":0}', '/parley_feedback{"k":"t","v":1}', '/parley_feedback{"k":"c","v":9}',
    '/parley_feedback{"k":"c","v":1,"z":1}', "/parley_feedback[1]", "/parley_feedback"])
def test_a_malformed_rating_button_is_refused(payload: str) -> None:
    with pytest.raises(InvalidRating):
        rating_of_payload(payload)


def test_a_pressed_rating_button_becomes_a_feedback_entry() -> None:
    entry = feedback_entry(message(button_payload("thumbs", 0, 4, 1)))
    assert entry is not None and entry.from_button
    assert entry.message.kind == "feedback"
    assert entry.message.control == {"kind": "thumbs", "value": 0, "comment": "",
                                     "about_sequence": 4, "about_position": 1}
    assert feedback_entry(message("/affirm")) is None
    assert feedback_entry(message(None)) is None


def test_a_malformed_feedback_entry_is_answered_with_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    bad = [message(kind="feedback", control={"kind": "thumbs", "value": 7}),
           message(kind="feedback", control={"kind": "csat", "value": 3, "about_sequence": 9}),
           message('/parley_feedback{"k":"t"')]
    for wrong in bad:
        entry = feedback_entry(wrong)
        assert entry is not None and entry.rating is None
        assert (entry.message.kind, entry.message.control) == ("feedback", {})
        assert answer_feedback(entry, SETTINGS, Tracker("c", {}), now=0.0) == TurnResult((), ())
    assert len([r for r in caplog.records if "feedback #5 ignored" in r.message]) == 3


def test_only_a_pressed_button_is_thanked_and_never_while_handed_off() -> None:
    pressed = feedback_entry(message(button_payload("csat", 5, 3, None)))
    widget = feedback_entry(message(channel="webchat", kind="feedback", control={
        "kind": "thumbs", "value": 1, "comment": "", "about_sequence": 3,
        "about_position": 0}))
    assert pressed is not None and widget is not None and widget.rating is not None
    tracker = Tracker("c", {})
    thanked = answer_feedback(pressed, SETTINGS, tracker, now=0.0)
    assert [m.text for m in thanked.messages] == ["Thanks!"]
    assert [e.type for e in tracker.events] == ["bot"]  # recorded; no UserUttered
    assert answer_feedback(widget, SETTINGS, tracker, now=0.0).messages == ()
    assert answer_feedback(pressed, FeedbackSettings(), tracker, now=0.0).messages == ()
    tracker.apply(HandoffStarted(reason="test"))
    assert answer_feedback(pressed, SETTINGS, tracker, now=0.0).messages == ()


@pytest.fixture
def engine() -> DialogueEngine:
    return DialogueEngine(load_domain(BOT), load_rules(BOT), load_actions(BOT))


def turn(engine: DialogueEngine, tracker: Tracker, payload: str, *, channel: str = "telegram",
         sequence: int = 5) -> TurnResult:
    """One real turn of the fixture bot, then the question the worker would append."""
    loaded = tracker.event_count
    inbound = message(payload, channel=channel, sequence=sequence)
    result = engine.handle(tracker, UserUttered(text=payload, parse=parse_payload(payload) or {}),
                           channel=channel)
    return with_question(SETTINGS, inbound, tracker, tracker.events_since(loaded), result,
                         now=0.0)


def test_a_marked_response_on_a_chat_channel_is_followed_by_the_helpful_question(
        engine: DialogueEngine) -> None:
    tracker = Tracker("telegram:bot:42", engine.domain.initial_slots())
    result = turn(engine, tracker, "/opening_hours", sequence=5)
    assert [m.text for m in result.messages] == ["We open at 18:00.", "Was this helpful?"]
    question = result.messages[1]
    assert question.response == HELPFUL_RESPONSE
    assert [(b["title"], json.loads(b["payload"].removeprefix("/parley_feedback")))
            for b in question.buttons] == [("👍 Yes", {"k": "t", "v": 1, "s": 5, "p": 0}),
                                           ("👎 No", {"k": "t", "v": 0, "s": 5, "p": 0})]
    assert tracker.events[-1].response == HELPFUL_RESPONSE  # type: ignore[attr-defined]
    assert len(turn(engine, tracker, "/greet").messages) == 1  # not marked: nothing asked


def test_the_browser_chat_and_a_handed_off_conversation_are_never_asked(
        engine: DialogueEngine) -> None:
    tracker = Tracker("webchat:browser:s", engine.domain.initial_slots())
    assert len(turn(engine, tracker, "/opening_hours", channel="webchat").messages) == 1
    handed = Tracker("telegram:bot:42", engine.domain.initial_slots())
    handed.apply(HandoffStarted(reason="test"))
    assert turn(engine, handed, "/opening_hours").messages == ()


def test_a_marked_reply_with_buttons_or_a_form_question_after_it_is_not_asked_about(
        engine: DialogueEngine) -> None:
    settings = FeedbackSettings(helpful=Question("Helpful?", frozenset({"utter_ask_guests"})))
    tracker = Tracker("telegram:bot:42", engine.domain.initial_slots())
    loaded = tracker.event_count
    result = engine.handle(tracker, UserUttered(parse=parse_payload("/book_table") or {}),
                           channel="telegram")
    assert result.messages[-1].text == "For how many people?" and tracker.active_form
    assert with_question(settings, message("/book_table"), tracker,
                         tracker.events_since(loaded), result, now=0.0) == result


def test_a_handoff_a_person_ended_gets_the_satisfaction_question(
        engine: DialogueEngine) -> None:
    for reason, asked in (("handed_back", True), ("closed", True), ("timeout", False)):
        tracker = Tracker("slack:T:C", engine.domain.initial_slots())
        tracker.apply(HandoffStarted(reason="test"))
        loaded = tracker.event_count
        result = engine.end_handoff(tracker, {"reason": reason}, now=0.0, channel="slack")
        ended = with_question(SETTINGS, message(kind="handoff_end", channel="slack",
                                                sequence=9),
                              tracker, tracker.events_since(loaded), result, now=0.0)
        last = ended.messages[-1]
        assert (last.response == CSAT_RESPONSE) is asked, reason
        if asked:
            assert [b["title"] for b in last.buttons] == ["1", "2", "3", "4", "5"]
            rating = rating_of_payload(last.buttons[2]["payload"])
            assert rating is not None and rating.to_control() == {
                "kind": "csat", "value": 3, "comment": "", "about_sequence": 9,
                "about_position": None}


def test_no_feedback_file_asks_nothing(engine: DialogueEngine, tmp_path: Path) -> None:
    tracker = Tracker("telegram:bot:42", engine.domain.initial_slots())
    loaded = tracker.event_count
    result = engine.handle(tracker, UserUttered(parse=parse_payload("/opening_hours") or {}),
                           channel="telegram")
    assert with_question(FeedbackSettings(), message("/opening_hours"), tracker,
                         tracker.events_since(loaded), result, now=0.0) == result


def test_a_whatsapp_answer_to_the_numbered_question_maps_back_to_its_rating() -> None:
    from channels.models import Button
    from channels.whatsapp.render import chosen_payload, numbered_text
    from workers.feedback import csat_question, helpful_question

    helpful = helpful_question("Was this helpful?", 8, 1)
    buttons = [Button(b["title"], b["payload"]) for b in helpful.buttons]
    assert numbered_text(helpful.text, buttons).startswith(
        "Was this helpful?\n\n1. 👍 Yes\n2. 👎 No")
    down = rating_of_payload(chosen_payload("2", buttons) or "")
    assert down is not None and (down.value, down.about_sequence, down.about_position) == (
        0, 8, 1)
    csat = [Button(b["title"], b["payload"]) for b in csat_question("Rate us", 8).buttons]
    four = rating_of_payload(chosen_payload("4.", csat) or "")
    assert four is not None and (four.kind, four.value) == ("csat", 4)
