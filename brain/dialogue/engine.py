"""One turn of dialogue: a parsed user message in, bot messages and tracker events out.

Precedence, as the policy contract says (Rasa's RulePolicy before its memoization): handoff
active (silent) → rules → active form → stories (``brain.dialogue.memoization``, consulted
whenever the rules predict nothing, so a story's actions chain until it listens) →
intent-to-response mapping (``utter_<intent>``) → the core fallback (``utter_default``) for
an understood message, the staged fallback for one not understood. With a form active the
order refines to: rules conditioned on that form → asking for a person → an answer to the
form's question (even one the NLU did not understand) → fallback if the message was not
understood → digression (other rules, or an intent's response) followed by the form's
question again → the question again. Every turn that did not serve the person (not
understood, out of scope, a failed action, nothing covering it) advances the staged
fallback, any other resets it (``brain.dialogue.fallback``).

A conversation may also be opened before the person writes (``start_conversation``): the
bot then says ``utter_conversation_start`` if the domain has it and the bot's
``greet_on_start`` is on. That is not a user turn: the person's first message still starts
the conversation for rules with ``conversation_start: true``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from brain.actions import ActionRegistry
from brain.actions.context import OutgoingMessage
from brain.dialogue.action_runner import ActionRunner
from brain.dialogue.domain import Domain, Form
from brain.dialogue.events import (
    ActionExecuted,
    BotUttered,
    Event,
    FormDeactivated,
    HandoffStarted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from brain.dialogue.fallback import (
    FALLBACK_TEXTS,
    HANDOFF_REQUEST,
    can_hand_off,
    count_turn,
    handoff_intents,
    misunderstood,
)
from brain.dialogue.forms import activate_form, answers_form, ask_requested_slot, continue_form
from brain.dialogue.handoff import (
    BOT,
    HANDOFF_TEXTS,
    HandoffChange,
    HandoffDesk,
    Ownership,
    end_handoff,
    start_handoff,
    while_handed_off,
)
from brain.dialogue.history import entity_names, session_records
from brain.dialogue.memoization import ACTION_LISTEN, StoryPolicy
from brain.dialogue.responses import ResponseRenderer
from brain.dialogue.retrieval import utter_retrieved
from brain.dialogue.rule_matching import LogRecord, predict_next
from brain.dialogue.rules import Rule
from brain.dialogue.slot_filling import extracted_values
from brain.dialogue.tracker import Tracker
from brain.fallback_settings import FallbackSettings
from brain.policy_settings import PolicySettings

__all__ = ["BUILTIN_ACTIONS", "CONVERSATION_START_RESPONSE", "DialogueEngine", "TurnResult"]

_log = logging.getLogger("parley.brain.dialogue.engine")
BUILTIN_ACTIONS = ("action_listen", "action_restart", "action_deactivate_loop", "action_handoff")
_MAX_ACTIONS_PER_TURN = 12
CONVERSATION_START_RESPONSE = "utter_conversation_start"
_DEFAULT_TEXT = {
    # The core fallback: the message was understood, the bot has nothing for it.
    "utter_default": "Sorry, I can't help with that here yet.",
    "utter_action_failed": "Sorry, something went wrong on my side. Please try again.",
    **FALLBACK_TEXTS,
    **HANDOFF_TEXTS,
}


@dataclass(frozen=True, slots=True)
class TurnResult:
    """What the bot says, the actions it ran, and the change of owner it asks for (a
    handoff requested or withdrawn; ``brain.dialogue.handoff``)."""

    messages: tuple[OutgoingMessage, ...]
    actions: tuple[str, ...]
    handoff: HandoffChange | None = None


class DialogueEngine:
    """The bot's behaviour: domain, rules and actions; stateless between turns."""

    def __init__(self, domain: Domain, rules: Sequence[Rule], actions: ActionRegistry,
                 clients: Mapping[str, Any] | None = None, *, greet_on_start: bool = True,
                 desk: HandoffDesk | None = None, policy: PolicySettings | None = None,
                 fallback: FallbackSettings | None = None,
                 stories: StoryPolicy | None = None) -> None:
        self.domain = domain
        self.policy = policy or PolicySettings()
        # fallback.yml: the did-you-mean labels and whether fallbacks offer a person.
        self.fallback = fallback or FallbackSettings()
        self.rules = list(rules)
        self.stories = stories  # the story policy (built with ``policy.max_history``)
        self._rule_histories = any(rule.history for rule in self.rules)
        self.renderer = ResponseRenderer(domain)
        self.runner = ActionRunner(actions, clients or {})
        self.greet_on_start = greet_on_start
        self.desk = desk

    def start_conversation(self, tracker: Tracker, *, now: float, channel: str | None = None
                           ) -> TurnResult:
        """The bot's opening words, before the person wrote anything (the caller has
        started the session): ``utter_conversation_start``, or nothing.

        Nothing is parsed and no ``UserUttered`` is recorded, so this is no user turn:
        rules and session logic see the person's first message as the conversation's
        start. A conversation already handed to a person stays silent."""
        # The turn's clock and its (empty) trigger; never applied to the tracker.
        opening = UserUttered(timestamp=now)
        turn = _Turn(self, tracker, channel, opening, session_start=True)
        if (self.greet_on_start and not tracker.handoff
                and self.renderer.has(CONVERSATION_START_RESPONSE)):
            turn.run_action(CONVERSATION_START_RESPONSE)
        return turn.result()

    def handle(self, tracker: Tracker, message: UserUttered, *, channel: str | None = None,
               owner: Ownership = BOT) -> TurnResult:
        """Apply ``message`` to ``tracker`` and run the bot's reaction to it. ``owner``: who
        holds the conversation (a person, or a queue: the bot is silent but for a
        withdrawal; ``brain.dialogue.handoff``)."""
        session_start = not any(isinstance(e, UserUttered) for e in tracker.current_session())
        turn = _Turn(self, tracker, channel, message, session_start)
        tracker.apply(message)
        if tracker.handoff:
            turn.change = while_handed_off(turn, message, owner)
            return turn.result()
        parse = message.parse
        understood = not (parse.get("nlu_fallback") or parse.get("ambiguous"))
        previous, begun = tracker.fallback_stage, tracker.event_count
        for name, value in extracted_values(self.domain, tracker, message).items():
            turn.apply(SlotSet(timestamp=message.timestamp, name=name, value=value))
            turn.extracted.add(name)
        if understood:
            tracker.reset_fallback()  # counted again below if the turn does not serve
        if self._handoff_requested(turn, message):
            handled = True
        elif tracker.active_form:
            handled = self._with_form(turn, message, understood)
        elif understood:
            handled = self._run_rules(turn) or self._mapped_response(turn, message)
            if not handled:
                self._core_fallback(turn)
        else:
            handled = False
            self._fallback(turn, message)
        count_turn(turn, begun, previous=previous, handled=handled)
        return turn.result()

    def end_handoff(self, tracker: Tracker, control: Mapping[str, Any], *, now: float,
                    channel: str | None = None) -> TurnResult:
        """The desk gave the conversation back to the bot (a hand-back, a close, a queue
        timeout; ``control`` as ``brain.dialogue.handoff.end_handoff`` reads it)."""
        turn = _Turn(self, tracker, channel, UserUttered(timestamp=now), session_start=False)
        end_handoff(turn, control)
        return turn.result()

    def _with_form(self, turn: _Turn, message: UserUttered, understood: bool) -> bool:
        """The message while a form is active; False when nothing covered it.

        As in Rasa, the form's slot mappings win over the fallback: a message the NLU did
        not understand still answers a ``from_text`` question (``mapped_values`` sees its
        intent as ``nlu_fallback``). Only a way out the bot understood escapes: the rules
        of the form (cancel), or asking for a person."""
        tracker = turn.tracker
        if understood and self._run_rules(turn, form_conditioned_only=True):
            return True
        if understood and message.intent in handoff_intents(self.rules):
            return self._run_rules(turn, form_conditioned_only=False, start_forms=False)
        if answers_form(self.domain, tracker, message):
            turn.run_action(tracker.active_form or "")
            self._run_rules(turn)
            return True
        if not understood:
            self._fallback(turn, message)
            return False
        if self._run_rules(turn, form_conditioned_only=False, start_forms=False) or \
                self._mapped_response(turn, message):
            if tracker.active_form and not turn.asked_form:
                ask_requested_slot(turn, self.domain)
            return True
        turn.run_action(tracker.active_form or "")  # the question again: not served
        return False

    def _run_rules(self, turn: _Turn, form_conditioned_only: bool | None = None,
                   start_forms: bool = True) -> bool:
        """Run rule predictions until the rules say to listen; True if any action ran.

        After a rule's last action the bot listens, unless the rule says
        ``wait_for_user_input: false`` or a form has just ended (its submit rules go on).
        ``start_forms=False`` (digressions) stops before a rule would start a form.
        """
        ran = False
        for _ in range(_MAX_ACTIONS_PER_TURN):
            prediction = predict_next(self.rules, turn.log, slots=turn.tracker.slots,
                                      form_conditioned_only=form_conditioned_only,
                                      prior=turn.prior() if self._rule_histories else ())
            if prediction is None:
                story = self._story_action(turn, form_conditioned_only)
                if story is None or (not start_forms and story in self.domain.forms):
                    break
                turn.run_action(story)
                ran, form_conditioned_only = True, None
                continue
            if prediction.action == "action_listen":
                break
            if not start_forms and prediction.action in self.domain.forms:
                break  # a digression inside a form never replaces that form
            turn.run_action(prediction.action)
            ran = True
            form_conditioned_only = None  # a rule's continuation may be any rule
            form_ended = turn.log[-1].kind == "active_loop" and turn.log[-1].value is None
            if prediction.last_step and prediction.rule.wait_for_user_input and not form_ended:
                break
        return ran

    def _story_action(self, turn: _Turn, form_conditioned_only: bool | None) -> str | None:
        """The stories' next action when no rule has one (None: listen, or no story
        covers the history); never while only a form's own rules are asked."""
        if not self.stories or form_conditioned_only:
            return None
        action = self.stories.predict(turn.tracker)
        return None if action == ACTION_LISTEN else action

    def _mapped_response(self, turn: _Turn, message: UserUttered) -> bool:
        name = f"utter_{message.intent}"
        if message.intent and self.renderer.has(name):
            turn.run_action(name)
            return True
        return False

    def _fallback(self, turn: _Turn, message: UserUttered) -> None:
        """A message not understood: the next fallback stage (``brain.dialogue.fallback``)."""
        misunderstood(turn)

    def _core_fallback(self, turn: _Turn) -> None:
        """Understood, but no rule, form or response covers it: Rasa's core fallback.
        ``action_default_fallback`` sends ``utter_default`` (the domain's, else a line that
        says the bot cannot help, not that it did not understand); another
        ``core_fallback_action`` runs as named; none with ``enable_fallback_prediction``
        off (the bot listens, as Rasa's RulePolicy then does)."""
        if not self.policy.enable_fallback_prediction:
            return
        action = self.policy.core_fallback_action
        turn.run_action("utter_default" if action == "action_default_fallback" else action)

    def _handoff_requested(self, turn: _Turn, message: UserUttered) -> bool:
        """Parley's ``/handoff_request`` (the way-out button of a bot without an intent
        for asking for a person) starts the handoff, if the bot can hand off."""
        if message.intent != HANDOFF_REQUEST or HANDOFF_REQUEST in self.domain.intents \
                or not can_hand_off(self):
            return False
        turn.run_action("action_handoff")
        return True


