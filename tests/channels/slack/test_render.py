"""Slack out, without I/O: the chat.postMessage arguments of a reply, within Slack's limits.

Every rendered reply is also checked by the fake API's block validator, so what the unit
tests accept is what the fake (and Slack) would accept.
"""

from __future__ import annotations

from typing import Any

import pytest

from channels.models import Button, OutboundMessage
from channels.slack.render import RenderError, render
from tests.fakes.slack_api import block_problem


def reply(text: str = "We open at 18:00.", *, conversation: str = "slack:T0A1B2C3D:D0DM00001",
          buttons: tuple[Button, ...] = (), image: str | None = None) -> OutboundMessage:
    return OutboundMessage(conversation_id=conversation, channel="slack", in_reply_to="Ev1",
                           sequence=1, index=0, text=text, buttons=buttons, image=image)


def rendered(message: OutboundMessage) -> dict[str, Any]:
    arguments = render(message)
    if "blocks" in arguments:
        assert block_problem(arguments["blocks"]) is None, arguments["blocks"]
    return arguments


def test_a_plain_reply_is_text_alone() -> None:
    assert rendered(reply()) == {"channel": "D0DM00001", "text": "We open at 18:00."}


def test_a_reply_in_a_thread_goes_to_the_thread() -> None:
    arguments = rendered(reply(conversation="slack:T0A1B2C3D:C0GENERAL:1718000150.000300"))
    assert arguments["channel"] == "C0GENERAL"
    assert arguments["thread_ts"] == "1718000150.000300"


def test_buttons_are_block_kit_buttons_carrying_the_payload() -> None:
    arguments = rendered(reply("A table for 2.0 under Ada. Shall I book it?",
                               buttons=(Button("Yes", "/affirm"), Button("No", "/deny"))))
    assert arguments["text"] == "A table for 2.0 under Ada. Shall I book it?"  # fallback
    section, actions = arguments["blocks"]
    assert section == {"type": "section", "text": {
        "type": "mrkdwn", "text": "A table for 2.0 under Ada. Shall I book it?"}}
    assert [(b["text"]["text"], b["value"]) for b in actions["elements"]] == [
        ("Yes", "/affirm"), ("No", "/deny")]
    assert len({b["action_id"] for b in actions["elements"]}) == 2


def test_a_long_button_title_is_shortened_to_75_characters() -> None:
    arguments = rendered(reply(buttons=(Button("x" * 100, "/a"),)))
    title = arguments["blocks"][1]["elements"][0]["text"]["text"]
    assert len(title) == 75 and title.endswith("…")


def test_a_payload_over_2000_characters_is_refused_not_cut() -> None:
    with pytest.raises(RenderError, match="2000"):
        render(reply(buttons=(Button("Go", "/inform" + "x" * 2000),)))


def test_more_than_25_buttons_take_several_actions_blocks() -> None:
    buttons = tuple(Button(f"b{i}", f"/b{i}") for i in range(30))
    blocks = rendered(reply(buttons=buttons))["blocks"]
    assert [b["type"] for b in blocks] == ["section", "actions", "actions"]
    assert [len(b["elements"]) for b in blocks[1:]] == [25, 5]


def test_long_text_is_split_over_sections() -> None:
    blocks = rendered(reply("y" * 7000, buttons=(Button("Ok", "/ok"),)))["blocks"]
    assert [len(b["text"]["text"]) for b in blocks if b["type"] == "section"] == [
        3000, 3000, 1000]


def test_an_image_is_an_image_block() -> None:
    arguments = rendered(reply("Our terrace", image="https://example.com/terrace.jpg"))
    assert arguments["blocks"][-1] == {"type": "image",
                                       "image_url": "https://example.com/terrace.jpg",
                                       "alt_text": "Our terrace"}


def test_an_image_without_text_still_has_a_fallback_text() -> None:
    arguments = rendered(reply("", image="https://example.com/terrace.jpg"))
    assert arguments["text"] == "https://example.com/terrace.jpg"
    assert [b["type"] for b in arguments["blocks"]] == ["image"]


def test_slacks_control_characters_are_shown_as_typed() -> None:
    arguments = rendered(reply("Fish & chips <today>", buttons=(Button("<ok>", "/ok"),)))
    assert arguments["text"] == "Fish &amp; chips &lt;today&gt;"
    assert arguments["blocks"][0]["text"]["text"] == "Fish &amp; chips &lt;today&gt;"
    assert arguments["blocks"][1]["elements"][0]["text"]["text"] == "<ok>"  # plain_text


def test_an_empty_reply_is_refused() -> None:
    with pytest.raises(RenderError, match="empty"):
        render(reply("  "))


def test_too_many_blocks_are_refused() -> None:
    buttons = tuple(Button(f"b{i}", f"/b{i}") for i in range(25 * 50))
    with pytest.raises(RenderError, match="blocks"):
        render(reply(buttons=buttons))
