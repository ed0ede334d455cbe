"""A bot's NLU settings, from the optional ``config.yml`` at the top of its folder.

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
    greet_on_start: false            # no utter_conversation_start when a conversation opens

Rasa's ``pipeline:``/``policies:`` keys are reported as unsupported, not ignored.
``greet_on_start`` (default true) is a dialogue switch, not an NLU one: it is read here
with the rest of the file but kept out of ``NluConfig``, which each model stores, so
changing it needs no retraining (``load_greet_on_start``).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from brain.errors import BotDataError, Problem
from brain.yaml_source import YamlMap, load_yaml_file

__all__ = ["NluConfig", "load_greet_on_start", "load_nlu_config"]

_DIMENSIONS = frozenset({"time", "number", "amount_of_money"})
_TOP_KEYS = {"language", "timezone", "nlu", "greet_on_start"}


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


def load_nlu_config(bot_dir: Path) -> NluConfig:
    """Read ``config.yml`` (defaults when absent); every defect names file and line."""
    return _load(bot_dir)[0]


def load_greet_on_start(bot_dir: Path) -> bool:
    """``config.yml``'s ``greet_on_start`` (true when absent): whether the bot says
    ``utter_conversation_start`` when a conversation opens. The whole file is checked."""
    return _load(bot_dir)[1]


def _load(bot_dir: Path) -> tuple[NluConfig, bool]:
    path = bot_dir / "config.yml"
    if not path.exists():
        return NluConfig(), True
    shown = str(path)
    document = load_yaml_file(path, display_path=shown)
    if document is None:
        return NluConfig(), True
    if not isinstance(document, YamlMap):
        raise BotDataError([Problem(shown, 1, "config.yml must be a mapping")])
    problems: list[Problem] = []
    greet = document.get("greet_on_start", True)
    if not isinstance(greet, bool):
        problems.append(Problem(shown, document.line_of("greet_on_start"),
                                f"'greet_on_start': expected true or false, got {greet!r}"))
    for key in document:
        if key not in _TOP_KEYS:
            hint = (" (Parley's NLU pipeline is fixed; tune it under 'nlu:')"
                    if key in ("pipeline", "policies", "recipe", "assistant_id") else "")
            problems.append(Problem(shown, document.line_of(key),
                                    f"unsupported key '{key}'{hint}"))
    values: dict[str, Any] = {}
    for key in ("language", "timezone"):
        if key in document:
            values[key] = _check(document, key, shown, problems)
    nlu = document.get("nlu", YamlMap())
    if not isinstance(nlu, YamlMap):
        problems.append(Problem(shown, document.line_of("nlu"), "'nlu' must be a mapping"))
    else:
        for key in nlu:
            values[key] = _check(nlu, key, shown, problems)
    if problems:
        raise BotDataError(problems)
    return NluConfig(**values), bool(greet)


def _check(section: YamlMap, key: str, shown: str, problems: list[Problem]) -> Any:
    """Validate one setting; on a defect record a problem and return the default."""
    value = section[key]
    line = section.line_of(key)
    default = NluConfig.__dataclass_fields__.get(key)
    if default is None:
        known = sorted(f for f in NluConfig.__dataclass_fields__ if f not in _TOP_KEYS)
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
