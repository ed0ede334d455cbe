"""Rendering a reply for WhatsApp: buttons as a numbered list, answered by number or title."""

from __future__ import annotations

import pytest

from channels.models import Button, OutboundMessage
from channels.whatsapp.render import HINT, chosen_payload, message_params, numbered_text

YES_NO = (Button(title="Yes", payload="/affirm"), Button(title="No", payload="/deny"))


def test_buttons_become_a_numbered_list_with_a_hint() -> None:
    assert numbered_text("Shall I book it?", YES_NO) == (
        f"Shall I book it?\n\n1. Yes\n2. No\n\n{HINT}")
    assert numbered_text("Plain.", ()) == "Plain."


@pytest.mark.parametrize(("answer", "payload"), [
    ("1", "/affirm"), ("2", "/deny"), ("2.", "/deny"), (" 2) ", "/deny"), ("no", "/deny"),
    ("No", "/deny"), ("YES!", "/affirm"), ("  yes ", "/affirm"),
    ("3", None), ("0", None), ("no way", None), ("12 people", None), ("", None)])
def test_an_answer_names_a_button_by_number_or_title(answer: str, payload: str | None) -> None:
    assert chosen_payload(answer, YES_NO) == payload


def test_titles_are_compared_without_case_spacing_or_final_stop() -> None:
    buttons = (Button(title="Book  it.", payload="/book"),)
    assert chosen_payload("book it", buttons) == "/book"


def _message(**changes: object) -> OutboundMessage:
    fields: dict[str, object] = {"conversation_id": "whatsapp:+14155238886:+15005550006",
                                 "channel": "whatsapp", "in_reply_to": "SM1", "sequence": 1,
                                 "index": 0, "text": "Hello"}
    fields.update(changes)
    return OutboundMessage(**fields)  # type: ignore[arg-type]


def test_params_address_both_sides_as_whatsapp() -> None:
    params = message_params(_message(), from_number="+14155238886", status_callback=None)
    assert params == {"to": "whatsapp:+15005550006", "from_": "whatsapp:+14155238886",
                      "body": "Hello"}


def test_a_template_is_sent_by_its_content_sid_alone() -> None:
    params = message_params(_message(template="HX" + "a" * 32, image="https://x.test/a.png"),
                            from_number="+14155238886", status_callback="https://b.test/s")
    assert params == {"to": "whatsapp:+15005550006", "from_": "whatsapp:+14155238886",
                      "status_callback": "https://b.test/s", "content_sid": "HX" + "a" * 32}


def test_an_image_goes_as_media_with_its_caption() -> None:
    params = message_params(_message(image="https://x.test/a.png"), from_number="+1415523888",
                            status_callback=None)
    assert params["media_url"] == ["https://x.test/a.png"] and params["body"] == "Hello"
