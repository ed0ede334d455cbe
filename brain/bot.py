"""A bot: its folder loaded (domain, rules, stories, actions, NLU model) and ready to answer.

``Bot.respond`` is the whole brain for one message: session expiry, NLU (or a button
payload ``/intent{"entity": "value"}``, which bypasses it), then the dialogue engine.
``Bot.start_conversation`` opens a conversation before the person writes (a channel's
conversation-start event): the session starts and the bot may greet; no NLU runs.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from brain.actions import load_actions
from brain.dialogue.domain_reader import load_domain
from brain.dialogue.engine import DialogueEngine, TurnResult
from brain.dialogue.events import UserUttered
from brain.dialogue.handoff import BOT, HandoffDesk, Ownership
from brain.dialogue.memoization import load_story_policy
from brain.dialogue.rules import load_rules
from brain.dialogue.session import start_session_if_due
from brain.dialogue.tracker import Tracker
from brain.fallback_settings import load_bot_fallback_settings
from brain.feedback_settings import FeedbackSettings, load_feedback_settings
from brain.nlu import NluModel, ParseResult, load_model
from brain.nlu.config import load_greet_on_start
from brain.nlu.retrieval import retrieval_payload
from brain.policy_settings import load_policy_settings
from brain.privacy_settings import PrivacySettings, load_privacy_settings

__all__ = ["Bot", "load_engine", "parse_payload"]

_PAYLOAD = re.compile(r"^/(?P<intent>[A-Za-z_][\w\-./]*)(?P<entities>\{.*\})?$", re.S)


def parse_payload(text: str) -> ParseResult | None:
    """The parse of a button payload such as ``/affirm`` or ``/inform{"order_id": "4471"}``;
    ``/faq/ask_hours`` selects that sub-intent of the retrieval intent ``faq``."""
    match = _PAYLOAD.match(text.strip())
    if match is None:
        return None
    entities = []
    if match.group("entities"):
        try:
            values = json.loads(match.group("entities"))
        except json.JSONDecodeError:
            return None
        if not isinstance(values, dict):
            return None
        entities = [{"entity": k, "value": v, "text": str(v), "start": 0, "end": 0,
                     "confidence": 1.0, "extractor": "payload"} for k, v in values.items()]
    intent = match.group("intent")
    return retrieval_payload({
        "text": text, "intent": {"name": intent, "confidence": 1.0},
        "intent_ranking": [{"name": intent, "confidence": 1.0}], "entities": entities,
        "nlu_fallback": False, "ambiguous": False, "fallback_reason": None})


class Bot:
    def __init__(self, nlu: NluModel, engine: DialogueEngine,
                 feedback: FeedbackSettings | None = None,
                 privacy: PrivacySettings | None = None) -> None:
        self.nlu = nlu
        self.engine = engine
        # Where to ask users for feedback (``feedback.yml``; the workers ask).
        self.feedback = feedback or FeedbackSettings()
        # Which entities and slots hold personal data (``privacy.yml``; redacted in the
        # archive and in log lines, never hidden from the NLU or the dialogue).
        self.privacy = privacy or PrivacySettings()

    @classmethod
    def load(cls, bot_dir: Path, *, model_path: Path | None = None,
             clients: Mapping[str, Any] | None = None, desk: HandoffDesk | None = None
             ) -> Bot:
        """Load a bot folder; ``model_path`` defaults to the newest model in the folder.
        ``desk``: where handoffs go (the workers' Redis queues); without one a handoff
        is a queue of one that nobody watches (the shell, conversation tests)."""
        engine = load_engine(bot_dir, clients, desk=desk)
        domain = engine.domain
        feedback = load_feedback_settings(bot_dir, names={
            *domain.responses, *domain.actions, *engine.runner.actions})
        privacy = load_privacy_settings(bot_dir, entities=domain.entities,
                                        slots=domain.slots)
        return cls(load_model(model_path or bot_dir), engine, feedback, privacy)

    def new_tracker(self, conversation_id: str) -> Tracker:
        return Tracker(conversation_id, self.engine.domain.initial_slots())

    def start_conversation(self, tracker: Tracker, *, channel: str | None = None,
                           now: float | None = None) -> TurnResult:
        """Open the conversation: start its session, then the greeting if the bot has one
        (``utter_conversation_start``, unless ``greet_on_start: false``)."""
        now = time.time() if now is None else now
        start_session_if_due(tracker, self.engine.domain.session, now)
        return self.engine.start_conversation(tracker, now=now, channel=channel)

    def respond(self, tracker: Tracker, text: str, *, channel: str | None = None,
                message_id: str = "", now: float | None = None, owner: Ownership = BOT,
                attachments: tuple[dict[str, str], ...] = ()) -> TurnResult:
        """Handle one user message (text or button payload) and return the bot's reply;
        ``owner``: who holds the conversation (``brain.dialogue.handoff``)."""
        now = time.time() if now is None else now
        start_session_if_due(tracker, self.engine.domain.session, now)
        when = datetime.fromtimestamp(now, ZoneInfo(self.nlu.config.timezone))
        parse = parse_payload(text) or self.nlu.parse(text, reference_time=when)
        message = UserUttered(timestamp=now, text=text, parse=parse, message_id=message_id,
                              attachments=attachments)
        return self.engine.handle(tracker, message, channel=channel, owner=owner)


def load_engine(bot_dir: Path, clients: Mapping[str, Any] | None = None, *,
                desk: HandoffDesk | None = None) -> DialogueEngine:
    """The dialogue of a bot folder, everything its files say (domain, rules, stories,
    actions, ``config.yml``'s dialogue settings, ``fallback.yml``), without the NLU model."""
    domain, actions = load_domain(bot_dir), load_actions(bot_dir)
    policy = load_policy_settings(bot_dir)
    return DialogueEngine(domain, load_rules(bot_dir), actions, clients,
                          greet_on_start=load_greet_on_start(bot_dir), desk=desk,
                          fallback=load_bot_fallback_settings(bot_dir, domain.intents),
                          policy=policy, stories=load_story_policy(
                              bot_dir, domain, max_history=policy.max_history))
