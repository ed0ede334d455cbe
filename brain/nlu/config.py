"""A bot's settings, from the optional ``config.yml`` at the top of its folder.

Parley's pipeline is fixed (normaliser → intent classifier → NER → lookup ruler → regex
entities → value extraction), so the file holds only the knobs that change behaviour:

    language: en
    timezone: Europe/Berlin          # resolves "tomorrow at 2pm"
    nlu:
      fallback_threshold: 0.30       # top intent below this → nlu_fallback
      ambiguity_threshold: 0.10      # top1 − top2 below this → ambiguous
      classifier_c: 20.0             # inverse regularisation of the intent classifier
      ner_epochs: 30
      values: [time, number, amount_of_money]
      default_currency: USD          # for "40 bucks"
      entity_case: {order_id: upper} # keep the user's spelling, in upper (or lower) case
    dialogue:                        # brain.policy_settings
      max_history: 5
    greet_on_start: false            # no utter_conversation_start when a conversation opens

A config written for Rasa is read as Rasa wrote it (``brain.rasa_config``): ``recipe``,
``assistant_id``, and the settings of ``pipeline``/``policies`` that have a Parley meaning
(FallbackClassifier's thresholds, Duckling's dimensions and timezone here; the policies'
in ``brain.policy_settings``); Parley's own keys win where both are given. Every component
Parley replaces gets one notice (``load_config_notices``), which ``parley train`` and
``parley data validate`` print; loading the settings never prints.
``greet_on_start`` (default true) is a dialogue switch, not an NLU one: it is read here
with the rest of the file but kept out of ``NluConfig``, which each model stores, so
changing it needs no retraining (``load_greet_on_start``).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from brain.errors import BotDataError, Problem
from brain.policy_settings import PolicySettings, read_policy_settings
from brain.rasa_config import RASA_KEYS, RasaConfig, read_rasa_config
from brain.yaml_source import YamlMap, load_yaml_file

__all__ = ["NluConfig", "format_notice", "load_config_notices", "load_dialogue_settings",
           "load_greet_on_start", "load_nlu_config"]

_DIMENSIONS = frozenset({"time", "number", "amount_of_money"})
_PARLEY_KEYS = ("language", "timezone", "nlu", "dialogue", "greet_on_start")
_TOP_KEYS = frozenset(_PARLEY_KEYS) | RASA_KEYS


@dataclass(frozen=True, slots=True)
class NluConfig:
    """Settings that shape training and parsing; stored inside each model."""

    language: str = "en"
    timezone: str = "UTC"
    fallback_threshold: float = 0.30
    ambiguity_threshold: float = 0.10
    classifier_c: float = 20.0
    ner_epochs: int = 30
    values: tuple[str, ...] = ("time", "number", "amount_of_money")
    default_currency: str | None = None
    entity_case: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["values"] = list(self.values)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NluConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "values" in known:
            known["values"] = tuple(known["values"])
        return cls(**known)


class _ConfigFile(NamedTuple):
    nlu: NluConfig
    greet_on_start: bool
    policy: PolicySettings
    notices: tuple[Problem, ...]


_ABSENT = _ConfigFile(NluConfig(), True, PolicySettings(), ())


def load_nlu_config(bot_dir: Path) -> NluConfig:
    """Read ``config.yml`` (defaults when absent); every defect names file and line."""
    return _load(bot_dir).nlu


def load_greet_on_start(bot_dir: Path) -> bool:
    """``config.yml``'s ``greet_on_start`` (true when absent): whether the bot says
    ``utter_conversation_start`` when a conversation opens. The whole file is checked."""
    return _load(bot_dir).greet_on_start


def load_dialogue_settings(bot_dir: Path) -> PolicySettings:
    """``config.yml``'s dialogue settings (``brain.policy_settings``); the whole file is
    checked."""
    return _load(bot_dir).policy


def load_config_notices(bot_dir: Path) -> tuple[Problem, ...]:
    """What Parley does not take from ``config.yml`` as written, one line each: the Rasa
    components it replaces and what replaces them, settings that lost to Parley's own.
    The whole file is checked (a defect raises ``BotDataError``)."""
    return _load(bot_dir).notices


def format_notice(problem: Problem) -> str:
    """``file:line: notice: message``, as ``brain.validation.format_warning`` writes warnings."""
    return str(Problem(problem.path, problem.line, f"notice: {problem.message}"))


def _load(bot_dir: Path) -> _ConfigFile:
    path = bot_dir / "config.yml"
    if not path.exists():
        return _ABSENT
    shown = str(path)
    document = load_yaml_file(path, display_path=shown)
    if document is None:
        return _ABSENT
    if not isinstance(document, YamlMap):
        raise BotDataError([Problem(shown, 1, "config.yml must be a mapping")])
    problems: list[Problem] = []
    greet = document.get("greet_on_start", True)
    if not isinstance(greet, bool):
        problems.append(Problem(shown, document.line_of("greet_on_start"),
                                f"'greet_on_start': expected true or false, got {greet!r}"))
    for key in document:
        if key not in _TOP_KEYS:
            problems.append(Problem(shown, document.line_of(key), f"unsupported key '{key}' "
                                    f"(known: {', '.join(sorted(_TOP_KEYS))})"))
    rasa = read_rasa_config(document, shown, problems)
    notices = list(rasa.notices)
    values = _nlu_values(document, shown, rasa, problems, notices)
    policy = read_policy_settings(document, shown, rasa, problems, notices)
    if problems:
        raise BotDataError(sorted(problems, key=lambda p: p.line or 0))
    return _ConfigFile(NluConfig(**values), bool(greet), policy, tuple(notices))


def _nlu_values(document: YamlMap, shown: str, rasa: RasaConfig, problems: list[Problem],
                notices: list[Problem]) -> dict[str, Any]:
    """Rasa's pipeline settings, then Parley's own over them (a notice when they differ)."""
    values: dict[str, Any] = {}
    for key, carried in rasa.nlu.items():
        reason = _reason_invalid(key, carried.value)
        if reason:
            problems.append(Problem(shown, carried.line, f"{carried.label}: {reason}"))
        else:
            values[key] = tuple(carried.value) if key == "values" else carried.value
    own: list[tuple[YamlMap, str, str]] = [(document, key, key) for key in
                                           ("language", "timezone") if key in document]
    nlu = document.get("nlu", YamlMap())
    if not isinstance(nlu, YamlMap):
        problems.append(Problem(shown, document.line_of("nlu"), "'nlu' must be a mapping"))
    else:
        own += [(nlu, key, f"nlu: {key}") for key in nlu]
    for section, key, label in own:
        value = _check(section, key, shown, problems)
        given = rasa.nlu.get(key)
        if given is not None and key in values and value is not None and value != values[key]:
            notices.append(Problem(shown, section.line_of(key), f"{label} {section[key]!r} is "
                                   f"used, not {given.label} {given.value!r} (line "
                                   f"{given.line}): Parley's own setting wins"))
        values[key] = value
    return values


def _check(section: YamlMap, key: str, shown: str, problems: list[Problem]) -> Any:
    """Validate one setting; on a defect record a problem and return the default."""
    value = section[key]
    line = section.line_of(key)
    default = NluConfig.__dataclass_fields__.get(key)
    if default is None:
        known = sorted(f for f in NluConfig.__dataclass_fields__
                       if f not in ("language", "timezone"))
        problems.append(Problem(shown, line, f"unknown NLU setting '{key}' (known: "
                                f"{', '.join(known)})"))
        return None
    reason = _reason_invalid(key, value)
    if reason:
        problems.append(Problem(shown, line, f"'{key}': {reason}"))
        return None
    return tuple(value) if key == "values" else value


def _reason_invalid(key: str, value: Any) -> str | None:
    if key in ("fallback_threshold", "ambiguity_threshold"):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
        return None if ok else f"expected a number between 0 and 1, got {value!r}"
    if key == "classifier_c":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        return None if ok else f"expected a positive number, got {value!r}"
    if key == "ner_epochs":
        ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 500
        return None if ok else f"expected a whole number from 1 to 500, got {value!r}"
    if key == "values":
        ok = isinstance(value, list) and set(value) <= _DIMENSIONS
        return None if ok else f"expected a list of {', '.join(sorted(_DIMENSIONS))}"
    if key == "timezone":
        return None if _is_timezone(value) else f"unknown timezone {value!r} (use an IANA name)"
    if key == "language":
        return None if value == "en" else f"only 'en' is supported, got {value!r}"
    if key == "default_currency":
        ok = value is None or (isinstance(value, str) and len(value) == 3 and value.isupper())
        return None if ok else f"expected an ISO 4217 code such as USD, got {value!r}"
    if key == "entity_case":
        ok = isinstance(value, dict) and all(v in ("upper", "lower") for v in value.values())
        return None if ok else "expected a mapping of entity name to 'upper' or 'lower'"
    return None


def _is_timezone(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True
