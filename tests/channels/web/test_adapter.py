"""The website webhook's verify and parse: what an external fuzzer broke (each a 500
before), and properties over anything a client can send — a message, or Parley's error."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.errors import BadRequest, Unauthorized
from channels.identifiers import checked_inbound
from channels.web.adapter import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebAdapter,
    sign,
    verify_signature,
    verify_signed_headers,
)
from tests.channels.strategies import any_text, bodies, dumped, headers, objects_with

SECRET, TOKEN, NOW = "site-secret", "site-token", 1_700_000_000.0
BODY = json.dumps({"conversation_id": "c1", "user_id": "u1", "message_id": "m1",
                   "text": "hi"}).encode()


def adapter(secret: str | None = SECRET, token: str | None = TOKEN) -> WebAdapter:
    return WebAdapter(secret=secret, token=token, callback_url=None, window=300,
                      now=lambda: NOW)


def signed(body: bytes, stamp: str = str(int(NOW))) -> dict[str, str]:
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(SECRET, stamp, body)}


# -- what broke: each was a ValueError or TypeError, a 500 ------------------------------------

@pytest.mark.parametrize("stamp", ["²", "1" * 5000, "١٧٠٠٠٠٠٠٠٠", "1700000000.5", " 1700000000"])
def test_a_timestamp_that_is_not_ascii_digits_is_unauthorized(stamp: str) -> None:
    headers = {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: "v1=" + "0" * 64}
    with pytest.raises(Unauthorized, match="malformed timestamp"):
        verify_signature(SECRET, headers, BODY, window=300, now=lambda: NOW)
    with pytest.raises(Unauthorized):
        adapter().verify_headers(headers)


@pytest.mark.parametrize("signature", ["v1=" + "²" * 64, "v1=" + "\udcff" * 64, "v1=00",
                                       "v1=" + "0" * 63 + "é"])
def test_a_signature_that_is_not_hex_is_unauthorized(signature: str) -> None:
    headers = {TIMESTAMP_HEADER: str(int(NOW)), SIGNATURE_HEADER: signature}
    with pytest.raises(Unauthorized, match="malformed signature"):
        verify_signature(SECRET, headers, BODY, window=300, now=lambda: NOW)


@pytest.mark.parametrize("auth", ["Bearer \udcff\udcfe", "Bearer \ud800", "Bearer ²",
                                  "Bearer " + TOKEN + "\udcff"])
def test_a_bearer_token_of_undecodable_bytes_is_unauthorized(auth: str) -> None:
    with pytest.raises(Unauthorized):
        adapter().verify_headers({"Authorization": auth})
    with pytest.raises(Unauthorized):
        adapter().verify({"Authorization": auth}, BODY)


@pytest.mark.parametrize(("body", "error"), [
    (b"[" * 50_000 + b"]" * 50_000, "invalid message"),
    (b'{"conversation_id": "c", "user_id": "u", "message_id": "m", "text": "hi", "x": 1}',
     "unknown field"),
    (b'{"conversation_id": "c", "user_id": "u", "message_id": "m", "text": "a", '
     b'"payload": "/b"}', "exactly one"),
    (b'{"conversation_id": "c", "user_id": "u", "message_id": "m"}', "exactly one"),
    (b'{"conversation_id": "c", "user_id": "u", "message_id": "m", "text": 5}', "invalid"),
    (b'{"conversation_id": "c d", "user_id": "u", "message_id": "m", "text": "a"}',
     "conversation_id"),
    (b'{"conversation_id": "c", "user_id": "u", "message_id": "m", "text": "\\ud800"}',
     "not valid JSON"),
])
def test_malformed_messages_are_bad_requests(body: bytes, error: str) -> None:
    with pytest.raises(BadRequest, match=error):
        adapter().parse(body)


def test_text_or_payload_beside_a_null_is_a_message() -> None:
    both = b'{"conversation_id": "c", "user_id": "u", "message_id": "m", "text": "a", ' \
           b'"payload": null}'
    [message] = adapter().parse(both)
    assert (message.text, message.payload) == ("a", None)


# -- verify_headers: what can be settled before the body is read ----------------------------

def test_the_bearer_token_alone_passes_before_the_body() -> None:
    adapter().verify_headers({"Authorization": f"Bearer {TOKEN}"})
    with pytest.raises(Unauthorized):
        adapter().verify_headers({"Authorization": "Bearer nope"})
    with pytest.raises(Unauthorized):
        adapter().verify_headers({})


def test_a_signature_is_checked_for_form_and_age_before_the_body() -> None:
    adapter().verify_headers(signed(BODY))  # the HMAC itself waits for the body
    adapter().verify_headers({TIMESTAMP_HEADER: str(int(NOW)),
                              SIGNATURE_HEADER: "v1=" + "0" * 64})
    with pytest.raises(Unauthorized, match="stale"):
        adapter().verify_headers(signed(BODY, stamp=str(int(NOW) - 301)))
    with pytest.raises(Unauthorized, match="bad signature"):
        adapter().verify({TIMESTAMP_HEADER: str(int(NOW)), SIGNATURE_HEADER: "v1=" + "0" * 64},
                         BODY)


# -- properties: anything → a message or Parley's error --------------------------------------

CREDENTIALS = headers({
    TIMESTAMP_HEADER: st.integers(int(NOW) - 400, int(NOW) + 400).map(str),
    SIGNATURE_HEADER: st.text("0123456789abcdef", min_size=64, max_size=64).map("v1=".__add__),
    "Authorization": st.sampled_from([f"Bearer {TOKEN}", "Bearer", "Basic x"]),
})


@given(CREDENTIALS, bodies())
def test_verification_answers_nothing_or_unauthorized(headers: dict[str, str],
                                                      body: bytes) -> None:
    for site in (adapter(), adapter(secret=None), adapter(token=None)):
        try:
            site.verify_headers(headers)
            site.verify(headers, body)
        except Unauthorized:
            continue
        bearer = headers.get("Authorization") == f"Bearer {TOKEN}"
        assert bearer or headers.get(SIGNATURE_HEADER) == sign(
            SECRET, headers.get(TIMESTAMP_HEADER, ""), body)
    with pytest.raises(Unauthorized):
        verify_signed_headers({**headers, TIMESTAMP_HEADER: "²"}, window=300, now=lambda: NOW)


@given(st.binary(max_size=300), st.integers(int(NOW) - 299, int(NOW) + 299))
def test_what_the_site_signs_is_verified(body: bytes, stamp: int) -> None:
    adapter().verify(signed(body, str(stamp)), body)


MESSAGE = objects_with({
    "conversation_id": any_text, "user_id": any_text, "message_id": any_text,
    "text": st.one_of(st.none(), any_text), "payload": st.one_of(st.none(), any_text)})


@given(st.one_of(bodies(), MESSAGE.map(dumped)))
def test_parse_answers_messages_the_bus_can_carry_or_bad_request(body: bytes) -> None:
    try:
        messages = adapter().parse(body)
    except BadRequest:
        return
    for message in messages:
        assert checked_inbound(message) == message
        assert (message.payload is None) or message.text == ""


def test_the_clock_is_the_injected_one() -> None:
    real = WebAdapter(secret=SECRET, token=None, callback_url=None, window=300)
    with pytest.raises(Unauthorized, match="stale"):
        real.verify(signed(BODY), BODY)  # NOW is long ago for time.time()
    fresh = str(int(time.time()))
    real.verify(signed(BODY, fresh), BODY)
