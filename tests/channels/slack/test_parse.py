"""Slack in, without I/O: signature checks, which payloads become messages, addressing."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.errors import BadRequest, Unauthorized
from channels.identifiers import checked_inbound
from channels.models import Button, OutboundMessage
from channels.slack.adapter import sign, verifier, verify_signature
from channels.slack.parse import (
    BlockActions,
    EventCallback,
    EventContext,
    Skipped,
    UrlVerification,
    address,
    as_bolt_body,
    clean_text,
    decode_request,
    pacing_key,
    parse_block_action,
    parse_event,
)
from tests.channels.strategies import any_text, bodies, headers, objects_with
from tests.conftest import FIXTURES

SLACK = FIXTURES / "slack"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_718_000_000.0
TEAM, BOT = "T0A1B2C3D", "U0BOT0001"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((SLACK / f"{name}.json").read_text())


def context(listen: frozenset[str] = frozenset({"C0LISTEN1"})) -> EventContext:
    return EventContext(team_id=TEAM, bot_user_id=BOT, listen_channels=listen, now=NOW)


def _verify(headers: dict[str, str], body: bytes) -> None:
    verify_signature(verifier(SECRET, now=lambda: NOW), headers, body)


def _headers(body: bytes, timestamp: int | str, secret: str = SECRET) -> dict[str, str]:
    stamp = str(timestamp)
    return {"X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(secret, stamp, body)}


# -- verify ---------------------------------------------------------------------------------

BODY = (SLACK / "message_im.json").read_bytes()


def test_a_fresh_signed_request_is_accepted() -> None:
    _verify(_headers(BODY, int(NOW) - 299), BODY)
    _verify(_headers(BODY, int(NOW) + 299), BODY)  # clocks drift both ways


def test_the_signature_matches_slacks_documented_example() -> None:
    # https://docs.slack.dev/authentication/verifying-requests-from-slack/ (worked example)
    body = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
            b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
            b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
            b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
            b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    assert sign(SECRET, "1531420618", body) == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")


@pytest.mark.parametrize(("headers", "reason"), [
    ({}, "missing"),
    ({"X-Slack-Request-Timestamp": str(int(NOW))}, "missing"),
    ({"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"}, "malformed"),
    (_headers(BODY, int(NOW) - 301), "stale"),
    (_headers(BODY, int(NOW) + 301), "stale"),
    (_headers(BODY, int(NOW), secret="another-secret"), "bad Slack signature"),
    ({**_headers(BODY, int(NOW)), "X-Slack-Signature": "v0=" + "0" * 64}, "bad Slack signature"),
])
def test_unsigned_forged_or_stale_requests_are_unauthorized(headers: dict[str, str],
                                                           reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        _verify(headers, BODY)


def test_a_tampered_body_is_unauthorized() -> None:
    headers = _headers(BODY, int(NOW))
    with pytest.raises(Unauthorized):
        _verify(headers, BODY.replace(b"hello", b"hellO"))


def test_header_names_are_case_insensitive() -> None:
    headers = {k.lower(): v for k, v in _headers(BODY, int(NOW)).items()}
    _verify(headers, BODY)


def test_a_body_that_is_not_utf8_is_a_bad_request() -> None:
    body = b"\xff\xfe{}"
    headers = {"X-Slack-Request-Timestamp": str(int(NOW)), "X-Slack-Signature": "v0=00"}
    with pytest.raises(BadRequest):
        _verify(headers, body)


# -- events ---------------------------------------------------------------------------------

def test_a_direct_message_is_taken() -> None:
    message = parse_event(fixture("message_im"), context())
    assert message is not None
    assert (message.channel, message.account, message.chat) == ("slack", TEAM, "D0DM00001")
    assert message.conversation_id == "slack:T0A1B2C3D:D0DM00001"
    assert (message.user_id, message.message_id, message.text) == (
        "U0PERSON1", "Ev0IM000001", "hello")
    assert message.payload is None and message.received_at == NOW
    assert len(json.dumps(message.raw)) < 200  # it travels through Redis


def test_a_mention_is_taken_without_the_mention() -> None:
    message = parse_event(fixture("app_mention"), context())
    assert message is not None
    assert message.chat == "C0GENERAL" and message.text == "when do you open?"


def test_a_mention_in_a_thread_is_answered_in_the_thread() -> None:
    message = parse_event(fixture("app_mention_thread"), context())
    assert message is not None
    assert message.chat == "C0GENERAL:1718000150.000300"
    assert address(message.conversation_id).thread_ts == "1718000150.000300"


def test_every_message_of_a_listened_channel_is_taken() -> None:
    message = parse_event(fixture("message_channel"), context())
    assert message is not None and message.chat == "C0LISTEN1"
    assert message.text == "opening hours"


def test_channel_messages_without_a_mention_are_skipped_elsewhere() -> None:
    assert parse_event(fixture("message_channel"), context(listen=frozenset())) is None


def test_in_a_listened_channel_a_mention_is_taken_once() -> None:
    body = fixture("app_mention")
    as_message = copy.deepcopy(body)
    as_message["event"].update(type="message", channel="C0LISTEN1", channel_type="channel")
    as_message["event_id"] = "Ev0MENTION2"
    body["event"]["channel"] = "C0LISTEN1"
    taken = [parse_event(b, context()) for b in (body, as_message)]
    assert [m is not None for m in taken] == [False, True]


@pytest.mark.parametrize("name", ["message_changed", "channel_join", "message_own_bot",
                                  "reaction_added"])
def test_edits_joins_bot_messages_and_other_events_are_skipped(name: str) -> None:
    assert parse_event(fixture(name), context()) is None


def test_another_bots_messages_are_skipped() -> None:
    body = fixture("message_im")
    body["event"].update(bot_id="B0OTHER01", user="U0OTHER01")
    assert parse_event(body, context()) is None


def test_a_thread_broadcast_is_taken_in_its_thread() -> None:
    body = fixture("message_im")
    body["event"].update(subtype="thread_broadcast", thread_ts="1717999999.000001")
    message = parse_event(body, context())
    assert message is not None and message.chat == "D0DM00001:1717999999.000001"


def test_a_file_comes_as_an_attachment() -> None:
    message = parse_event(fixture("message_file_share"), context())
    assert message is not None and message.text == "here is the menu"
    assert [(a.url, a.content_type) for a in message.attachments] == [
        ("https://files.slack.com/files-pri/T0A1B2C3D-F0MENU0001/menu.png", "image/png")]


def test_a_bare_mention_is_skipped() -> None:
    body = fixture("app_mention")
    body["event"]["text"] = "<@U0BOT0001>  "
    assert parse_event(body, context()) is None


@pytest.mark.parametrize("body", [{}, {"event": None}, {"event": {"type": "message"}},
                                  {"event": {"type": "message", "channel_type": "im",
                                             "channel": "D1", "text": "hi"}}])
def test_incomplete_events_are_skipped(body: dict[str, Any]) -> None:
    assert parse_event(body, context()) is None


def test_without_a_workspace_nothing_is_taken() -> None:
    # Enterprise Grid org-wide installations carry no team id: not served (no token).
    no_team = EventContext(team_id="", bot_user_id=BOT, listen_channels=frozenset(), now=NOW)
    assert parse_event(fixture("message_im"), no_team) is None
    assert parse_block_action(fixture("block_actions"), no_team) is None


def test_text_is_unescaped_and_only_the_bots_mention_removed() -> None:
    text = "<@U0BOT0001|parley> ask <@U0PERSON2> about &lt;b&gt; &amp;lt; &amp; co"
    assert clean_text(text, BOT) == "ask <@U0PERSON2> about <b> &lt; & co"
    assert clean_text('/inform{"guests": 2}', BOT) == '/inform{"guests": 2}'


# -- button clicks --------------------------------------------------------------------------

def test_a_button_click_becomes_its_payload() -> None:
    message = parse_block_action(fixture("block_actions"), context())
    assert message is not None
    assert message.conversation_id == "slack:T0A1B2C3D:D0DM00001"
    assert (message.payload, message.text, message.user_id) == ("/affirm", "Yes", "U0PERSON1")
    assert message.message_id == "action:1718000905.123456:U0PERSON1:parley-button-0"


def test_a_click_in_a_thread_stays_in_the_thread() -> None:
    body = fixture("block_actions")
    body["container"]["thread_ts"] = "1718000850.001000"
    message = parse_block_action(body, context())
    assert message is not None and message.chat == "D0DM00001:1718000850.001000"


def test_two_clicks_are_two_messages() -> None:
    first, second = fixture("block_actions"), fixture("block_actions")
    second["actions"][0]["action_ts"] = "1718000911.000001"
    ids = {parse_block_action(b, context()).message_id for b in (first, second)}  # type: ignore[union-attr]
    assert len(ids) == 2


def test_menus_and_modal_actions_are_skipped() -> None:
    menu = fixture("block_actions")
    menu["actions"][0] = {"type": "static_select", "action_id": "m", "action_ts": "1.2",
                          "selected_option": {"value": "x"}}
    modal = fixture("block_actions")
    modal["container"] = {"type": "view", "view_id": "V0123"}
    assert parse_block_action(menu, context()) is None
    assert parse_block_action(modal, context()) is None


# -- addressing -----------------------------------------------------------------------------

def _reply(conversation_id: str) -> OutboundMessage:
    return OutboundMessage(conversation_id=conversation_id, channel="slack", in_reply_to="x",
                           sequence=1, index=0, text="hi", buttons=(Button("a", "/a"),))


def test_threads_of_one_channel_share_its_pace() -> None:
    keys = {pacing_key(_reply(c)) for c in ("slack:T1A:C1A", "slack:T1A:C1A:1.2",
                                            "slack:T1A:C1A:3.4")}
    assert keys == {"T1A:C1A"}
    assert pacing_key(_reply("slack:T1A:C2B")) != pacing_key(_reply("slack:T2B:C1A"))


@pytest.mark.parametrize("bad", ["web:T1:C1", "slack:T1", "slack::C1", "slack:T1:C1:1:2"])
def test_a_conversation_id_that_is_not_slacks_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        address(bad)


# -- what an external fuzzer broke (each a 500 before) ---------------------------------------

@pytest.mark.parametrize("stamp", ["²", "1" * 5000, "١٧١٨٠٠٠٠٠٠"])
def test_a_timestamp_that_is_not_ascii_digits_is_unauthorized(stamp: str) -> None:
    with pytest.raises(Unauthorized, match="malformed"):
        _verify({"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=00"}, BODY)


@pytest.mark.parametrize("signature", ["v0=" + "é" * 64, "v0=\udcff"])
def test_a_signature_that_is_not_ascii_is_unauthorized(signature: str) -> None:
    headers = {"X-Slack-Request-Timestamp": str(int(NOW)), "X-Slack-Signature": signature}
    with pytest.raises(Unauthorized, match="malformed"):
        _verify(headers, BODY)


def _changed(name: str, **changes: Any) -> bytes:
    body = fixture(name)
    for path, value in changes.items():
        target = body
        *parents, last = path.split("__")
        for parent in parents:
            target = target[int(parent)] if isinstance(target, list) else target[parent]
        target[last] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize("body", [
    b"[" * 50_000 + b"]" * 50_000,
    b'{"type": "event_callback", "event": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"type": 1}', b'[]', b'"event_callback"', b"payload=%5B%5D", b"payload=nope",
    b'{"type": "url_verification"}',
    _changed("message_im", event=[]), _changed("message_im", type=[]),
    _changed("message_im", event__type=[]), _changed("message_im", event__subtype=[]),
    _changed("message_im", event__user=5), _changed("message_im", event__text={"a": 1}),
    _changed("message_im", event__files="x"), _changed("message_im", event__user="U 1"),
    _changed("message_im", team_id=[]), _changed("message_im", event_id=5),
    _changed("message_im", authorizations="x"), _changed("message_im", authorizations=[1]),
    _changed("reaction_added", team_id=["T0A1B2C3D"]),  # the envelope, whatever the event
])
def test_malformed_event_requests_are_bad_requests(body: bytes) -> None:
    with pytest.raises(BadRequest):
        decode_request(body, "application/json")


def _click(**changes: Any) -> bytes:
    return b"payload=" + quote(_changed("block_actions", **changes)).encode()


@pytest.mark.parametrize("body", [
    _click(actions=[1]), _click(actions="x"), _click(user=[]), _click(container=[]),
    _click(team=[]), _click(channel="x"), _click(message=3), _click(actions__0__value=5),
    _click(actions__0__text="Yes"), _click(actions__0__action_ts=1718000905.1),
])
def test_malformed_interactions_are_bad_requests(body: bytes) -> None:
    with pytest.raises(BadRequest):
        decode_request(body, "application/x-www-form-urlencoded")


@pytest.mark.parametrize(("body", "reason"), [
    (_changed("message_im", event=None), "without an event"),
    (json.dumps({k: v for k, v in fixture("message_im").items() if k != "event"}).encode(),
     "without an event"),
    (_click(actions=[]), "not a button click"),
    (_click(actions__0__action_id=None), "without an action_id"),
    (b"ssl_check=1&token=x", "ssl_check"),
    (json.dumps({"type": "app_rate_limited", "team_id": TEAM}).encode(), "hourly limit"),
])
def test_requests_parley_does_not_take_are_skipped(body: bytes, reason: str) -> None:
    skipped = decode_request(body, "application/json" if body.startswith(b"{") else "")
    assert isinstance(skipped, Skipped) and reason in skipped.reason


def test_the_charset_a_content_type_names_is_not_read() -> None:
    body = (SLACK / "url_verification.json").read_bytes()
    payload = decode_request(body, "application/json; charset=nope-42")
    assert isinstance(payload, UrlVerification)


def test_a_lone_surrogate_reaches_the_message_to_be_replaced_later() -> None:
    payload = decode_request(_changed("message_im", event__text="hi \ud800"))
    assert isinstance(payload, EventCallback)
    message = parse_event(json.loads(as_bolt_body(payload)), context())
    assert message is not None and message.text == "hi \ud800"
    assert checked_inbound(message).text == "hi \ufffd"


def test_what_bolt_is_given_holds_only_the_typed_fields() -> None:
    body = fixture("message_im")
    body["blocks"] = [[[["deep"]]]]
    body["event"]["blocks"] = {"any": "shape"}
    payload = decode_request(json.dumps(body).encode())
    given_to_bolt = json.loads(as_bolt_body(payload))  # type: ignore[arg-type]
    assert "blocks" not in given_to_bolt and "blocks" not in given_to_bolt["event"]
    assert given_to_bolt["event"]["user"] == "U0PERSON1"


# -- properties -----------------------------------------------------------------------------

SLACK_HEADERS = headers({
    "X-Slack-Request-Timestamp": st.integers(int(NOW) - 400, int(NOW) + 400).map(str),
    "X-Slack-Signature": st.text("0123456789abcdef", min_size=64, max_size=64).map("v0=".__add__),
})
EVENT = objects_with({
    "type": st.sampled_from(["message", "app_mention", "reaction_added"]),
    "subtype": st.sampled_from(["file_share", "thread_broadcast", "message_changed"]),
    "user": st.sampled_from(["U0PERSON1", "U 1", ""]), "channel": st.sampled_from(["D0DM00001",
                                                                                "C0LISTEN1"]),
    "channel_type": st.just("im"), "text": any_text, "thread_ts": any_text,
    "bot_id": any_text, "files": st.lists(objects_with({"url_private": any_text,
                                                        "mimetype": any_text}), max_size=2)})
ENVELOPE = objects_with({
    "type": st.sampled_from(["event_callback", "url_verification", "block_actions",
                             "app_rate_limited", "view_submission"]),
    "event": EVENT, "event_id": st.sampled_from(["Ev0IM000001", "Ev 1"]), "team_id": any_text,
    "challenge": any_text, "authorizations": st.lists(objects_with({"team_id": any_text})),
    "actions": st.lists(objects_with({"type": st.just("button"), "action_id": any_text,
                                      "value": any_text, "action_ts": any_text}), max_size=2),
    "user": objects_with({"id": any_text}), "container": objects_with({
        "type": st.just("message"), "channel_id": any_text, "thread_ts": any_text}),
    "team": objects_with({"id": any_text}), "message": objects_with({"thread_ts": any_text}),
})


@given(SLACK_HEADERS, bodies())
def test_verification_answers_nothing_or_parleys_error(headers: dict[str, str],
                                                       body: bytes) -> None:
    try:
        _verify(headers, body)
    except (Unauthorized, BadRequest):
        return
    assert headers["X-Slack-Signature"] == sign(SECRET, headers["X-Slack-Request-Timestamp"],
                                                body)


@given(st.one_of(bodies(ENVELOPE), ENVELOPE.map(lambda b: b"payload=" + quote(
    json.dumps(b)).encode())), st.sampled_from(["application/json", "", "text/plain; x=y"]))
def test_a_request_is_a_typed_payload_skipped_or_bad_request(body: bytes,
                                                             content_type: str) -> None:
    try:
        payload = decode_request(body, content_type)
    except BadRequest:
        return
    if isinstance(payload, Skipped):
        return
    bolt_body = json.loads(as_bolt_body(payload))
    assert bolt_body["type"] == payload.type
    parsed = (parse_event(bolt_body, context()) if isinstance(payload, EventCallback)
              else parse_block_action(bolt_body, context())
              if isinstance(payload, BlockActions) else None)
    if parsed is not None:  # every message the parsers make can be stored
        assert checked_inbound(parsed).message_id == parsed.message_id


@given(ENVELOPE)
def test_the_parsers_answer_a_message_none_or_bad_request(body: dict[str, Any]) -> None:
    for parse in (parse_event, parse_block_action):
        try:
            message = parse(body, context())
        except BadRequest:
            continue
        if message is not None:
            checked_inbound(message)
