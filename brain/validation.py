"""Checks of a bot folder beyond what loading reveals, each an error or a warning.

The split is by consequence. An **error** means the bot would not do what its files say,
or would fail at run time; ``parley train`` and ``parley run`` stop on one:

    every load error (bad YAML, an unsupported key, a bad config.yml or actions.py), and
        every defect of Parley's own files (desk.yml, feedback.yml, privacy.yml,
        fallback.yml: an unknown intent to label or leave out, a label too long for a
        button)
    a rule naming an intent, action, form or slot that does not exist (it never fires,
        or fails when it does); the same for a story (and its entities,
        ``brain.story_validation``)
    a slot mapping on an entity, intent, form or slot that does not exist (it never
        applies); a form requiring something that is not a slot, or a slot without
        mappings (the form asks for it forever)
    a response placeholder that is neither a slot nor a value Parley or an action passes
        (the user gets "Sorry, I can't give you that information right now" instead), or
        a template that cannot be filled at all (``{}``, a lone brace, ``{x:.2f}``)
    a response condition on a slot that does not exist
    a sub-intent (``faq/ask_hours`` examples) without its response ``utter_faq/ask_hours``
        (``utter_faq`` fails for it), and a rule or slot mapping naming a sub-intent
        (they see only the retrieval intent ``faq``; Rasa drops the sub-intent with a
        warning, which changes what the rule does)

A **warning** is something unused or incomplete while every part that exists works as
written; it is printed and stops nothing:

    a response nothing sends; a domain intent without NLU examples (only a button
    payload can send it); an NLU intent missing from the domain (the model predicts it,
    the bot answers it only through ``utter_<intent>``); a slot without mappings that no
    form requires (only actions can set it); ``not_intent`` naming an unknown intent; a
    sub-intent's response without NLU examples of that sub-intent (never selected); a
    sub-intent listed in the domain's intents (the domain lists ``faq`` only); two stories
    teaching different actions after the same history, or a rule contradicting a story
    (both files and lines; neither is followed there, where Rasa's TED would pick one); a
    story checkpoint that connects nothing

Every problem names file and line. Placeholders are read as the renderer reads them
(``brain.dialogue.responses``): ``{name}`` is filled from the slots (``requested_slot``
included), the ``value`` and ``reason`` a form passes to ``utter_invalid_<slot>``, and the
keyword arguments of ``dispatcher.utter("utter_x", name=...)`` calls in ``actions.py``.
"""

from __future__ import annotations

import ast
import difflib
import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from brain.actions import load_actions
from brain.dialogue.domain import Domain
from brain.dialogue.domain_reader import DomainSource, read_domain
from brain.dialogue.engine import BUILTIN_ACTIONS, CONVERSATION_START_RESPONSE
from brain.dialogue.fallback import FALLBACK_TEXTS
from brain.dialogue.handoff import HANDOFF_PLACEHOLDERS, HANDOFF_TEXTS
from brain.dialogue.retrieval import retrieval_actions
from brain.dialogue.rules import Rule, load_rules
from brain.dialogue.stories import StoryFragment, load_story_fragments
from brain.dialogue.tracker import REQUESTED_SLOT
from brain.errors import BotDataError, Problem
from brain.fallback_settings import validate_fallback
from brain.feedback_settings import validate_feedback
from brain.handoff import validate_desk
from brain.nlu.config import load_nlu_config
from brain.nlu.retrieval import DELIMITER, split_intent
from brain.nlu.training_data import Example, TrainingData, load_training_data
from brain.privacy_settings import validate_privacy
from brain.story_validation import validate_stories

__all__ = ["ValidationReport", "format_warning", "validate_bot"]

T = TypeVar("T")

# Responses Parley itself sends when the domain defines them.
_BUILTIN_RESPONSES = {"utter_default", *FALLBACK_TEXTS, "utter_action_failed",
                      "utter_response_unavailable", CONVERSATION_START_RESPONSE, *HANDOFF_TEXTS}
