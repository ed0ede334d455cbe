"""Tracker JSON round trip and session expiry with carried-over slots."""

from __future__ import annotations

import json

import pytest

from brain.dialogue.domain import SessionConfig
from brain.dialogue.events import (
    BotUttered,
    FormActivated,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from brain.dialogue.session import start_session_if_due
from brain.dialogue.tracker import Tracker, TrackerSchemaError


def _tracker() -> Tracker:
    tracker = Tracker("web:site:abc", {"order_id": None, "lang": "en", "requested_slot": None})
    tracker.apply_all([
        SessionStarted(timestamp=100.0),
        UserUttered(timestamp=100.0, text="where is 48291",
                    parse={"intent": {"name": "check_order_status", "confidence": 0.9}},
                    message_id="m1"),
        SlotSet(timestamp=100.0, name="order_id", value="48291"),
        FormActivated(timestamp=100.0, name="refund_form"),
        BotUttered(timestamp=101.0, text="Why?", buttons=({"title": "x", "payload": "/x"},)),
    ])
    return tracker


def test_json_round_trip_keeps_events_and_state() -> None:
    tracker = _tracker()
    data = json.loads(tracker.to_json())
    assert data["schema_version"] == 2
    again = Tracker.from_json(tracker.to_json())
    assert again.events == tracker.events
    assert (again.slots, again.active_form, again.last_activity) == (
        {"order_id": "48291", "lang": "en", "requested_slot": None}, "refund_form", 101.0)
    assert again.window(5) == [{"role": "user", "text": "where is 48291"},
                               {"role": "bot", "text": "Why?"}]


def test_a_snapshot_with_a_short_tail_keeps_state_and_counts() -> None:
    tracker = _tracker()
    for n in range(40):
        tracker.apply(UserUttered(timestamp=200.0 + n, text=f"m{n}", parse={}, message_id=str(n)))
    tracker.apply(SlotSet(timestamp=300.0, name="lang", value="de"))
    data = json.loads(tracker.to_json(keep=3))
    assert (len(data["events"]), data["dropped"]) == (3, 43)
    again = Tracker.from_json(tracker.to_json(keep=3))
    assert (again.slots, again.active_form, again.last_activity, again.event_count) == (
        tracker.slots, "refund_form", 239.0, 46)
    assert again.events == tracker.events[-3:]
    again.apply(BotUttered(timestamp=301.0, text="ok"))
    assert again.events_since(46) == [BotUttered(timestamp=301.0, text="ok")]
    assert again.events_since(44) == [*tracker.events[-2:],
                                      BotUttered(timestamp=301.0, text="ok")]


def test_version_1_json_is_read_by_replay() -> None:
    tracker = _tracker()
    data = {"schema_version": 1, "conversation_id": tracker.conversation_id,
            "initial_slots": tracker.initial_slots,
            "events": [e.to_dict() for e in tracker.events]}
    again = Tracker.from_json(json.dumps(data))
    assert (again.slots, again.active_form, again.events) == (
        tracker.slots, "refund_form", tracker.events)


def test_other_schema_version_is_refused() -> None:
    data = json.loads(_tracker().to_json())
    data["schema_version"] = 99
    with pytest.raises(TrackerSchemaError, match="schema version 99"):
        Tracker.from_json(json.dumps(data))


def test_session_expires_after_inactivity_and_carries_slots() -> None:
    tracker = _tracker()
    config = SessionConfig(session_expiration_time=30, carry_over_slots_to_new_session=True)
    assert not start_session_if_due(tracker, config, now=101.0 + 29 * 60)
    assert start_session_if_due(tracker, config, now=101.0 + 31 * 60)
    assert tracker.active_form is None
    assert tracker.slots["order_id"] == "48291"
    assert tracker.current_session()[0] == SlotSet(timestamp=101.0 + 31 * 60, name="order_id",
                                                   value="48291")


def test_session_expiry_without_carry_over_resets_slots() -> None:
    tracker = _tracker()
    config = SessionConfig(session_expiration_time=30, carry_over_slots_to_new_session=False)
    assert start_session_if_due(tracker, config, now=10_000.0)
    assert tracker.slots == {"order_id": None, "lang": "en", "requested_slot": None}
    assert Tracker.from_json(tracker.to_json()).slots == tracker.slots
