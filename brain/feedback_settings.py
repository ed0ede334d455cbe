"""Where a bot asks its users for feedback, from the optional ``feedback.yml`` of its folder.

A Parley extension (Rasa has no such file)::

    helpful:                          # "Was this helpful?" with 👍 / 👎 buttons
      after: [utter_delivery_time, action_check_order_status]
      question: "Was this helpful?"   # optional (this is the default)
      channels: [slack, telegram, whatsapp]   # optional (the default); or web
    satisfaction:                     # the 1–5 question (CSAT)
      after_handoff: true             # when a person hands the conversation back (default)
      after: [utter_goodbye]          # and after these conversation-ending replies
      question: "How would you rate this conversation? (1 = very poor, 5 = excellent)"
      channels: [slack, telegram, whatsapp]
    thanks: "Thanks for your feedback!"   # optional answer to a pressed rating button

Names in ``after`` are the domain's responses or custom actions. The browser chat
(``webchat``) is never asked: its widget shows thumbs on every bot reply itself. Without
the file nothing is asked. Every defect is a ``Problem`` naming file and line, all reported
together (``BotDataError``); given the names the bot knows, an unknown one is one too.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brain.errors import BotDataError, Problem
from brain.yaml_source import FileProblems, YamlMap, load_parley_file

__all__ = ["ASKABLE_CHANNELS", "DEFAULT_CHANNELS", "FEEDBACK_FILE", "FeedbackSettings",
           "Question", "load_feedback_settings", "validate_feedback"]

FEEDBACK_FILE = "feedback.yml"
# The chat channels that show buttons (channels/ names; brain may not import it). The
# website webhook (``web``) may be asked too: the site's server renders the buttons.
ASKABLE_CHANNELS = ("slack", "telegram", "whatsapp", "web")
DEFAULT_CHANNELS = ("slack", "telegram", "whatsapp")
HELPFUL_QUESTION = "Was this helpful?"
SATISFACTION_QUESTION = "How would you rate this conversation? (1 = very poor, 5 = excellent)"
_TOP_KEYS = ("helpful", "satisfaction", "thanks")
_HELPFUL_KEYS = ("after", "question", "channels")
_SATISFACTION_KEYS = ("after_handoff", "after", "question", "channels")
_TEXT_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Question:
    """One question: asked after the replies of the names in ``after`` (and, for the
    satisfaction question, when a handoff ends if ``after_handoff``) on ``channels``."""

    question: str
    after: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset(DEFAULT_CHANNELS)
    after_handoff: bool = False

    def asks_on(self, channel: str) -> bool:
        return channel in self.channels


@dataclass(frozen=True, slots=True)
class FeedbackSettings:
    """What ``feedback.yml`` says; ``FeedbackSettings()`` asks nothing (no file)."""

    helpful: Question | None = None
    satisfaction: Question | None = None
    thanks: str | None = None
    source: str | None = None


def load_feedback_settings(bot_dir: Path, *, names: Collection[str] | None = None
                           ) -> FeedbackSettings:
    """Read ``BOTDIR/feedback.yml`` (nothing asked when absent); raise ``BotDataError``
    listing every problem. With ``names`` (the responses and custom actions the bot
    has), every name in ``after`` must be one of them."""
    found = load_parley_file(bot_dir, FEEDBACK_FILE, "helpful, satisfaction, thanks")
    if found is None:
        return FeedbackSettings()
    shown, doc = found
    if doc is None:
        return FeedbackSettings(source=shown)
    reader = _Reader(shown, None if names is None else frozenset(names))
    reader.unknown_keys(doc, _TOP_KEYS, "feedback.yml")
    helpful = reader.question(doc, "helpful", _HELPFUL_KEYS, HELPFUL_QUESTION)
    satisfaction = reader.question(doc, "satisfaction", _SATISFACTION_KEYS,
                                   SATISFACTION_QUESTION)
    thanks = reader.text(doc, "thanks", "feedback.yml", None)
    if reader.problems:
        raise BotDataError(sorted(reader.problems, key=lambda p: p.line or 0))
    return FeedbackSettings(helpful, satisfaction, thanks, shown)


def validate_feedback(bot_dir: Path, names: Collection[str] | None = None) -> list[Problem]:
    """Every problem of ``feedback.yml`` (none when it is absent), for the bot checks."""
    try:
        load_feedback_settings(bot_dir, names=names)
    except BotDataError as exc:
        return list(exc.problems)
    return []


class _Reader(FileProblems):
    """Collects the problems of one feedback.yml while reading its parts."""

    def __init__(self, shown: str, names: frozenset[str] | None) -> None:
        super().__init__(shown)
        self.names = names

    def question(self, doc: YamlMap, key: str, allowed: tuple[str, ...], default: str
                 ) -> Question | None:
        if key not in doc:
            return None
        spec = doc[key]
        if not isinstance(spec, YamlMap):
            self.add(doc.line_of(key), f"'{key}' must be a mapping ({', '.join(allowed)})")
            return None
        self.unknown_keys(spec, allowed, f"'{key}'")
        after_handoff = self._flag(spec, key) if "after_handoff" in allowed else False
        after = self._names(spec, key, required=not after_handoff)
        return Question(self.text(spec, "question", f"'{key}'", default) or default,
                        after, self._channels(spec, key), after_handoff)

    def text(self, spec: YamlMap, key: str, what: str, default: str | None) -> str | None:
        if key not in spec:
            return default
        value = spec[key]
        if not isinstance(value, str) or not value.strip() or len(value) > _TEXT_LIMIT:
            self.add(spec.line_of(key), f"{what}: '{key}' must be a text of 1 to "
                     f"{_TEXT_LIMIT} characters, got {value!r}")
            return default
        return value.strip()

    def _flag(self, spec: YamlMap, key: str) -> bool:
        value = spec.get("after_handoff", True)
        if not isinstance(value, bool):
            self.add(spec.line_of("after_handoff"), f"'{key}': 'after_handoff' must be true "
                     f"or false, got {value!r}")
            return True
        return value

    def _names(self, spec: YamlMap, key: str, *, required: bool) -> frozenset[str]:
        value: Any = spec.get("after", [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(
                isinstance(name, str) and name for name in value):
            self.add(spec.line_of("after"), f"'{key}': 'after' must be a list of response "
                     f"or action names, got {value!r}")
            return frozenset()
        if required and not value:
            self.add(spec.line_of("after") if "after" in spec else spec.line,
                     f"'{key}' needs 'after': the responses or actions to ask after")
        for name in value:
            if self.names is not None and name not in self.names:
                self.add(spec.line_of("after"), f"'{key}': '{name}' is not a response or "
                         "custom action of the bot (it would never be asked after)")
        return frozenset(value)

    def _channels(self, spec: YamlMap, key: str) -> frozenset[str]:
        if "channels" not in spec:
            return frozenset(DEFAULT_CHANNELS)
        value: Any = spec["channels"]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(
                isinstance(name, str) for name in value):
            self.add(spec.line_of("channels"), f"'{key}': 'channels' must be a list of "
                     f"channel names ({', '.join(ASKABLE_CHANNELS)})")
            return frozenset(DEFAULT_CHANNELS)
        for name in value:
            if name == "webchat":
                self.add(spec.line_of("channels"), f"'{key}': the browser chat (webchat) "
                         "is not asked: its widget shows thumbs on every bot reply")
            elif name not in ASKABLE_CHANNELS:
                self.add(spec.line_of("channels"), f"'{key}': unknown channel {name!r} "
                         f"(channels: {', '.join(ASKABLE_CHANNELS)})")
        return frozenset(value) & frozenset(ASKABLE_CHANNELS)
