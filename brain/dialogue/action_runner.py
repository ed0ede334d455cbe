"""Runs custom actions and slot validators so that a failing one never ends a conversation.

An action that raises, returns something other than events, does not exist, or whose
action server is down, slow or answers garbage: its events and messages are discarded
(the tracker stays as it was before it ran), an ``ActionFailed`` event records the error,
the user gets ``utter_action_failed`` (or a default apology) and the error is logged with
the conversation id. A Rasa action that rejects its execution (``ActionExecutionRejection``,
HTTP 400) is skipped without a word, as in Rasa.

Rasa actions (``brain.actions.registry``) see the tracker as Rasa's JSON and return
Rasa's events (``brain.actions.rasa_events``); a ``FollowupAction`` or ``ActiveLoop(form)``
names the action the turn runs next. A form's ``validate_<form>`` (``FormValidationAction``)
validates all the slots a message filled at once, as Rasa's forms call it.

``observer`` (optional, set by whoever runs the bot: the workers' metrics) hears every run
of a custom action or validator: its name, and whether it succeeded.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from brain.actions import ActionRegistry
from brain.actions.context import ActionContext, Dispatcher, OutgoingMessage
from brain.actions.rasa_events import FormChecked, form_checked, rasa_effects, response_messages
from brain.actions.rasa_protocol import ActionRejected, RasaActions, RasaResult
from brain.actions.rasa_tracker_state import action_call, domain_dict, tracker_state
from brain.dialogue.domain import Domain, Form
from brain.dialogue.events import ActionFailed, Event, FormDeactivated, SlotSet
from brain.dialogue.tracker import REQUESTED_SLOT
from integrations.errors import IntegrationError

if TYPE_CHECKING:
    from brain.dialogue.engine import _Turn

__all__ = ["ActionObserver", "ActionRun", "ActionRunner"]

ActionObserver = Callable[[str, bool], None]  # (action name, succeeded); must not raise

_log = logging.getLogger("parley.brain.dialogue.actions")
# A turn runs at most this many actions before a follow-up is refused (the engine's own
# bound on a rule chain): an action that follows up on itself must not loop forever.
_MAX_ACTIONS_PER_TURN = 12


@dataclass(frozen=True, slots=True)
class ActionRun:
    """What running one custom action did: the events applied (none if it failed) and the
    action to run next (a Rasa ``FollowupAction`` or ``ActiveLoop``)."""

    events: list[Event] = field(default_factory=list)
    followup: str | None = None


class ActionRunner:
    def __init__(self, actions: ActionRegistry, clients: Mapping[str, Any]) -> None:
        self.actions = actions
        self.clients = clients
        self.observer: ActionObserver | None = None
        self._warned: set[tuple[str, str]] = set()
        self._domain: tuple[Domain, dict[str, Any]] | None = None

    def run(self, turn: _Turn, name: str) -> ActionRun:
        """Run action ``name``; apply its events and send its messages."""
        rasa = self.actions.rasa(name)
        if rasa is not None:
            return self._run_rasa(turn, name, rasa)
        events = self._invoke(turn, name, None)
        for event in events or []:
            turn.apply(event)
        return ActionRun(events or [])

    def validate(self, turn: _Turn, slot: str, value: Any) -> tuple[bool, Any]:
        """(accepted, value) after the bot's ``validate_<slot>`` action, if it has one."""
        name = f"validate_{slot}"
        if self.actions.get(name) is None:
            return True, value
        events = self._invoke(turn, name, value)
        if events is None:
            return False, None
        for event in events:
            if isinstance(event, SlotSet) and event.name == slot:
                return event.value is not None, event.value
        return True, value

    def validate_form(self, turn: _Turn, form: Form, candidates: dict[str, Any]
                      ) -> tuple[str, ...] | None:
        """Validate the slot values a message gave ``form`` and set those accepted. Returns
        the slots to ask for next when the bot's ``validate_<form>`` decided them (its
        ``required_slots``; ``()``: the form is done), else None (the form's own order)."""
        rasa = self.actions.rasa(f"validate_{form.name}")
        if rasa is None:
            for name, value in candidates.items():
                accepted = True
                if name in form.required_slots:
                    accepted, value = self.validate(turn, name, value)
                if accepted:
                    turn.apply(SlotSet(name=name, value=value))
                elif name in turn.extracted and turn.tracker.slots.get(name) is not None:
                    turn.apply(SlotSet(name=name, value=None))  # set before the form ran
            return None
        checked = self._check_form(turn, form, candidates, rasa)
        if checked is None:
            return None
        for name, value in {**candidates, **checked.values}.items():
            if value is not None or turn.tracker.slots.get(name) is not None:
                turn.apply(SlotSet(timestamp=turn.message.timestamp, name=name, value=value))
        return checked.ask

    def _run_rasa(self, turn: _Turn, name: str, rasa: RasaActions) -> ActionRun:
        state = tracker_state(turn.tracker, channel=turn.channel, running=name)
        result = self._call(turn, name, rasa, state)
        if result is None:
            return ActionRun()
        try:
            messages, dropped = response_messages(result.responses, turn.render)
            effects = rasa_effects(result.events, action=name, tracker=turn.tracker,
                                   domain=turn.engine.domain, now=turn.message.timestamp)
        except Exception as exc:  # an answer Parley cannot read is the action's failure
            self._fail(turn, name, exc)
            return ActionRun()
        self._warn_once(name, [*dropped, *effects.unsupported])
        for message in messages:
            turn.send(message)
        applied: list[Event] = []
        for step in effects.steps:
            if isinstance(step, OutgoingMessage):
                turn.send(step)
                continue
            turn.apply(step)
            applied.append(step)
            if isinstance(step, FormDeactivated):
                turn.record("active_loop", None)  # rules on active_loop: null go on
        return ActionRun(applied, self._followup(turn, name, effects.followup))

    def _check_form(self, turn: _Turn, form: Form, candidates: dict[str, Any],
                    rasa: RasaActions) -> FormChecked | None:
        """Rasa's form validation call: the tracker ends with the form's run and the slot
        candidates as ``SlotSet`` events (``Tracker.slots_to_validate`` reads them)."""
        name, when = f"validate_{form.name}", turn.message.timestamp
        extra = [{"event": "slot", "timestamp": when, "name": REQUESTED_SLOT,
                  "value": turn.tracker.requested_slot},
                 {"event": "action", "timestamp": when, "name": form.name, "policy": None,
                  "confidence": None},
                 *({"event": "slot", "timestamp": when, "name": k, "value": v}
                   for k, v in candidates.items())]
        state = tracker_state(turn.tracker, channel=turn.channel, extra=extra,
                              slots=candidates)
        result = self._call(turn, name, rasa, state)
        if result is None:
            return None
        given = {k: v for k, v in candidates.items() if v is not None}
        messages, dropped = response_messages(
            result.responses, lambda response, values: turn.render(response, {**given,
                                                                              **values}))
        checked = form_checked(result.events, domain=turn.engine.domain)
        self._warn_once(name, [*dropped, *checked.unsupported])
        for message in [*messages, *checked.messages]:
            turn.send(message)
        return None if checked.rejected else checked

    def _call(self, turn: _Turn, name: str, rasa: RasaActions, state: dict[str, Any]
              ) -> RasaResult | None:
        """Run a Rasa action; None if it failed (the user was told) or refused to run."""
        try:
            result = rasa.run(action_call(name, state, self._domain_dict(turn.engine.domain)))
        except ActionRejected as exc:
            _log.warning("conversation %s: action %s rejected its execution: %s",
                         turn.tracker.conversation_id, name, exc)
            self._observe(name, ok=False)
            return None
        except Exception as exc:  # any bug in a bot's action must not end the conversation
            self._fail(turn, name, exc)
            return None
        self._observe(name, ok=True)
        return result

    def _followup(self, turn: _Turn, name: str, followup: str | None) -> str | None:
        if followup is not None and len(turn.actions) >= _MAX_ACTIONS_PER_TURN:
            _log.error("conversation %s: follow-up %s of %s refused: the turn already ran "
                       "%d actions", turn.tracker.conversation_id, followup, name,
                       len(turn.actions))
            return None
        return followup

    def _domain_dict(self, domain: Domain) -> dict[str, Any]:
        """Rasa's domain dict, built once per domain (``domain`` is frozen)."""
        if self._domain is None or self._domain[0] is not domain:
            self._domain = (domain, domain_dict(domain))
        return self._domain[1]

    def _warn_once(self, name: str, unsupported: list[str]) -> None:
        for what in unsupported:
            if (name, what) not in self._warned:
                self._warned.add((name, what))
                _log.warning("action %s: %s is not supported by Parley and was ignored "
                             "(logged once)", name, what)

    def _fail(self, turn: _Turn, name: str, exc: Exception) -> None:
        """Record the failure and apologise; the action's events were never applied."""
        cid = turn.tracker.conversation_id
        if isinstance(exc, IntegrationError):  # no traceback: it would name the URL
            _log.error("conversation %s: action %s failed: %s", cid, name, exc)
        else:
            _log.exception("conversation %s: action %s failed", cid, name)
        turn.apply(ActionFailed(name=name, error=f"{type(exc).__name__}: {exc}"))
        turn.utter_or_default("utter_action_failed")
        self._observe(name, ok=False)

    def _invoke(self, turn: _Turn, name: str, candidate: Any) -> list[Event] | None:
        """Call a Parley action; send its messages and return its events, or None."""
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
            self._fail(turn, name, exc)
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
