"""Custom actions: Parley's ``@action`` functions, and actions written for Rasa.

A Parley action is a plain function a bot's ``actions.py`` (or ``actions/`` package) marks
with ``@action("name")``. It gets an ``ActionContext`` — the tracker (read it, don't
mutate it), the current slots, the latest message, a ``dispatcher`` to send responses,
text and buttons, the integration clients, and an idempotency key for side effects — and
returns the events to apply (usually ``SlotSet``). Validators are actions named
``validate_<slot>``: they read ``context.slot_candidate`` and return
``[SlotSet(slot, value)]`` to accept (possibly a normalised value) or
``[SlotSet(slot, None)]`` after dispatching a reason to reject.

A Rasa action is a ``rasa_sdk.Action`` or ``FormValidationAction`` class, run in-process
with Parley's tracker shown through ``rasa_sdk``'s ``Tracker`` (``rasa_sdk_bridge``;
``pip install "parley[rasa]"``), or on a Rasa action server named in ``endpoints.yml``
(``remote``). Their events and messages are Rasa's JSON (``rasa_tracker_state``,
``rasa_events``).

``@action`` only tags the function; ``load_actions`` collects tags from the bot's modules,
so there is no global registry and two bots in one process never share actions.
"""

from brain.actions.context import ActionContext, Dispatcher, OutgoingMessage
from brain.actions.registry import ActionRegistry, action, load_actions

__all__ = ["ActionContext", "ActionRegistry", "Dispatcher", "OutgoingMessage", "action",
           "load_actions"]
