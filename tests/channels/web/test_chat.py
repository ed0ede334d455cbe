"""The browser chat's frame decoders: what they refuse, and properties over anything a
browser (or anyone) can send — a frame, or ``BadRequest``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.errors import BadRequest
from channels.identifiers import checked_inbound, is_valid_id
from channels.web.chat import (
    MAX_TEXT,
    Hello,
    decode_hello,
    decode_message,
    decode_poll,
    decode_send,
    decode_session,
    inbound,
)
from tests.channels.strategies import any_text, bodies, dumped, objects_with

SESSION = "3eq6tpBm3_NCsk-SXwo4Cg"


@pytest.mark.parametrize("raw", [
    b"[" * 50_000 + b"]" * 50_000,
    b'{"type": "hello", "token": "t", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"type": "hello", "token": "t", "after": -1}',
    b'{"type": "hello", "token": "t", "after": 99999999999999999999}',
    b'{"type": "hello", "token": "t", "after": 7.5}',
    b'{"type": "hello", "token": 5}', b'{"type": "message", "id": "1", "text": "a"}',
])
def test_malformed_hellos_are_bad_requests(raw: bytes) -> None:
    with pytest.raises(BadRequest):
        decode_hello(raw)


def test_a_whole_number_is_one_however_json_spells_it() -> None:
    assert decode_hello(b'{"type": "hello", "token": "t", "after": 7.0}') == Hello("t", 7)
    assert decode_poll(b'{"token": "t", "after": 7e1}') == ("t", 70)


@pytest.mark.parametrize("raw", [
    b'{"token": "t", "id": "1", "text": "a", "payload": "/b"}',
    b'{"token": "t", "id": "1"}', b'{"token": "t", "id": "1", "text": null, "payload": null}',
    b'{"token": "t", "id": "", "text": "a"}', b'{"token": "t", "id": "a b", "text": "a"}',
    b'{"token": "t", "id": "' + b"1" * 101 + b'", "text": "a"}',
    b'{"token": "t", "id": "1", "text": "\\u001c \\u2028\\u3000"}',  # all white space
    b'{"token": "t", "id": "1", "text": "' + b"a" * (MAX_TEXT + 1) + b'"}',
    b'{"token": "t", "id": "1", "text": "a", "extra": 1}',
])
def test_malformed_sends_are_bad_requests(raw: bytes) -> None:
    with pytest.raises(BadRequest):
        decode_send(raw)


def test_a_payload_beside_a_null_text_is_a_button_press() -> None:
    token, frame = decode_send(b'{"token": "t", "id": "1", "text": null, "payload": "/b", '
                               b'"title": null}')
    assert (token, frame.text, frame.payload, frame.title) == ("t", None, "/b", None)


def test_an_empty_session_body_asks_for_a_new_session() -> None:
    assert decode_session(b"") is None
    assert decode_session(b'{"token": null}') is None
    with pytest.raises(BadRequest):
        decode_session(b'{"token": 1}')


FRAME = objects_with({"type": st.sampled_from(["hello", "message", "poll"]), "token": any_text,
                      "after": st.one_of(st.integers(), st.floats(allow_nan=False)),
                      "id": any_text, "text": any_text, "payload": any_text,
                      "title": any_text})


@given(st.one_of(bodies(), FRAME.map(dumped)))
def test_each_decoder_answers_a_frame_or_bad_request(raw: bytes) -> None:
    for decode in (decode_hello, decode_poll, decode_session):
        try:
            decode(raw)
        except BadRequest:
            pass
    for decode_frame in (decode_message, lambda r: decode_send(r)[1]):
        try:
            frame = decode_frame(raw)
        except BadRequest:
            continue
        assert is_valid_id(frame.id) and len(frame.id) <= 100
        content = frame.text if frame.text is not None else frame.payload
        assert content is not None and content.strip() and len(content) <= MAX_TEXT
        message = inbound(SESSION, frame, now=0.0)
        assert checked_inbound(message) == message


@given(st.one_of(bodies(), FRAME.map(dumped)))
def test_a_hello_or_poll_names_a_sequence_redis_can_hold(raw: bytes) -> None:
    try:
        after = decode_hello(raw).after
    except BadRequest:
        try:
            after = decode_poll(raw)[1]
        except BadRequest:
            return
    assert isinstance(after, int) and 0 <= after <= 2**53
