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
deterministic policies, so ``dialogue:`` has no such key. ``load_policy_settings`` reads
``policies`` and ``dialogue`` only; ``brain.nlu.config`` checks the whole file with
``read_policy_settings``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brain.errors import BotDataError, Problem
from brain.rasa_config import RasaConfig, read_rasa_config
from brain.yaml_source import YamlMap, load_yaml_file

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
    """``config.yml``'s dialogue settings (defaults when absent); a bad value is an error
    naming file and line. Pure: notices are ``brain.nlu.config.load_config_notices``'s."""
    path = bot_dir / "config.yml"
    if not path.exists():
        return PolicySettings()
    shown = str(path)
    document = load_yaml_file(path, display_path=shown)
    if document is None:
        return PolicySettings()
    if not isinstance(document, YamlMap):
        raise BotDataError([Problem(shown, 1, "config.yml must be a mapping")])
    problems: list[Problem] = []
    rasa = read_rasa_config(document, shown, problems)
    settings = read_policy_settings(document, shown, rasa, problems, [])
    if problems:
        raise BotDataError(sorted(problems, key=lambda p: p.line or 0))
    return settings


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
