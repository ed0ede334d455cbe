"""Rasa's keys of ``config.yml`` (``recipe``, ``assistant_id``, ``pipeline``, ``policies``),
read as Rasa writes them.

Parley runs neither Rasa's components nor its policies, but a Rasa config says things that
still hold: the NLU fallback's thresholds, the dialogue's fallback action, how much history
stories look at. Those settings are carried over (``RasaValue``, with the line they were
written on, so that a bad value is an error naming it); every component Parley replaces gets
one notice naming what it uses instead (``brain.rasa_components``), a name Rasa 3.6 does not
ship one saying that custom components are not run. Checking the values is left to the
owners of the settings they become (``brain.nlu.config``, ``brain.policy_settings``).

Empty or absent ``pipeline``/``policies`` (``rasa init`` writes both keys with every line
commented out) mean Rasa's defaults, which are Parley's: nothing to say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from brain.errors import Problem
from brain.rasa_components import (
    NLU_SETTINGS,
    POLICY_SETTINGS,
    REMOVED_IN_RASA_3,
    REPLACED,
    component_name,
)
from brain.yaml_source import YamlMap, YamlSeq

__all__ = ["RASA_KEYS", "RasaConfig", "RasaValue", "read_rasa_config"]

# ``version`` is not Rasa's own, but configs in the wild carry one ("3.1"); Rasa's schema for
# config.yml accepts any key, and ignores it.
RASA_KEYS = frozenset({"recipe", "assistant_id", "pipeline", "policies", "train_schema",
                       "predict_schema", "version"})
_RECIPES = ("default.v1", "graph.v1")
# Duckling's dimension names → Parley's value names (nlu: values).
_DUCKLING_DIMENSIONS = {"time": "time", "number": "number", "amount-of-money": "amount_of_money"}
# Settings read from this component only when no other component gave them.
_SECOND_CHOICE = frozenset({"TEDPolicy"})
_KEY_NOTES: dict[tuple[str, str], str] = {
    ("RulePolicy", "core_fallback_threshold"): (
        "'core_fallback_threshold' is kept but has no effect: Parley's rules, stories and "
        "forms are deterministic, so no prediction has a confidence to compare; a turn none "
        "of them covers runs core_fallback_action_name at once"),
    ("RulePolicy", "restrict_rules"): (
        "'restrict_rules' is not used: Parley's rules may hold several user turns, as with false"),
}


@dataclass(frozen=True, slots=True)
class RasaValue:
    """One Rasa setting carried over: ``target`` is Parley's name for it; ``component`` and
    ``key`` where the file gives it."""

    target: str
    value: Any
    line: int
    component: str
    key: str

    @property
    def label(self) -> str:
        """How the file names it: ``FallbackClassifier 'threshold'``."""
        return f"{self.component} '{self.key}'"


@dataclass(frozen=True, slots=True)
class RasaConfig:
    """What ``pipeline`` (``nlu``) and ``policies`` (``dialogue``) say that Parley uses,
    keyed by Parley's setting, and the notices about the rest."""

    nlu: Mapping[str, RasaValue]
    dialogue: Mapping[str, RasaValue]
    notices: tuple[Problem, ...]


def read_rasa_config(document: YamlMap, shown: str, problems: list[Problem]) -> RasaConfig:
    """Read Rasa's keys of ``document``; defects go to ``problems`` (file and line)."""
    reader = _Reader(shown, problems)
    reader.recipe(document)
    nlu = reader.section(document, "pipeline", NLU_SETTINGS, "FallbackClassifier",
                         "Rasa would never predict nlu_fallback; Parley keeps its NLU "
                         "fallback (nlu: fallback_threshold, ambiguity_threshold)")
    dialogue = reader.section(document, "policies", POLICY_SETTINGS, "RulePolicy",
                              "Parley follows rules and forms all the same")
    return RasaConfig(nlu=nlu, dialogue=dialogue, notices=tuple(reader.notices))


