"""Response rendering: variations, placeholders, channel variants, slot conditions."""

from __future__ import annotations

import logging

import pytest

from brain.dialogue.domain import Domain, ResponseVariation
from brain.dialogue.engine import DialogueEngine
from brain.dialogue.responses import ResponseRenderer


def _render(engine: DialogueEngine, name: str, slots: dict, channel: str | None = None,
            seed: str = "c1:1") -> str | None:
    message = engine.renderer.render(name, slots=slots, channel=channel, seed=seed,
                                     conversation_id="c1")
    return None if message is None else message.text


def test_variation_is_seeded_per_conversation_and_turn(engine: DialogueEngine) -> None:
    picks = {_render(engine, "utter_greet", {"vip": False}, seed=f"c{i}:3") for i in range(30)}
    assert picks == {"Hello!", "Hi there!"}            # both variations are used …
    assert _render(engine, "utter_greet", {"vip": False}, seed="c7:3") == _render(
        engine, "utter_greet", {"vip": False}, seed="c7:3")  # … and a seed always picks one


def test_slot_condition_selects_variation(engine: DialogueEngine) -> None:
    assert _render(engine, "utter_greet", {"vip": True}) == "Welcome back, VIP!"


def test_channel_variant_wins_on_its_channel_only(engine: DialogueEngine) -> None:
    assert _render(engine, "utter_greet", {"vip": False}, channel="slack") == "Hey from Slack"
    assert _render(engine, "utter_greet", {"vip": False}, channel="telegram") in (
        "Hello!", "Hi there!")


def test_placeholders_are_filled(engine: DialogueEngine) -> None:
    assert _render(engine, "utter_goodbye", {"name": "Ada"}) in ("Bye Ada!",
                                                                "Goodbye Ada, see you soon.")


def test_missing_slot_never_reaches_the_user(engine: DialogueEngine,
                                             caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="parley.brain.dialogue.responses"):
        text = _render(engine, "utter_goodbye", {"name": None})
    assert text == "I can't say that right now."      # the domain's safe alternative
    assert "conversation c1: response utter_goodbye needs empty slot(s) name" in caplog.text


def test_fillable_variation_is_preferred_over_apology() -> None:
    domain = Domain(intents=(), responses={"utter_x": (
        ResponseVariation("Order {order_id} is on its way"),
        ResponseVariation("It is on its way"))})
    renderer = ResponseRenderer(domain)
    texts = {renderer.render("utter_x", slots={}, channel=None, seed=f"s{i}",
                             conversation_id="c").text for i in range(10)}
    assert texts == {"It is on its way"}


def test_builtin_apology_without_safe_response() -> None:
    renderer = ResponseRenderer(Domain(intents=(), responses={
        "utter_x": (ResponseVariation("Order {order_id}"),)}))
    message = renderer.render("utter_x", slots={}, channel=None, seed="s", conversation_id="c")
    assert message is not None and "{" not in message.text and "order_id" not in message.text


def test_unknown_response_is_none(engine: DialogueEngine) -> None:
    assert _render(engine, "utter_nope", {}) is None