# What a form passes to utter_invalid_<slot> when it rejects an answer (brain.dialogue.forms).
_REJECTION_VALUES = {"value", "reason"}
_CONVERSIONS = (None, "r", "s", "a")


def _sub_intent_hint(name: str) -> str:
    """Why a rule or mapping may not name ``faq/ask_hours``, and what to write instead."""
    base = split_intent(name)[0]
    return (f"the dialogue sees only the retrieval intent '{base}' (Rasa drops "
            f"'{name.partition(DELIMITER)[2]}' with a warning, so it would hold for "
            f"every sub-intent); write 'intent: {base}' and 'action: utter_{base}', which "
            "sends the sub-intent's response")


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The problems of a bot folder; ``errors`` stop training and running, ``warnings`` not."""

    errors: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()


def format_warning(problem: Problem) -> str:
    """``file:line: warning: message``, the form compilers use (editors jump to it)."""
    return str(Problem(problem.path, problem.line, f"warning: {problem.message}"))


class _Findings:
    def __init__(self) -> None:
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, path: str, line: int | None, message: str) -> None:
        self.errors.append(Problem(path, line, message))

    def warn(self, path: str, line: int | None, message: str) -> None:
        self.warnings.append(Problem(path, line, message))

    def report(self) -> ValidationReport:
        return ValidationReport(tuple(self.errors), tuple(self.warnings))


def validate_bot(bot_dir: Path, *, require_domain: bool = True) -> ValidationReport:
    """Every problem found in ``bot_dir``. ``require_domain=False`` accepts a folder of NLU
    data only (no ``domain.yml``), as training the NLU does, and checks just that data."""
    found = _Findings()
    if not require_domain and not (bot_dir / "domain.yml").exists():
        _loaded(load_training_data, bot_dir, found)
        _loaded(load_nlu_config, bot_dir, found)
        return found.report()
    loaded = _loaded(read_domain, bot_dir, found)
    rules = _loaded(load_rules, bot_dir, found) or []
    stories = _loaded(load_story_fragments, bot_dir, found) or []
    data = _loaded(load_training_data, bot_dir, found)
    _loaded(load_nlu_config, bot_dir, found)
    actions = _loaded(load_actions, bot_dir, found)
    if loaded is None:
        found.errors.extend(validate_desk(bot_dir))
        found.errors.extend(validate_feedback(bot_dir))
        found.errors.extend(validate_privacy(bot_dir))
        found.errors.extend(validate_fallback(bot_dir))
        return found.report()
    domain, source = loaded
    found.errors.extend(validate_desk(bot_dir, domain.intents, domain.slots))
    found.errors.extend(validate_feedback(bot_dir, {*domain.responses, *domain.actions,
                                                    *(actions or [])}))
    found.errors.extend(validate_privacy(bot_dir, domain.entities, domain.slots))
    found.errors.extend(validate_fallback(bot_dir, {
        *domain.intents, *(data.intent_response_keys if data is not None else ())}))
    _check_rules(domain, rules, set(actions or []), found)
    errors, warnings = validate_stories(bot_dir, domain, rules, stories,
                                        _known_actions(domain, set(actions or [])))
    found.errors.extend(errors)
    found.warnings.extend(warnings)
    _check_slots(domain, source, found)
    _check_forms(domain, source, found)
    action_code = _action_texts(bot_dir)  # read once, for both checks
    _check_templates(domain, source, _values_from_actions(action_code, domain.responses), found)
    _check_unused_responses(domain, source, rules, stories, action_code, found)
    if data is not None:
        _check_intents(domain, source, data, found)
        _check_retrieval(domain, source, data, found)
    return found.report()


def _loaded(loader: Callable[[Path], T], bot_dir: Path, found: _Findings) -> T | None:
    """What ``loader`` reads, or None with its problems recorded (as errors)."""
    try:
        return loader(bot_dir)
    except BotDataError as exc:
        found.errors.extend(exc.problems)
        return None


def _known_actions(domain: Domain, custom: set[str]) -> set[str]:
    return (set(domain.responses) | set(domain.forms) | set(BUILTIN_ACTIONS) | custom
            | _BUILTIN_RESPONSES | retrieval_actions(list(domain.responses)))


def _check_rules(domain: Domain, rules: list[Rule], custom: set[str], found: _Findings) -> None:
    known_actions = _known_actions(domain, custom)
    slots = {*domain.slots, REQUESTED_SLOT}
    for rule in rules:
        for step in (*rule.condition, *rule.all_steps):
            if step.kind == "intent" and DELIMITER in str(step.value):
                found.error(rule.path, step.line, f"rule '{rule.name}' uses sub-intent "
                            f"'{step.value}': {_sub_intent_hint(str(step.value))}")
            elif step.kind == "intent" and step.value not in domain.intents:
                found.error(rule.path, step.line, f"rule '{rule.name}' uses intent "
                            f"'{step.value}', which is not in the domain")
            elif step.kind == "action" and step.value not in known_actions:
                found.error(rule.path, step.line, f"rule '{rule.name}' runs '{step.value}': "
                            "no such response, form or action")
            elif step.kind == "active_loop" and step.value not in (None, *domain.forms):
                found.error(rule.path, step.line, f"rule '{rule.name}': '{step.value}' is not "
                            "a form")
            elif step.kind == "slot_was_set":
                for name in sorted({slot for slot, _ in step.value} - slots):
                    found.error(rule.path, step.line, f"rule '{rule.name}' checks slot "
                                f"'{name}', which is not in the domain")


def _check_slots(domain: Domain, source: DomainSource, found: _Findings) -> None:
    shown = source.path
    for name, slot in domain.slots.items():
        forms = [f.name for f in domain.forms.values() if name in f.required_slots]
        if not slot.mappings and forms:
            found.error(shown, source.line("slots", name), f"slot '{name}' has no mappings, "
                        f"so form '{forms[0]}' can never fill it")
        elif not slot.mappings:
            found.warn(shown, source.line("slots", name), f"slot '{name}' has no mappings "
                       "(use '- type: custom' for slots set by actions)")
        for index, mapping in enumerate(slot.mappings):
            line = source.line("slots", name, "mappings", index)
            if mapping.type == "from_entity" and mapping.entity not in domain.entities:
                found.error(shown, line, f"slot '{name}' maps entity '{mapping.entity}', "
                            "which is not in 'entities'")
            for intent in mapping.intent:
                if DELIMITER in intent:
                    found.error(shown, line, f"slot '{name}': a mapping on sub-intent "
                                f"'{intent}': {_sub_intent_hint(intent)}")
                elif intent not in domain.intents:
                    found.error(shown, line, f"slot '{name}': a mapping on intent '{intent}', "
                                "which is not in the domain (it never applies)")
            for intent in mapping.not_intent:
                if intent not in domain.intents:
                    found.warn(shown, line, f"slot '{name}': not_intent '{intent}' is not in "
                               "the domain")
            for condition in mapping.conditions:
                if condition.active_loop not in (None, *domain.forms):
                    found.error(shown, line, f"slot '{name}': a mapping condition on "
                                f"'{condition.active_loop}', which is not a form")
                if condition.requested_slot not in (None, *domain.slots):
                    found.error(shown, line, f"slot '{name}': a mapping condition on "
                                f"requested_slot '{condition.requested_slot}', which is not "
                                "a slot")


def _check_forms(domain: Domain, source: DomainSource, found: _Findings) -> None:
    for form in domain.forms.values():
        for index, name in enumerate(form.required_slots):
            if name not in domain.slots:
                found.error(source.path, source.line("forms", form.name, "required_slots", index),
                            f"form '{form.name}' requires '{name}', which is not a slot")


def _check_templates(domain: Domain, source: DomainSource,
                     passed: dict[str, set[str] | None], found: _Findings) -> None:
    """Placeholders and conditions of every variation; ``passed`` is what actions give each
    response (``None``: anything, an action passes ``**values``)."""
    slots = {*domain.slots, REQUESTED_SLOT}
    for name, variations in domain.responses.items():
        values = passed.get(name, set())
        known = None if values is None else slots | values | (
            _REJECTION_VALUES if name.startswith("utter_invalid_") else set()) | (
            HANDOFF_PLACEHOLDERS if name in HANDOFF_TEXTS else set())
        for index, variation in enumerate(variations):
            texts: list[tuple[str, tuple[str | int, ...]]] = [(variation.text, ("text",))]
            texts += [(button["title"], ("buttons", i, "title"))
                      for i, button in enumerate(variation.buttons)]
            for text, where in texts:
                for problem in _template_problems(text, known):
                    found.error(source.path, source.line("responses", name, index, *where),
                                f"response '{name}': {problem}")
            for slot, _ in variation.condition:
                if slot not in slots:
                    found.error(source.path, source.line("responses", name, index, "condition"),
                                f"response '{name}': a condition on '{slot}', which is not a "
                                "slot")


def _template_problems(text: str, known: set[str] | None) -> list[str]:
    """Why ``text`` cannot be filled as the renderer fills it; ``known`` are the names it
    may use (``None``: any name)."""
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion
                  in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        return [f"{text!r} cannot be filled: {exc} (write {{{{ or }}}} for a literal brace)"]
    problems = []
    for name, spec, conversion in fields:
        written = "{" + name + (f"!{conversion}" if conversion else "") + (
            f":{spec}" if spec else "") + "}"
        if name == "" or name.isdigit():
            problems.append(f"placeholder '{written}' has no name; placeholders are filled by "
                            "name, as in '{slot_name}'")
        elif known is not None and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean '{{{close[0]}}}'?)" if close else ""
            problems.append(f"placeholder '{{{name}}}' is not a slot of the domain, nor a "
                            f"value Parley or an action passes{hint}; the user would get "
                            "\"Sorry, I can't give you that information\" instead")
        elif conversion not in _CONVERSIONS or not _formats_text(spec or ""):
            problems.append(f"placeholder '{written}' fails at run time: values are filled "
                            "in as text, so only text formats and !r, !s, !a work")
    return problems


def _formats_text(spec: str) -> bool:
    try:
        format("", spec)
    except ValueError:
        return False
    return True


def _action_sources(bot_dir: Path) -> list[Path]:
    """The bot's action code: ``actions.py`` and every module of the ``actions/`` package
    (``brain.actions.modules`` imports the same files)."""
    package = bot_dir / "actions"
    found = [bot_dir / "actions.py"] if (bot_dir / "actions.py").is_file() else []
    return found + (sorted(package.rglob("*.py")) if package.is_dir() else [])


def _action_texts(bot_dir: Path) -> list[str]:
    texts = []
    for path in _action_sources(bot_dir):
        try:
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue  # load_actions reports an unreadable file
    return texts


def _values_from_actions(action_code: list[str], responses: Iterable[str]
                         ) -> dict[str, set[str] | None]:
    """The placeholder values the bot's actions pass each response, read from their syntax
    trees: Parley's ``dispatcher.utter("utter_x", carrier=...)`` and rasa_sdk's
    ``dispatcher.utter_message(response="utter_x", status=...)``. A name built at run time
    (``f"utter_order_{status}"``) counts for every response it can build, a name in a
    variable for every response; ``**values`` lets a response use any name."""
    names = list(responses)
    passed: dict[str, set[str] | None] = {name: set() for name in names}
    for text in action_code:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue  # load_actions has reported why it is unreadable
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call) or not _is_utter(call):
                continue
            keywords = [k for k in call.keywords if k.arg not in _MESSAGE_KEYWORDS]
            for name in _utter_targets(call, names):
                known = passed[name]
                if known is not None:
                    passed[name] = None if any(k.arg is None for k in keywords) else (
                        known | {k.arg for k in keywords if k.arg is not None})
    return passed


# utter_message's own keywords, which are not placeholder values (rasa_sdk's dispatcher).
_MESSAGE_KEYWORDS = {"response", "template", "text", "image", "json_message", "attachment",
                     "buttons", "elements"}


def _is_utter(call: ast.Call) -> bool:
    """Parley's ``utter(response, ...)``, or rasa_sdk's ``utter_message(response=...)``."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else (
        func.id if isinstance(func, ast.Name) else None)
    if name == "utter":
        return True
    return name == "utter_message" and any(k.arg in ("response", "template")
                                           for k in call.keywords)


