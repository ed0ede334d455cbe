"""The "Did you mean …?" choice: plausible, actionable, labelled, distinct, at most three."""

from __future__ import annotations

from typing import Any

from brain.dialogue.suggestions import MAX_SUGGESTIONS, META_INTENTS, suggest

INTENTS = ("greet", "affirm", "goodbye", "cancel", "out_of_scope", "bot_challenge", "thanks",
           "check_order_status", "request_refund", "refund_request", "opening_hours",
           "delivery_time", "faq", "talk_to_human")


def _parse(*ranking: tuple[str, float], **extra: Any) -> dict[str, Any]:
    return {"intent": {"name": ranking[0][0], "confidence": ranking[0][1]},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
            "nlu_fallback": True, **extra}


def _titles(parse: dict[str, Any], **kwargs: Any) -> list[str]:
    return [s.title for s in suggest(parse, intents=kwargs.pop("intents", INTENTS), **kwargs)]


def test_nonsense_spread_over_meta_intents_suggests_nothing() -> None:
    # "asdf qwer" in the example bot's model: the 0.11 of an order status is no guess
    parse = _parse(("goodbye", 0.16), ("cancel", 0.11), ("check_order_status", 0.11),
                   ("affirm", 0.11), ("out_of_scope", 0.11))
    assert _titles(parse) == []


def test_meta_intents_are_never_offered_however_likely() -> None:
    parse = _parse(*((name, 0.3) for name in sorted(META_INTENTS)))
    assert _titles(parse, intents=tuple(META_INTENTS)) == []


def test_a_floor_relative_to_the_top_keeps_the_also_rans_out() -> None:
    parse = _parse(("check_order_status", 0.44), ("opening_hours", 0.23),
                   ("delivery_time", 0.21))
    assert _titles(parse) == ["Check order status", "Opening hours"]  # 0.21 < 0.44 / 2


def test_at_most_three_best_first_with_payloads() -> None:
    parse = _parse(("delivery_time", 0.25), ("opening_hours", 0.26),
                   ("check_order_status", 0.24), ("request_refund", 0.23))
    chosen = suggest(parse, intents=INTENTS)
    assert len(chosen) == MAX_SUGGESTIONS
    assert [s.payload for s in chosen] == ["/opening_hours", "/delivery_time",
                                           "/check_order_status"]


def test_near_duplicates_give_one_button_with_the_bot_folders_label() -> None:
    parse = _parse(("request_refund", 0.41), ("refund_request", 0.38), ("greet", 0.2))
    labels = {"request_refund": "Request a refund", "refund_request": "Request refund"}
    assert _titles(parse, labels=labels) == ["Request a refund"]
    # the same meaning in the intent names, whatever the labels say
    assert _titles(parse, labels={"refund_request": "Money back"}) == ["Request refund"]


def test_same_label_twice_is_one_button() -> None:
    parse = _parse(("check_order_status", 0.4), ("delivery_time", 0.39))
    labels = {"check_order_status": "Where is my parcel?", "delivery_time": "Where's my parcel"}
    assert _titles(parse, labels=labels) == ["Where is my parcel?"]


def test_excluded_unknown_and_handoff_intents_are_left_out() -> None:
    parse = _parse(("talk_to_human", 0.4), ("opening_hours", 0.39), ("nlu_only", 0.38),
                   ("delivery_time", 0.37))
    assert _titles(parse, excluded={"talk_to_human", "delivery_time"}) == ["Opening hours"]


def test_a_retrieval_intent_is_offered_with_its_selected_sub_intent() -> None:
    selector = {"faq": {"response": {"intent_response_key": "faq/ask_hours",
                                     "utter_action": "utter_faq/ask_hours"}}}
    parse = _parse(("faq", 0.4), ("opening_hours", 0.3), response_selector=selector)
    chosen = suggest(parse, intents=INTENTS, retrieval={"faq"},
                     labels={"faq/ask_hours": "Our hours"})
    assert [(s.title, s.payload) for s in chosen] == [("Our hours", "/faq/ask_hours"),
                                                      ("Opening hours", "/opening_hours")]
    # no sub-intent selected: a bare /faq could not be answered, so no button
    assert _titles(_parse(("faq", 0.4)), retrieval={"faq"}) == []