class _Reader:
    def __init__(self, shown: str, problems: list[Problem]) -> None:
        self.shown = shown
        self.problems = problems
        self.notices: list[Problem] = []
        self._noticed: set[str] = set()

    def notice(self, line: int, message: str) -> None:
        self.notices.append(Problem(self.shown, line, message))

    def recipe(self, document: YamlMap) -> None:
        recipe = document.get("recipe")
        if recipe is not None and recipe not in _RECIPES:
            self.problems.append(Problem(self.shown, document.line_of("recipe"),
                                         f"unknown recipe {recipe!r} (Rasa knows "
                                         f"{' and '.join(_RECIPES)})"))
        schemas = [k for k in ("train_schema", "predict_schema") if k in document]
        if recipe == "graph.v1" or schemas:
            line = document.line_of("recipe" if "recipe" in document else schemas[0])
            self.notice(line, "the graph recipe's train_schema and predict_schema are not "
                        "used: Parley reads pipeline and policies only, and runs its own "
                        "NLU pipeline and dialogue")

    def section(self, document: YamlMap, key: str, mapped: dict[str, dict[str, str]],
                expected: str, without_expected: str) -> dict[str, RasaValue]:
        """The carried-over settings of ``pipeline`` or ``policies``, first given first."""
        items = document.get(key)
        if items is None or items == []:
            return {}
        if not isinstance(items, YamlSeq):
            self.problems.append(Problem(self.shown, document.line_of(key),
                                         f"'{key}' must be a list of components such as "
                                         "'- name: DIETClassifier'"))
            return {}
        values: dict[str, RasaValue] = {}
        second: dict[str, RasaValue] = {}
        names: list[str] = []
        for item, line in zip(items, items.item_lines, strict=True):
            written = item.get("name") if isinstance(item, YamlMap) else None
            if not isinstance(written, str) or not written.strip():
                self.problems.append(Problem(self.shown, line, f"each item of '{key}' needs a "
                                             "'name' (a component such as DIETClassifier)"))
                continue
            name = component_name(written.strip())
            names.append(name)
            found = self._carried(name, item, mapped.get(name, {}))
            target = second if name in _SECOND_CHOICE else values
            for setting, value in found.items():
                target.setdefault(setting, value)
            self._notice_once(written.strip(), name, item, line, mapped.get(name, {}))
        for setting, value in second.items():
            if setting not in values:
                values[setting] = value
                self._amend(value.component, f"its '{value.key}' {value.value!r} is used, "
                            "as no other policy gives one")
        if names and expected not in names:
            self.notice(document.line_of(key), f"'{key}' has no {expected}: {without_expected}")
        return values

    def _amend(self, name: str, clause: str) -> None:
        """Add ``clause`` to the notice of component ``name`` (one line per component)."""
        for index, notice in enumerate(self.notices):
            if notice.message.startswith(f"{name}: "):
                self.notices[index] = Problem(notice.path, notice.line,
                                              f"{notice.message}; {clause}")
                return

    def _carried(self, name: str, item: YamlMap, mapped: dict[str, str]) -> dict[str, RasaValue]:
        found: dict[str, RasaValue] = {}
        for key, target in mapped.items():
            if item.get(key) is None:  # absent, or null: the component's default
                continue
            value = item[key]
            if name == "DucklingEntityExtractor" and key == "dimensions":
                value = _parley_values(value)
                if value is None:
                    self.problems.append(Problem(self.shown, item.line_of(key),
                                                 f"{name} 'dimensions': expected a list of "
                                                 "Duckling dimensions such as [time, number]"))
                    continue
            found[target] = RasaValue(target, value, item.line_of(key), name, key)
        return found

    def _notice_once(self, written: str, name: str, item: YamlMap, line: int,
                     mapped: dict[str, str]) -> None:
        """One notice per component name (CountVectorsFeaturizer often appears twice)."""
        if name in self._noticed:
            return
        self._noticed.add(name)
        clauses = _clauses(name, item, mapped)
        if clauses:
            self.notice(line, f"{written}: {'; '.join(clauses)}")


def _clauses(name: str, item: YamlMap, mapped: dict[str, str]) -> list[str]:
    """What to say about one component: what replaces it, and its settings Parley skips."""
    if name not in REPLACED:
        if name in REMOVED_IN_RASA_3:
            return ["a component of an older Rasa that Rasa 3 no longer has; Parley ignores it"]
        return ["not a component Rasa 3.6 ships: Parley does not run custom components, "
                "so it is ignored"]
    replaced = REPLACED[name]
    clauses = [replaced] if replaced else []
    if name == "DIETClassifier" and "epochs" in item:
        clauses.append(f"its 'epochs: {item['epochs']}' is not carried over")
    dimensions = item.get("dimensions") if name == "DucklingEntityExtractor" else None
    if isinstance(dimensions, list):
        skipped = sorted(str(d) for d in dimensions if d not in _DUCKLING_DIMENSIONS)
        if skipped:
            clauses.append(f"Duckling dimensions Parley does not extract: {', '.join(skipped)}")
    if name in ("MemoizationPolicy", "AugmentedMemoizationPolicy") and (
            item.get("max_history") is None):
        clauses.append("without a max_history Rasa matches whole conversations; Parley's "
                       "stories look at the last max_history turns (TEDPolicy's if it gives "
                       "one, else 5; dialogue: max_history sets it)")
    if replaced is None:
        noted = [note for (component, key), note in _KEY_NOTES.items()
                 if component == name and key in item]
        unused = sorted(k for k in item if k != "name" and k not in mapped
                        and (name, k) not in _KEY_NOTES)
        clauses.extend(noted)
        if unused:
            clauses.append(f"{', '.join(repr(k) for k in unused)}: no Parley meaning, ignored")
    return clauses


def _parley_values(dimensions: Any) -> list[str] | None:
    """Duckling's ``dimensions`` as ``nlu: values``; ``None`` when it is not a list."""
    if not isinstance(dimensions, list):
        return None
    return [_DUCKLING_DIMENSIONS[d] for d in dimensions if d in _DUCKLING_DIMENSIONS]
