"""Runs custom actions and slot validators so that a failing one never ends a conversation.

An action that raises, returns something other than events, or does not exist: its events
and messages are discarded (the tracker stays as it was before it ran), an
``ActionFailed`` event records the error, the user gets ``utter_action_failed`` (or a
default apology) and the error is logged with the conversation id.

``observer`` (optional, set by whoever runs the bot: the workers' metrics) hears every run
of a custom action or validator: its name, and whether it succeeded.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from brain.actions import ActionRegistry
from brain.actions.context import ActionContext, Dispatcher
from brain.dialogue.events import ActionFailed, Event, SlotSet

if TYPE_CHECKING:
    from brain.dialogue.engine import _Turn

__all__ = ["ActionObserver", "ActionRunner"]

ActionObserver = Callable[[str, bool], None]  # (action name, succeeded); must not raise

_log = logging.getLogger("parley.brain.dialogue.actions")


class ActionRunner:
    def __init__(self, actions: ActionRegistry, clients: Mapping[str, Any]) -> None:
        self.actions = actions
        self.clients = clients
        self.observer: ActionObserver | None = None

    def run(self, turn: _Turn, name: str) -> list[Event] | None:
        """Run action ``name``; apply and return its events, or None if it failed."""
        events = self._invoke(turn, name, None)
        for event in events or []:
            turn.apply(event)
        return events

    def validate(self, turn: _Turn, slot: str, value: Any) -> tuple[bool, Any]:
        """(accepted, value) after the bot's ``validate_<slot>`` action, if it has one."""
        name = f"validate_{slot}"
        if name not in self.actions:
            return True, value
        events = self._invoke(turn, name, value)
        if events is None:
            return False, None
        for event in events:
            if isinstance(event, SlotSet) and event.name == slot:
                return event.value is not None, event.value
        return True, value

    def _invoke(self, turn: _Turn, name: str, candidate: Any) -> list[Event] | None:
        """Call the action; send its messages and return its events, or None on failure."""
        function = self.actions.get(name)
        dispatcher = Dispatcher(render=lambda response, extra: turn.render(response, extra))
        context = self._context(turn, name, dispatcher, candidate)
        try:
            if function is None:
                raise LookupError(f"no action named {name!r} in actions.py")
            events = function(context) or []
            if not isinstance(events, list) or not all(isinstance(e, Event) for e in events):
                raise TypeError(f"action {name} must return a list of events")
        except Exception as exc:  # any bug in a bot's action must not end the conversation
            _log.exception("conversation %s: action %s failed", turn.tracker.conversation_id,
                           name)
            turn.apply(ActionFailed(name=name, error=f"{type(exc).__name__}: {exc}"))
            turn.utter_or_default("utter_action_failed")
            self._observe(name, ok=False)
            return None
        self._observe(name, ok=True)
        for message in dispatcher.messages:
            turn.send(message)
        return events

    def _observe(self, name: str, *, ok: bool) -> None:
        if self.observer is not None:
            self.observer(name, ok)

    def _context(self, turn: _Turn, name: str, dispatcher: Dispatcher,
                 candidate: Any) -> ActionContext:
        message = turn.tracker.latest_message
        source = message.message_id if message and message.message_id else str(
            turn.tracker.event_count)
        key = hashlib.sha256(f"{turn.tracker.conversation_id}:{source}:{name}".encode())
        return ActionContext(tracker=turn.tracker, slots=dict(turn.tracker.slots),
                             latest_message=message, dispatcher=dispatcher,
                             clients=self.clients, conversation_id=turn.tracker.conversation_id,
                             idempotency_key=key.hexdigest()[:32], slot_candidate=candidate)
