"""The dialogue policy's settings, from the bot's ``config.yml``.

Rasa writes them in ``policies:`` (``MemoizationPolicy``/``AugmentedMemoizationPolicy``/
``TEDPolicy`` ``max_history``, ``RulePolicy`` ``core_fallback_threshold``,
``core_fallback_action_name``, ``enable_fallback_prediction``); Parley reads those, and its own
``dialogue:`` section, which wins where both are given:

    dialogue:
      max_history: 5
      core_fallback_action: action_default_fallback
      enable_fallback_prediction: true

``max_history`` comes from a memoization policy, else from ``TEDPolicy`` (``brain.rasa_config``).
``core_fallback_threshold`` is kept as Rasa wrote it but means nothing to Parley's
deterministic policies, so ``dialogue:`` has no such key. ``brain.nlu.config`` reads the
file and calls ``read_policy_settings``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brain.errors import Problem
from brain.rasa_config import RasaConfig
from brain.yaml_source import YamlMap

__all__ = ["PolicySettings", "load_policy_settings", "read_policy_settings"]

_OWN_KEYS = ("max_history", "core_fallback_action", "enable_fallback_prediction")


@dataclass(frozen=True, slots=True)
class PolicySettings:
    """``max_history``: how many past states the story policy looks at (Parley's default 5;
    Rasa 3.6's own default is unbounded). ``core_fallback_action``: what runs when a message
    was understood but no rule, story, form or response covers the conversation (Rasa's
    ``action_default_fallback``, which sends ``utter_default``).
    ``enable_fallback_prediction``: whether it runs at all. ``core_fallback_threshold``:
    RulePolicy's, kept as written; Parley's policies do not use it."""

    max_history: int = 5
    core_fallback_threshold: float = 0.3
    core_fallback_action: str = "action_default_fallback"
    enable_fallback_prediction: bool = True


def load_policy_settings(bot_dir: Path) -> PolicySettings:
    """``config.yml``'s dialogue settings (defaults when absent); a bad value anywhere in
    the file is an error naming file and line. The file is read once, by
    ``brain.nlu.config``, which keeps these settings with the rest of it."""
    from brain.nlu.config import load_dialogue_settings  # it imports this module

    return load_dialogue_settings(bot_dir)


def read_policy_settings(document: YamlMap, shown: str, rasa: RasaConfig,
                         problems: list[Problem], notices: list[Problem]) -> PolicySettings:
    """Rasa's policies' settings, overridden by ``dialogue:``; a notice when the two
    disagree (it names both), a problem per bad value."""
    values: dict[str, Any] = {}
    for target, given in rasa.dialogue.items():
        reason = _reason_invalid(target, given.value)
        if reason:
            problems.append(Problem(shown, given.line, f"{given.label}: {reason}"))
        else:
            values[target] = given.value
    section = document.get("dialogue", YamlMap())
    if not isinstance(section, YamlMap):
        problems.append(Problem(shown, document.line_of("dialogue"),
                                "'dialogue' must be a mapping"))
        return PolicySettings(**values)
    for key in section:
        line = section.line_of(key)
        if key not in _OWN_KEYS:
            problems.append(Problem(shown, line, f"unknown dialogue setting '{key}' (known: "
                                    f"{', '.join(_OWN_KEYS)})"))
            continue
        reason = _reason_invalid(key, section[key])
        if reason:
            problems.append(Problem(shown, line, f"dialogue: {key}: {reason}"))
            continue
        rasa_value = rasa.dialogue.get(key)
        if rasa_value is not None and key in values and values[key] != section[key]:
            notices.append(Problem(shown, line, f"dialogue: {key} {section[key]!r} is used, "
                                   f"not {rasa_value.label} {rasa_value.value!r} (line "
                                   f"{rasa_value.line}): Parley's own setting wins"))
        values[key] = section[key]
    return PolicySettings(**values)


def _reason_invalid(key: str, value: Any) -> str | None:
    if key == "max_history":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        return None if ok else f"expected a whole number of at least 1, got {value!r}"
    if key == "core_fallback_threshold":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
        return None if ok else f"expected a number between 0 and 1, got {value!r}"
    if key == "core_fallback_action":
        ok = isinstance(value, str) and bool(value) and not any(c.isspace() for c in value)
        return None if ok else f"expected an action name such as action_default_fallback, " \
            f"got {value!r}"
    if key == "enable_fallback_prediction":
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    return None
