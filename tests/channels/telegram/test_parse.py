"""Telegram updates in: the secret-token check and what each recorded update becomes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.errors import BadRequest, Unauthorized
from channels.identifiers import checked_inbound
from channels.telegram.adapter import SECRET_HEADER, TelegramAdapter, secret_headers, verify_secret
from channels.telegram.parse import BotIdentity, TelegramUpdate, parse_update
from tests.channels.strategies import any_text, bodies, dumped, headers, objects_with
from tests.conftest import FIXTURES

ME = BotIdentity(id=123456789, username="ParleyTestBot")
SECRET = "s3cret_token-1"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "telegram" / f"{name}.json").read_text(
        encoding="utf-8"))
    return data


def parse(data: dict[str, Any] | bytes, start: str = "/greet") -> TelegramUpdate:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return parse_update(body, me=ME, start_payload=start, now=1700000000.0)


def test_the_right_secret_passes() -> None:
    verify_secret(SECRET, secret_headers(SECRET))


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: ""}, {SECRET_HEADER: "s3cret_token-2"},
                                     {SECRET_HEADER: SECRET + "x"}, {SECRET_HEADER: "é"},
                                     {"X-Telegram-Bot-Api-Secret": SECRET}])
def test_a_missing_or_wrong_secret_is_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized) as caught:
        verify_secret(SECRET, headers)
    assert SECRET not in str(caught.value)


def test_a_private_text_becomes_an_inbound_message() -> None:
    update = parse(fixture("private_text"))
    assert update.kind == "message" and update.callback_query_id is None
    message = update.message
    assert message is not None
    assert message.conversation_id == "telegram:123456789:111111111"
    assert (message.user_id, message.text, message.payload) == ("111111111", "when do you open",
                                                                None)
    assert message.message_id == "123456789:500000001"  # the bot's update_id: the dedupe key
    assert message.received_at == 1700000000.0
    assert message.raw == {"update_id": 500000001, "chat_type": "private",
                           "telegram_message_id": 101}


def test_start_becomes_the_configured_start_payload() -> None:
    message = parse(fixture("private_start"), start='/greet{"source": "telegram"}').message
    assert message is not None
    assert message.payload == '/greet{"source": "telegram"}' and message.text == "/start"


def test_start_with_a_deep_link_parameter_is_still_start() -> None:
    data = fixture("private_start")
    data["message"]["text"] = "/start campaign-42"
    message = parse(data).message
    assert message is not None and message.payload == "/greet"


def test_other_commands_go_to_the_brain_as_typed() -> None:
    update = parse(fixture("private_command"))
    assert update.kind == "command"
    assert update.message is not None and update.message.text == "/opening_hours"
    assert update.message.payload is None


def test_a_command_with_entities_keeps_its_arguments() -> None:
    data = fixture("group_command_for_me")
    data["message"]["text"] = '/inform@ParleyTestBot{"guests": 2}'
    data["message"]["entities"][0]["length"] = len("/inform@ParleyTestBot")
    message = parse(data).message
    assert message is not None and message.text == '/inform{"guests": 2}'


def test_a_group_command_for_this_bot_is_taken_without_the_bot_name() -> None:
    message = parse(fixture("group_command_for_me")).message
    assert message is not None
    assert message.conversation_id == "telegram:123456789:-1001234567890"
    assert message.text == "/opening_hours" and message.user_id == "222222222"


def test_the_bot_name_in_a_command_is_matched_without_case() -> None:
    data = fixture("group_command_for_me")
    data["message"]["text"] = "/opening_hours@parleytestbot"
    assert parse(data).message is not None


def test_a_command_for_another_bot_is_ignored() -> None:
    assert parse(fixture("group_command_for_other_bot")) == TelegramUpdate("ignored")


def test_a_group_mention_is_taken_and_cut_out_counting_utf16() -> None:
    message = parse(fixture("group_mention")).message  # the mention follows an emoji (2 units)
    assert message is not None and message.text == "👋 when do you open?"


def test_a_text_mention_of_the_bot_counts() -> None:
    data = fixture("group_chatter")
    data["message"]["text"] = "Parley Test when do you open"
    data["message"]["entities"] = [{"offset": 0, "length": 11, "type": "text_mention",
                                    "user": {"id": ME.id, "is_bot": True,
                                             "first_name": "Parley Test"}}]
    message = parse(data).message
    assert message is not None and message.text == "when do you open"


def test_a_reply_to_the_bot_in_a_group_is_taken() -> None:
    message = parse(fixture("group_reply_to_bot")).message
    assert message is not None and message.text == "when do you open"


def test_group_chatter_not_for_the_bot_is_ignored() -> None:
    assert parse(fixture("group_chatter")).kind == "ignored"


def test_a_mention_alone_is_ignored() -> None:
    data = fixture("forum_topic_mention")
    data["message"]["text"] = "@ParleyTestBot "
    assert parse(data) == TelegramUpdate("ignored")


def test_a_forum_topic_message_is_its_own_conversation() -> None:
    message = parse(fixture("forum_topic_mention")).message
    assert message is not None
    assert message.conversation_id == "telegram:123456789:-1009876543210:42"
    assert message.text == "opening hours please"


def test_a_photo_caption_is_the_text() -> None:
    message = parse(fixture("photo_with_caption")).message
    assert message is not None and message.text == "when do you open"
    assert message.attachments == ()


def test_a_button_press_carries_its_data_and_the_query_to_answer() -> None:
    update = parse(fixture("callback_query"))
    assert update.kind == "callback_query"
    assert update.callback_query_id == "4382bfdwdsb323b2d9"
    message = update.message
    assert message is not None
    assert (message.payload, message.text) == ("/affirm", "")
    assert message.conversation_id == "telegram:123456789:111111111"
    assert message.message_id == "123456789:500000010"


def test_an_inline_mode_button_is_only_answered() -> None:
    update = parse(fixture("callback_query_inline"))
    assert update == TelegramUpdate("ignored", callback_query_id="4382bfdwdsb323b2e0")


@pytest.mark.parametrize("name", ["edited_message", "my_chat_member", "sticker"])
def test_updates_the_bot_does_not_take_are_ignored(name: str) -> None:
    assert parse(fixture(name)) == TelegramUpdate("ignored")


@pytest.mark.parametrize("kind", ["purchased_paid_media", "an_update_type_from_the_future"])
def test_other_types_are_ignored_without_being_read(kind: str) -> None:
    assert parse({"update_id": 7, kind: {"unexpected": "shape"}}) == TelegramUpdate("ignored")


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"message": {}}', b'{"update_id": "7"}',
                                  b'{"update_id": 7, "message": {"message_id": 1}}',
                                  b'{"update_id": 7, "callback_query": {"id": "1"}}',
                                  "\udcff".encode("utf-8", "surrogatepass")])
def test_malformed_bodies_are_bad_requests(body: bytes) -> None:
    with pytest.raises(BadRequest):
        parse(body)


def test_a_callback_answer_is_returned_for_a_pressed_button_only() -> None:
    press, text = parse(fixture("callback_query")), parse(fixture("private_text"))
    assert TelegramAdapter.webhook_answer(press, enqueued=True) == {
        "method": "answerCallbackQuery", "callback_query_id": "4382bfdwdsb323b2d9"}
    assert TelegramAdapter.webhook_answer(text, enqueued=True) is None
    expired = TelegramAdapter.webhook_answer(press, enqueued=False)
    assert expired is not None and "expired" in expired["text"]


# -- what an external fuzzer broke (each a 500 before) ---------------------------------------

def _with(template: str, **changes: Any) -> dict[str, Any]:
    data = fixture(template)
    data["message"].update(changes)
    return data


@pytest.mark.parametrize("data", [
    _with("private_text", text=5),                  # AttributeError: int has no strip
    _with("private_text", date=10**20),             # OverflowError: time_t
    _with("private_text", date=-(10**20)),
    _with("private_text", chat=[]), _with("private_text", entities=5),
    _with("private_text", entities=[5]), _with("private_text", message_id="101"),
    _with("private_text", is_topic_message="yes"),
    {**fixture("private_text"), "update_id": 10**30},
    {**fixture("private_text"), "update_id": True},
    {"update_id": 7, "message": {"\ud800": 1, "message_id": 1, "date": 0,
                                 "chat": {"id": 1, "type": "private"}}},
])
def test_fields_of_the_wrong_type_or_size_are_bad_requests(data: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        parse(data)


@pytest.mark.parametrize("body", [b"[" * 50_000 + b"]" * 50_000,
                                  b'{"update_id": ' + b"1" * 5000 + b"}",
                                  b'{"update_id": 7, "message": ' + b"[" * 50_000 + b"}"])
def test_bodies_no_parser_can_read_are_bad_requests(body: bytes) -> None:
    with pytest.raises(BadRequest):
        parse(body)


def test_an_entity_splitting_a_surrogate_pair_is_ignored() -> None:
    # 😀 is two UTF-16 units: an entity starting or ending inside it cuts it in two.
    inside = _with("private_text", text="😀/start",
                   entities=[{"type": "bot_command", "offset": 0, "length": 1}])
    message = parse(inside).message  # UnicodeDecodeError before
    assert message is not None and message.text == "😀/start" and message.payload is None
    group = fixture("group_mention")
    group["message"]["entities"][0]["offset"] += 1  # from inside the 👋 it follows
    assert parse(group) == TelegramUpdate("ignored")


def test_an_entity_past_its_text_is_ignored() -> None:
    command = _with("private_text", entities=[{"type": "bot_command", "offset": 0,
                                               "length": 999}])
    message = parse(command).message
    assert message is not None and message.text == "when do you open"


def test_a_whole_number_is_one_however_json_spells_it() -> None:
    body = json.dumps(fixture("private_text")).replace('"update_id": 500000001',
                                                       '"update_id": 500000001.0').encode()
    message = parse(body).message
    assert message is not None and message.message_id == "123456789:500000001"


def test_a_lone_surrogate_in_the_text_is_kept_for_the_ingress_to_replace() -> None:
    body = json.dumps(fixture("private_text")).replace("when do you open",
                                                       "open \\ud800?").encode()
    message = parse(body).message
    assert message is not None and message.text == "open \ud800?"
    assert checked_inbound(message).text == "open \ufffd?"


# -- properties -----------------------------------------------------------------------------

USER = objects_with({"id": st.integers(), "is_bot": st.booleans(), "username": any_text})
CHAT = objects_with({"id": st.integers(), "type": st.sampled_from(["private", "group",
                                                                   "supergroup", "channel"])})
ENTITY = objects_with({"type": st.sampled_from(["bot_command", "mention", "text_mention"]),
                       "offset": st.integers(-2, 40), "length": st.integers(-2, 40),
                       "user": USER})
MESSAGE = objects_with({
    "message_id": st.integers(), "date": st.integers(), "chat": CHAT, "from": USER,
    "text": st.one_of(st.sampled_from(["/start", "/start@ParleyTestBot x", "@ParleyTestBot hi",
                                       "😀@ParleyTestBot 😀"]), any_text),
    "caption": any_text, "entities": st.lists(ENTITY, max_size=3),
    "caption_entities": st.lists(ENTITY, max_size=2), "reply_to_message": objects_with(
        {"from": USER}), "is_topic_message": st.booleans(),
    "message_thread_id": st.integers()})
UPDATE = objects_with({
    "update_id": st.integers(), "message": MESSAGE,
    "callback_query": objects_with({"id": any_text, "from": USER, "chat_instance": any_text,
                                    "data": any_text, "message": MESSAGE}),
    "edited_message": MESSAGE})


@given(st.one_of(bodies(UPDATE), UPDATE.map(dumped)))
def test_parse_answers_what_to_enqueue_or_bad_request(body: bytes) -> None:
    try:
        update = parse(body)
    except BadRequest:
        return
    assert update.kind in ("message", "command", "callback_query", "ignored")
    if update.message is not None:
        checked_inbound(update.message)  # its ids are ids; its text can be stored


@given(headers({SECRET_HEADER: st.sampled_from([SECRET, SECRET + "x", ""])}))
def test_the_secret_check_answers_nothing_or_unauthorized(headers: dict[str, str]) -> None:
    try:
        verify_secret(SECRET, headers)
    except Unauthorized:
        return
    assert headers[SECRET_HEADER] == SECRET
