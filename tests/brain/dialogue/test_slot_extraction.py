"""Slot mappings are global, as in Rasa 3 (``action_extract_slots``): every message sets
the slots its mappings give, form or not, before rules and stories look; a form still
validates what it takes, and empties a slot whose pre-set value its validator rejects."""

from __future__ import annotations

from pathlib import Path

from .test_memoization import Chat, _bot

ORDER_SLOT = """\
    slots:
      order_id:
        type: text
        mappings:
        - type: from_entity
          entity: order_id
      vip:
        type: bool
        mappings:
        - type: from_entity
          entity: vip
    """


def test_an_entity_sets_its_slot_outside_any_form_and_stories_see_it(tmp_path: Path) -> None:
    folder = _bot(tmp_path, slots=ORDER_SLOT, stories="""\
        - story: the order number given, as Rasa writes it (the entity, then its slot)
          steps:
          - intent: order
            entities:
            - order_id: "4471"
          - slot_was_set:
            - order_id: "4471"
          - action: utter_done
        - story: no order number
          steps:
          - intent: order
          - action: utter_ask_order_id
        """)
    chat = Chat(folder)
    assert chat.say("order", entities={"order_id": "4471"}) == ["utter_done"]
    assert chat.tracker.slots["order_id"] == "4471"
    assert Chat(folder).say("order") == ["utter_ask_order_id"]


def test_a_value_that_does_not_fit_the_slot_type_is_not_set(tmp_path: Path) -> None:
    chat = Chat(_bot(tmp_path, slots=ORDER_SLOT))
    chat.say("inform", entities={"vip": "perhaps"})
    assert chat.tracker.slots["vip"] is None
    chat.say("inform", entities={"vip": "yes"})
    assert chat.tracker.slots["vip"] is True


def test_a_form_rejects_a_pre_set_value_and_asks_for_it(tmp_path: Path) -> None:
    folder = _bot(tmp_path, slots=ORDER_SLOT, forms="""\
        forms:
          order_form:
            required_slots: [order_id]
        """, rules="""\
        - rule: order
          steps:
          - intent: order
          - action: order_form
          - active_loop: order_form
        """, actions="""\
        from brain.actions import ActionContext, action
        from brain.dialogue.events import SlotSet


        @action("validate_order_id")
        def validate_order_id(context: ActionContext):
            ok = str(context.slot_candidate).isdigit()
            return [SlotSet(name="order_id", value=context.slot_candidate if ok else None)]
        """)
    chat = Chat(folder)
    assert chat.say("order", entities={"order_id": "banana"}) == ["order_form"]
    assert chat.tracker.slots["order_id"] is None  # set by the mapping, then rejected
    assert chat.tracker.requested_slot == "order_id"
    good = Chat(folder)
    assert good.say("order", entities={"order_id": "4471"}) == ["order_form"]
    assert good.tracker.slots["order_id"] == "4471" and good.tracker.active_form is None