def _utter_targets(call: ast.Call, names: list[str]) -> list[str]:
    first = call.args[0] if call.args else next(
        (k.value for k in call.keywords if k.arg in ("response", "template")), None)
    if isinstance(first, ast.Constant):
        return [first.value] if first.value in names else []
    if isinstance(first, ast.JoinedStr):
        head = first.values[0] if first.values else None
        prefix = head.value if isinstance(head, ast.Constant) else ""
        return [name for name in names if name.startswith(str(prefix))]
    return names


def _check_unused_responses(domain: Domain, source: DomainSource, rules: list[Rule],
                            stories: list[StoryFragment], action_code: list[str],
                            found: _Findings) -> None:
    used = set(_BUILTIN_RESPONSES)
    used |= {s.value for r in rules for s in r.all_steps if s.kind == "action"}
    used |= {s.value for f in stories for s in f.steps if s.kind == "action"}
    used |= {f"utter_{intent}" for intent in domain.intents}
    for form in domain.forms.values():
        for slot in form.required_slots:
            used |= {f"utter_ask_{slot}", f"utter_ask_{form.name}_{slot}", f"utter_invalid_{slot}"}
    for text in action_code:
        used |= set(re.findall(r"utter_\w+", text))
        prefixes = re.findall(r"(utter_\w*)\{", text)  # f"utter_order_{status}"
        used |= {n for n in domain.responses if any(n.startswith(p) for p in prefixes)}
        if re.search(r"def\s+required_slots\b", text):  # a form may ask for any slot
            used |= {f"utter_ask_{slot}" for slot in domain.slots}
    for name in sorted(domain.responses):
        if name not in used and DELIMITER not in name:  # sub-intents': _check_retrieval
            found.warn(source.path, source.line("responses", name),
                       f"response '{name}' is never used")


