"""Custom actions: plain functions a bot's ``actions.py`` marks with ``@action("name")``.

An action gets an ``ActionContext`` — the tracker (read it, don't mutate it), the current
slots, the latest message, a ``dispatcher`` to send responses, text and buttons, the
integration clients, and an idempotency key for side effects — and returns the events to
apply (usually ``SlotSet``). Validators are actions named ``validate_<slot>``: they read
``context.slot_candidate`` and return ``[SlotSet(slot, value)]`` to accept (possibly a
normalised value) or ``[SlotSet(slot, None)]`` after dispatching a reason to reject.

``@action`` only tags the function; ``load_actions`` collects tags from the bot's module,
so there is no global registry and two bots in one process never share actions.
"""

from brain.actions.context import ActionContext, Dispatcher, OutgoingMessage
from brain.actions.registry import ActionRegistry, action, load_actions

__all__ = ["ActionContext", "ActionRegistry", "Dispatcher", "OutgoingMessage", "action",
           "load_actions"]
