"""Replies out: escaping for HTML, splitting at 4096 UTF-16 units, keyboards, photos."""

from __future__ import annotations

import pytest

from channels.models import Button, OutboundMessage
from channels.telegram.render import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    Part,
    callback_data,
    is_reference,
    keyboard,
    render,
    split_text,
    utf16_length,
)

YES_NO = (Button("Yes", "/affirm"), Button("No", "/deny"))


def reply(text: str, buttons: tuple[Button, ...] = (), image: str | None = None
          ) -> OutboundMessage:
    return OutboundMessage(conversation_id="telegram:123456789:111111111", channel="telegram",
                           in_reply_to="123456789:1", sequence=1, index=0, text=text,
                           buttons=buttons, image=image)


def test_text_is_escaped_for_html_and_nothing_else_changes() -> None:
    parts = render(reply('Fish & chips <today> for "2" at 5>4 & 3<4 &amp;'))
    assert parts == [Part('Fish &amp; chips &lt;today&gt; for "2" at 5&gt;4 &amp; 3&lt;4 '
                          '&amp;amp;')]


def test_buttons_become_an_inline_keyboard_on_one_row_when_short() -> None:
    markup = keyboard(YES_NO)
    assert markup is not None
    assert markup.to_dict() == {"inline_keyboard": [[
        {"text": "Yes", "callback_data": "/affirm"}, {"text": "No", "callback_data": "/deny"}]]}


def test_long_titles_get_a_row_each() -> None:
    markup = keyboard((Button("Check my order status", "/status"), Button("Talk to a human",
                                                                          "/human")))
    assert markup is not None and [len(row) for row in markup.inline_keyboard] == [1, 1]


def test_no_buttons_no_keyboard() -> None:
    assert keyboard(()) is None


def test_a_payload_over_64_bytes_is_sent_as_a_reference() -> None:
    long = '/inform{"order_id": "ORD-55821", "reason": "the parcel arrived damaged"}'
    data = callback_data(long)
    assert len(long.encode()) > 64 and len(data.encode()) <= 64 and is_reference(data)
    assert callback_data(long) == data                   # the same every time
    assert callback_data(long + " ") != data
    assert callback_data("/affirm") == "/affirm"
    assert not is_reference("/affirm")


def test_a_payload_that_looks_like_a_reference_is_mapped_too() -> None:
    assert callback_data("#p:abc") != "#p:abc"


def test_multibyte_payloads_are_measured_in_bytes() -> None:
    payload = "/inform" + "é" * 30                        # 37 characters, 67 bytes
    assert is_reference(callback_data(payload))


def test_utf16_length_counts_astral_characters_twice() -> None:
    assert utf16_length("ab") == 2 and utf16_length("é") == 1 and utf16_length("👋") == 2


def test_a_short_text_is_one_part() -> None:
    assert split_text("  hello  ") == ["hello"]
    assert split_text("x" * TEXT_LIMIT) == ["x" * TEXT_LIMIT]


def test_a_long_text_is_split_at_line_breaks() -> None:
    lines = [f"line {n:04d} " + "x" * 90 for n in range(100)]   # 100 lines of 100 characters
    parts = split_text("\n".join(lines))
    assert len(parts) == 3
    assert all(utf16_length(p) <= TEXT_LIMIT for p in parts)
    assert "\n".join(parts) == "\n".join(lines)          # nothing lost, nothing repeated
    assert all(p.startswith("line ") for p in parts)


def test_without_line_breaks_it_splits_at_spaces() -> None:
    words = " ".join(f"word{n}" for n in range(2000))
    parts = split_text(words)
    assert all(utf16_length(p) <= TEXT_LIMIT for p in parts)
    assert " ".join(parts) == words


def test_a_text_without_spaces_is_cut_at_the_limit() -> None:
    parts = split_text("y" * (TEXT_LIMIT * 2 + 10))
    assert [len(p) for p in parts] == [TEXT_LIMIT, TEXT_LIMIT, 10]


def test_emoji_count_double_and_are_never_cut_in_half() -> None:
    text = "👋" * 3000                                   # 6000 UTF-16 units
    parts = split_text(text)
    assert [utf16_length(p) for p in parts] == [4096, 6000 - 4096]
    assert "".join(parts) == text


def test_escaping_does_not_count_against_the_limit() -> None:
    text = "&" * TEXT_LIMIT                              # 4096 characters, 20480 escaped
    parts = render(reply(text))
    assert len(parts) == 1 and parts[0].html == "&amp;" * TEXT_LIMIT


def test_the_keyboard_rides_on_the_last_part() -> None:
    parts = render(reply("a " * 5000, YES_NO))
    assert len(parts) == 3
    assert [p.buttons for p in parts] == [(), (), YES_NO]


def test_an_image_takes_the_text_as_caption_when_it_fits() -> None:
    parts = render(reply("Our terrace <3", YES_NO, image="https://example.com/t.jpg"))
    assert parts == [Part("Our terrace &lt;3", photo="https://example.com/t.jpg",
                          buttons=YES_NO)]


def test_an_image_with_a_long_text_goes_first_without_caption() -> None:
    text = "z " * CAPTION_LIMIT
    parts = render(reply(text, YES_NO, image="https://example.com/t.jpg"))
    assert parts[0] == Part("", photo="https://example.com/t.jpg")
    assert [p.photo for p in parts[1:]] == [None] and parts[1].buttons == YES_NO


@pytest.mark.parametrize("text", ["", "   \n "])
def test_a_reply_without_text_or_image_renders_to_nothing(text: str) -> None:
    assert render(reply(text, YES_NO)) == []
