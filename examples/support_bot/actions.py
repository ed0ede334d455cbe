"""Custom actions of the example support bot.

The order backend is reached only through ``integrations``' ``OrdersClient``, given to
actions as ``context.clients["orders"]``; its errors are Parley's integration errors, so an
unreachable backend becomes a polite message instead of a failed action.
"""

from __future__ import annotations

import re

from brain.actions import ActionContext, action
from brain.dialogue.events import Event, SlotSet
from integrations.errors import BackendRejected, BackendUnavailable

ORDER_ID = re.compile(r"^[A-Z]{0,3}-?\d{5,10}$")


@action("validate_order_id")
def validate_order_id(context: ActionContext) -> list[Event]:
    """Accept order numbers in the shop's format, in upper case; explain anything else."""
    value = str(context.slot_candidate).strip().upper()
    if ORDER_ID.match(value):
        return [SlotSet(name="order_id", value=value)]
    context.dispatcher.utter("utter_invalid_order_id", value=context.slot_candidate)
    return [SlotSet(name="order_id", value=None)]


@action("action_check_order_status")
def check_order_status(context: ActionContext) -> list[Event]:
    order_id = context.slots["order_id"]
    try:
        order = context.clients["orders"].get_order(order_id)
    except BackendUnavailable:
        context.dispatcher.utter("utter_orders_unavailable")
        return []
    if order is None:
        context.dispatcher.utter("utter_order_not_found")
        return [SlotSet(name="order_id", value=None)]
    context.dispatcher.utter(f"utter_order_{order.status}", carrier=order.carrier,
                             expected_delivery=order.expected_delivery)
    return []


@action("action_file_refund")
def file_refund(context: ActionContext) -> list[Event]:
    """File the confirmed refund; the idempotency key makes a redelivered turn harmless."""
    slots = context.slots
    if not slots.get("refund_confirmed"):
        context.dispatcher.utter("utter_refund_cancelled")
        return _reset_refund()
    try:
        refund = context.clients["orders"].file_refund(
            slots["order_id"], slots["refund_reason"], idempotency_key=context.idempotency_key)
    except BackendUnavailable:
        context.dispatcher.utter("utter_orders_unavailable")
        return _reset_refund()
    except BackendRejected as exc:
        response = "utter_order_not_found" if exc.status == 404 else "utter_refund_not_possible"
        context.dispatcher.utter(response)
        return _reset_refund()
    context.dispatcher.utter("utter_refund_filed", refund_reference=refund.reference)
    return [SlotSet(name="refund_reference", value=refund.reference), *_reset_refund()]


@action("action_reset_refund")
def reset_refund(context: ActionContext) -> list[Event]:
    return _reset_refund()


def _reset_refund() -> list[Event]:
    return [SlotSet(name="refund_reason", value=None), SlotSet(name="refund_confirmed", value=None)]
