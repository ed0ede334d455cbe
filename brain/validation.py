"""``parley data validate``: defects of a bot folder that loading alone does not reveal.

Checked: intents used in rules but not in the domain, actions in rules that do not exist,
responses that nothing uses, slots without mappings, slot mappings on undeclared entities,
form slots that are not slots, domain intents without NLU examples and NLU intents missing
from the domain. Load errors (bad YAML, unsupported keys) are reported the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from brain.actions import load_actions
from brain.dialogue.domain import Domain
from brain.dialogue.domain_reader import load_domain
from brain.dialogue.engine import BUILTIN_ACTIONS
from brain.dialogue.rules import Rule, load_rules
from brain.errors import BotDataError, Problem
from brain.nlu.training_data import TrainingData, load_training_data

__all__ = ["validate_bot"]

T = TypeVar("T")

# Responses Parley itself sends when the domain defines them.
_BUILTIN_RESPONSES = {"utter_default", "utter_did_you_mean", "utter_ask_rephrase",
                      "utter_handoff", "utter_action_failed", "utter_response_unavailable"}


def validate_bot(bot_dir: Path) -> list[Problem]:
    """Every problem found in ``bot_dir``; an empty list means the bot is consistent."""
    problems: list[Problem] = []
    domain = _loaded(load_domain, bot_dir, problems)
    rules = _loaded(load_rules, bot_dir, problems) or []
    data = _loaded(load_training_data, bot_dir, problems)
    actions = _loaded(load_actions, bot_dir, problems)
    if domain is None:
        return problems
    shown = str(bot_dir / "domain.yml")
    problems += _check_rules(domain, rules, set(actions or []))
    problems += _check_slots(domain, shown)
    problems += _check_responses(domain, rules, bot_dir, shown)
    if data is not None:
        problems += _check_intents(domain, data, shown)
    return problems


def _loaded(loader: Callable[[Path], T], bot_dir: Path, problems: list[Problem]) -> T | None:
    """What ``loader`` reads, or None with its problems recorded."""
    try:
        return loader(bot_dir)
    except BotDataError as exc:
        problems.extend(exc.problems)
        return None


def _check_rules(domain: Domain, rules: list[Rule], custom: set[str]) -> list[Problem]:
    known_actions = (set(domain.responses) | set(domain.forms) | set(BUILTIN_ACTIONS)
                     | custom | _BUILTIN_RESPONSES)
    problems = []
    for rule in rules:
        for step in (*rule.condition, *rule.steps):
            if step.kind == "intent" and step.value not in domain.intents:
                problems.append(Problem(rule.path, step.line, f"rule '{rule.name}' uses intent "
                                        f"'{step.value}', which is not in the domain"))
            elif step.kind == "action" and step.value not in known_actions:
                problems.append(Problem(rule.path, step.line, f"rule '{rule.name}' runs "
                                        f"'{step.value}': no such response, form or action"))
            elif step.kind == "active_loop" and step.value not in (None, *domain.forms):
                problems.append(Problem(rule.path, step.line, f"rule '{rule.name}': "
                                        f"'{step.value}' is not a form"))
    return problems


def _check_slots(domain: Domain, shown: str) -> list[Problem]:
    problems = []
    for slot in domain.slots.values():
        if not slot.mappings:
            problems.append(Problem(shown, None, f"slot '{slot.name}' has no mappings (use "
                                    "'- type: custom' for slots set by actions)"))
        for mapping in slot.mappings:
            if mapping.type == "from_entity" and mapping.entity not in domain.entities:
                problems.append(Problem(shown, None, f"slot '{slot.name}' maps entity "
                                        f"'{mapping.entity}', which is not in 'entities'"))
    for form in domain.forms.values():
        for name in form.required_slots:
            if name not in domain.slots:
                problems.append(Problem(shown, None, f"form '{form.name}' requires "
                                        f"'{name}', which is not a slot"))
    return problems


def _check_responses(domain: Domain, rules: list[Rule], bot_dir: Path,
                     shown: str) -> list[Problem]:
    used = set(_BUILTIN_RESPONSES)
    used |= {s.value for r in rules for s in r.steps if s.kind == "action"}
    used |= {f"utter_{intent}" for intent in domain.intents}
    for form in domain.forms.values():
        for slot in form.required_slots:
            used |= {f"utter_ask_{slot}", f"utter_ask_{form.name}_{slot}", f"utter_invalid_{slot}"}
    actions = bot_dir / "actions.py"
    if actions.is_file():
        source = actions.read_text(encoding="utf-8")
        used |= set(re.findall(r"utter_\w+", source))
        prefixes = re.findall(r"(utter_\w*)\{", source)  # f"utter_order_{status}"
        used |= {n for n in domain.responses if any(n.startswith(p) for p in prefixes)}
    return [Problem(shown, None, f"response '{name}' is never used")
            for name in sorted(domain.responses) if name not in used]


def _check_intents(domain: Domain, data: TrainingData, shown: str) -> list[Problem]:
    trained = set(data.intents)
    problems = [Problem(shown, None, f"intent '{name}' has no NLU examples")
                for name in domain.intents if name not in trained]
    problems += [Problem(shown, None, f"intent '{name}' has NLU examples but is not in the "
                         "domain") for name in sorted(trained - set(domain.intents))]
    return problems