class _Turn:
    """The state of one turn: its log for rule matching and the messages produced."""

    def __init__(self, engine: DialogueEngine, tracker: Tracker, channel: str | None,
                 message: UserUttered, session_start: bool) -> None:
        self.engine, self.tracker, self.channel, self.message = engine, tracker, channel, message
        self.messages: list[OutgoingMessage] = []
        self.actions: list[str] = []
        self.asked_form = False
        self.change: HandoffChange | None = None
        # Slots the message set by the domain's mappings before anything ran (a form that
        # then rejects such a value empties the slot again).
        self.extracted: set[str] = set()
        self.log: list[LogRecord] = []
        self.log.append(LogRecord("intent", message.intent, dict(tracker.slots),
                                  tracker.active_form, session_start,
                                  entity_names(message.parse, engine.domain.entities)))
        self._held = len(tracker.events)  # the events before this turn's message
        self._prior: list[LogRecord] | None = None

    def prior(self) -> list[LogRecord]:
        """The session's records before this turn's message (for rules with a history)."""
        if self._prior is None:
            self._prior = session_records(self.tracker.events[:self._held],
                                          self.tracker.initial_slots,
                                          self.engine.domain.entities)
        return self._prior

    def result(self) -> TurnResult:
        return TurnResult(tuple(self.messages), tuple(self.actions), self.change)

    def apply(self, event: Event) -> None:
        self.tracker.apply(event)

    def record(self, kind: str, value: Any) -> None:
        self.log.append(LogRecord(kind, value, dict(self.tracker.slots), self.tracker.active_form))

    def _seed(self) -> str:
        return f"{self.tracker.conversation_id}:{self.tracker.event_count}"

    def send(self, message: OutgoingMessage) -> None:
        self.messages.append(message)
        self.apply(BotUttered(timestamp=self.message.timestamp, text=message.text,
                              buttons=message.buttons, response=message.response))

    def render(self, response: str, extra: Mapping[str, Any] | None = None
               ) -> OutgoingMessage | None:
        return self.engine.renderer.render(response, slots=self.tracker.slots,
                                           channel=self.channel, seed=self._seed(),
                                           conversation_id=self.tracker.conversation_id,
                                           extra=extra)

    def utter(self, response: str, extra: dict[str, Any] | None = None) -> bool:
        message = self.render(response, extra)
        if message is None:
            return False
        if response.startswith("utter_ask_"):
            self.asked_form = True
        self.send(message)
        return True

    def say(self, text: str) -> None:
        self.send(OutgoingMessage(text))

    def utter_or_default(self, response: str, buttons: list[dict[str, str]] | None = None,
                         extra: Mapping[str, Any] | None = None) -> None:
        """The domain's ``response`` (filled from slots and ``extra``), else Parley's
        default text for it; ``buttons`` replace the response's own."""
        message = self.render(response, extra)
        if message is None:
            text = _DEFAULT_TEXT.get(response, "Sorry, I didn't understand that.")
            message = OutgoingMessage(text.format_map(dict(extra or {})), response=response)
        if buttons:
            message = OutgoingMessage(message.text, tuple(buttons), message.image,
                                      message.response)
        self.send(message)

    def validate(self, slot: str, value: Any) -> tuple[bool, Any]:
        return self.engine.runner.validate(self, slot, value)

    def validate_form(self, form: Form, candidates: dict[str, Any]) -> tuple[str, ...] | None:
        return self.engine.runner.validate_form(self, form, candidates)

    def run_action(self, name: str) -> None:
        """Run any kind of action: response, form, built-in or custom."""
        self.actions.append(name)
        domain = self.engine.domain
        if name in domain.forms:
            if self.tracker.active_form == name:
                continue_form(self, domain, self.message)
            else:
                activate_form(self, domain, domain.forms[name], self.message)
            return
        self.apply(ActionExecuted(timestamp=self.message.timestamp, name=name))
        self.record("action", name)
        if name.startswith("utter_"):
            if name in _DEFAULT_TEXT:
                self.utter_or_default(name)
            elif self.engine.renderer.is_retrieval(name):
                utter_retrieved(self, name)  # utter_faq → utter_faq/<selected sub-intent>
            elif not self.utter(name):
                _log.error("conversation %s: no response %s in the domain",
                           self.tracker.conversation_id, name)
        elif name in BUILTIN_ACTIONS:
            self._builtin(name)
        else:
            run = self.engine.runner.run(self, name)
            started = [e for e in run.events if isinstance(e, HandoffStarted)]
            if started and self.change is None:  # a custom action handed off
                self.change = start_handoff(self, reason=started[-1].reason or name,
                                            team=started[-1].team, already_started=True)
            if run.followup and self.change is None:  # Rasa's FollowupAction, ActiveLoop
                self.run_action(run.followup)

    def _builtin(self, name: str) -> None:
        if name == "action_deactivate_loop" and self.tracker.active_form:
            self.apply(FormDeactivated(name=self.tracker.active_form, completed=False))
            self.record("active_loop", None)
        elif name == "action_restart":
            self.apply(SessionStarted(timestamp=self.message.timestamp))
        elif name == "action_handoff" and self.change is None and not self.tracker.handoff:
            # Fallback stage 3: the reason is that the bot did not understand, not the
            # intent it guessed last.
            misunderstood = self.tracker.fallback_stage == 3
            reason = "fallback" if misunderstood else self.message.intent or "fallback"
            self.change = start_handoff(self, reason=reason)
