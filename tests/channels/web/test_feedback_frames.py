"""Ratings from the browser chat and the website webhook: what the decoders accept, the
entry a rating becomes (kind ``feedback``, keyed by the reply it rates), and refusals."""

from __future__ import annotations

import json

import pytest

from channels.errors import BadRequest
from channels.identifiers import checked_inbound
from channels.models import OutboundMessage
from channels.web.adapter import WebAdapter
from channels.web.chat import (
    FeedbackFrame,
    decode_frame,
    decode_send,
    inbound_rating,
    rated_frame_parts,
    reply_frame_parts,
)

SESSION = "3eq6tpBm3_NCsk-SXwo4Cg"
DOWN = {"kind": "thumbs", "value": 0, "comment": " wrong hours ", "about_sequence": 4,
        "about_position": 1}


def test_a_feedback_frame_becomes_a_feedback_entry_keyed_by_the_reply_it_rates() -> None:
    frame = decode_frame(json.dumps({"type": "feedback", "id": "r1", "feedback": DOWN}))
    assert isinstance(frame, FeedbackFrame)
    message = inbound_rating(SESSION, frame, now=1.0)
    assert (message.kind, message.text, message.payload) == ("feedback", "", None)
    assert message.control == {"kind": "thumbs", "value": 0, "comment": "wrong hours",
                               "about_sequence": 4, "about_position": 1}
    assert message.message_id == f"{SESSION}:rating:thumbs:4:1"  # whatever the client id
    again = decode_frame(json.dumps({"type": "feedback", "id": "r2", "feedback": DOWN}))
    assert isinstance(again, FeedbackFrame)
    assert inbound_rating(SESSION, again).message_id == message.message_id
    assert checked_inbound(message) == message
    prefix, suffix = rated_frame_parts(frame, at=2.0)
    assert json.loads(prefix + b"7" + suffix) == {
        "type": "rated", "seq": 7, "id": "r1", "kind": "thumbs", "value": 0, "turn": 4,
        "index": 1, "at": 2.0}


def test_the_long_poll_send_takes_a_rating_alone() -> None:
    token, frame = decode_send(json.dumps({"token": "t", "id": "r1",
                                           "feedback": DOWN}).encode())
    assert token == "t" and isinstance(frame, FeedbackFrame) and frame.rating.value == 0
    with pytest.raises(BadRequest, match="'feedback' alone"):
        decode_send(json.dumps({"token": "t", "id": "r1", "text": "hi",
                                "feedback": DOWN}).encode())


@pytest.mark.parametrize("feedback", [
    {"kind": "thumbs", "value": 2, "about_sequence": 1, "about_position": 0},
    {"kind": "thumbs", "value": 1},                                   # about nothing
    {"kind": "csat", "value": 0},
    {"kind": "stars", "value": 3},
    {"kind": "csat", "value": 3, "comment": "x" * 501},
    {"kind": "csat", "value": 3, "about_sequence": -1},
    {"kind": "csat", "value": "3"},
    {"kind": "csat", "value": 3, "extra": True},
    "thumbs up",
])
def test_malformed_ratings_are_bad_requests(feedback: object) -> None:
    with pytest.raises(BadRequest, match="invalid feedback"):
        decode_frame(json.dumps({"type": "feedback", "id": "r1", "feedback": feedback}))


def test_a_reply_frame_names_its_turn_and_index() -> None:
    reply = OutboundMessage(conversation_id=f"webchat:browser:{SESSION}", channel="webchat",
                            in_reply_to=f"{SESSION}:m1", sequence=6, index=2, text="Hi")
    prefix, suffix = reply_frame_parts(reply, at=0.0)
    frame = json.loads(prefix + b"1" + suffix)
    assert (frame["turn"], frame["index"], frame["in_reply_to"]) == (6, 2, "m1")


def _adapter() -> WebAdapter:
    return WebAdapter(secret="s", token=None, callback_url=None, window=300, now=lambda: 5.0)


def test_the_webhook_takes_a_rating_instead_of_a_text() -> None:
    body = {"conversation_id": "c1", "user_id": "u1", "message_id": "m9",
            "feedback": {"kind": "csat", "value": 5, "comment": "great"}}
    [message] = _adapter().parse(json.dumps(body).encode())
    assert (message.kind, message.message_id, message.conversation_id) == (
        "feedback", "m9", "web:site:c1")
    assert message.control == {"kind": "csat", "value": 5, "comment": "great",
                               "about_sequence": None, "about_position": None}
    for wrong in ({**body, "text": "hi"}, {**body, "feedback": {"kind": "csat", "value": 6}}):
        with pytest.raises(BadRequest):
            _adapter().parse(json.dumps(wrong).encode())


def test_a_position_without_its_turn_is_dropped_not_refused() -> None:
    """JSON Schema cannot say 'about_position needs about_sequence': a rating with only
    a position is the conversation's (its position names nothing)."""
    from channels.models import rating_from

    rating = rating_from({"kind": "csat", "value": 3, "about_position": 0})
    assert (rating.about_sequence, rating.about_position, rating.value) == (None, None, 3)
