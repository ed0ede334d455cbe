"""The one check every inbound message passes before it is stored (``channels.identifiers``)."""

from __future__ import annotations

import msgspec
import pytest

from channels.errors import BadRequest
from channels.identifiers import MAX_ID_LENGTH, checked_inbound, is_valid_id
from channels.models import Attachment, InboundMessage


def _message(**fields: object) -> InboundMessage:
    values: dict[str, object] = {"channel": "web", "account": "site", "chat": "c-1",
                                 "user_id": "u-1", "message_id": "m-1", "text": "hi"}
    values.update(fields)
    return InboundMessage(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["T0ABC", "C01:1718000150.000300", "-1001234567890",
                                   "whatsapp:+14155238886", "SM" + "a" * 32,
                                   "user+tag@example.com", "!", "~" * MAX_ID_LENGTH])
def test_every_platforms_ids_have_the_form(value: str) -> None:
    assert is_valid_id(value)
    assert checked_inbound(_message(chat=value, message_id=value)).chat == value


@pytest.mark.parametrize("value", ["", "a" * (MAX_ID_LENGTH + 1), "iÐ\u000e", "a b", "tab\t",
                                   "new\nline", "é", "\u202eevil", "nul\x00"])
@pytest.mark.parametrize("field", ["account", "chat", "user_id", "message_id"])
def test_anything_else_is_refused_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(BadRequest, match=f"'{field}' must be 1 to {MAX_ID_LENGTH}"):
        checked_inbound(_message(**{field: value}))


def test_a_clean_message_is_returned_as_it_is() -> None:
    message = _message(text="Grüße 👋", raw={"event": {"text": "Grüße 👋"}})
    assert checked_inbound(message) is message


def test_lone_surrogates_are_replaced_everywhere_they_could_reach_the_bus() -> None:
    message = _message(text="a\ud800b", payload="/x\udfff",
                       attachments=(Attachment("https://x/\ud801", "image/\udc00"),),
                       raw={"text": ["\ud83d"], "\udcff": {"deep": "\ud800"}})
    with pytest.raises(UnicodeEncodeError):
        msgspec.json.encode(message)
    cleaned = checked_inbound(message)
    assert cleaned.text == "a\ufffdb" and cleaned.payload == "/x\ufffd"
    assert cleaned.attachments == (Attachment("https://x/\ufffd", "image/\ufffd"),)
    assert cleaned.raw == {"text": ["\ufffd"], "\ufffd": {"deep": "\ufffd"}}
    msgspec.json.encode(cleaned)  # the bus can carry it now