def _check_intents(domain: Domain, source: DomainSource, data: TrainingData,
                   found: _Findings) -> None:
    first_example: dict[str, Example] = {}
    for example in data.examples:
        first_example.setdefault(example.intent, example)
    for index, name in enumerate(domain.intents):
        if name not in first_example and DELIMITER not in name:  # "/": _check_retrieval
            found.warn(source.path, source.line("intents", index),
                       f"intent '{name}' has no NLU examples")
    for name in sorted(set(first_example) - set(domain.intents)):
        example = first_example[name]
        found.warn(example.path, example.line, f"intent '{name}' has NLU examples but is not "
                   "in the domain")


def _check_retrieval(domain: Domain, source: DomainSource, data: TrainingData,
                     found: _Findings) -> None:
    """Every sub-intent has its response (else ``utter_faq`` fails for it: an error), and
    every sub-intent's response has its sub-intent (else it is never sent: a warning)."""
    first: dict[str, Example] = {}
    for example in data.examples:
        if example.intent_response_key:
            first.setdefault(example.intent_response_key, example)
    for key, example in sorted(first.items()):
        if f"utter_{key}" not in domain.responses:
            found.error(example.path, example.line, f"sub-intent '{key}' has no response "
                        f"'utter_{key}' in the domain, so utter_{split_intent(key)[0]} "
                        "cannot answer it")
    for name in sorted(n for n in domain.responses if DELIMITER in n):
        if name.removeprefix("utter_") not in first:
            found.warn(source.path, source.line("responses", name), f"response '{name}' is "
                       f"never sent: no NLU examples of sub-intent "
                       f"'{name.removeprefix('utter_')}'")
    for index, name in enumerate(domain.intents):
        if DELIMITER in name:
            found.warn(source.path, source.line("intents", index), f"intent '{name}': the "
                       f"domain lists the retrieval intent '{split_intent(name)[0]}', not its "
                       "sub-intents (the NLU never predicts a sub-intent as the intent)")
