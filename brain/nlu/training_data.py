"""Reads a bot's NLU training data in the Rasa 3.x format, as it is.

A bot folder keeps its data in ``data/`` (every ``*.yml``/``*.yaml`` below it, several files
allowed). A data file's ``nlu:`` list holds ``intent``, ``synonym``, ``regex`` and
``lookup`` items, each with ``examples`` as a block of ``- `` lines (or a list of
``{text: ...}`` mappings). An intent named ``faq/ask_hours`` is a sub-intent of the
retrieval intent ``faq`` (``brain.nlu.retrieval``); an intent has either sub-intents or
examples of its own. ``rules:`` and ``stories:`` in the same files belong to the dialogue
and are left alone here. All defects of all files are collected and raised at once as a
``BotDataError`` naming file, line and problem.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brain.errors import BotDataError, Problem
from brain.nlu.annotations import AnnotationError, EntityAnnotation, parse_annotated_text
from brain.nlu.retrieval import DELIMITER, read_retrieval_responses, split_intent
from brain.yaml_source import YamlMap, YamlSeq, load_yaml_file

__all__ = [
    "Example",
    "LookupTable",
    "RegexPattern",
    "TrainingData",
    "data_files",
    "data_section_items",
    "example_digest",
    "load_data_file",
    "load_training_data",
]

_TOP_LEVEL_KEYS = {"version", "nlu", "rules", "stories"}
_ITEM_KINDS = ("intent", "synonym", "regex", "lookup")
_ITEM_KEYS = {"examples", "metadata"}


@dataclass(frozen=True, slots=True)
class Example:
    """One training utterance: plain text, its intent and its entity spans.

    For a retrieval intent's example ``intent`` is ``faq`` and ``intent_response_key``
    ``faq/ask_hours`` (Rasa's names), which is what the classifier learns (``label``)."""

    text: str
    intent: str
    entities: tuple[EntityAnnotation, ...]
    path: str
    line: int
    intent_response_key: str | None = None

    @property
    def label(self) -> str:
        return self.intent_response_key or self.intent


@dataclass(frozen=True, slots=True)
class RegexPattern:
    """A named regular expression; it extracts the entity of the same name."""

    name: str
    pattern: str
    path: str
    line: int


@dataclass(frozen=True, slots=True)
class LookupTable:
    """A named list of phrases; a match is an entity of that name."""

    name: str
    elements: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TrainingData:
    """Everything the NLU trains from, merged over all files of a bot."""

    examples: tuple[Example, ...]
    synonyms: Mapping[str, str] = field(default_factory=dict)
    regexes: tuple[RegexPattern, ...] = ()
    lookups: tuple[LookupTable, ...] = ()
    # The domain's responses of sub-intents (utter_faq/ask_hours): the parse lists them.
    responses: Mapping[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)

    @property
    def intents(self) -> list[str]:
        """The intents the dialogue sees: ``faq``, not its sub-intents."""
        return sorted({e.intent for e in self.examples})

    @property
    def retrieval_intents(self) -> list[str]:
        return sorted({e.intent for e in self.examples if e.intent_response_key})

    @property
    def intent_response_keys(self) -> list[str]:
        """Every sub-intent, ``faq/ask_hours``."""
        return sorted({e.intent_response_key for e in self.examples if e.intent_response_key})

    @property
    def entity_types(self) -> list[str]:
        names = {a.entity for e in self.examples for a in e.entities}
        names |= {r.name for r in self.regexes} | {t.name for t in self.lookups}
        return sorted(names)

    def fingerprint(self) -> str:
        """A hash of the content that shapes a model, to tell which data made it."""
        canonical: dict[str, Any] = {
            "examples": sorted(
                [e.text, e.label, [[a.start, a.end, a.entity, a.value] for a in e.entities]]
                for e in self.examples
            ),
            "synonyms": sorted(self.synonyms.items()),
            "regexes": sorted([r.name, r.pattern] for r in self.regexes),
            "lookups": sorted([t.name, sorted(t.elements)] for t in self.lookups),
        }
        if self.responses:  # only then: the fingerprints of other bots stay as they were
            canonical["responses"] = {k: list(v) for k, v in sorted(self.responses.items())}
        blob = json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()

    def example_digests(self) -> list[str]:
        """``example_digest`` of every example: what a model records of the texts it was
        trained on, so that ``parley nlu compare`` can keep them out of its test set."""
        return sorted({example_digest(e.text) for e in self.examples})

    def with_examples(self, examples: tuple[Example, ...]) -> TrainingData:
        """The same synonyms, regexes, lookups and responses with another set of examples
        (for splits)."""
        return TrainingData(examples, self.synonyms, self.regexes, self.lookups,
                            self.responses)


def example_digest(text: str) -> str:
    """A short hash of an example's text, case and spacing folded as duplicates are
    (two texts that differ only in those are the same example)."""
    key = re.sub(r"\s+", " ", text.lower()).strip()
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def data_files(bot_dir: Path) -> list[Path]:
    """The YAML files of a bot's ``data/`` folder, in a stable order."""
    root = bot_dir / "data"
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def data_section_items(bot_dir: Path, key: str, problems: list[Problem]
                       ) -> Iterator[tuple[str, Any, int]]:
    """(file, item, line) of every item of the ``key:`` list (``rules``, ``stories``) in
    the bot's data files; a ``key`` that is not a list is a problem, its file skipped."""
    for path in data_files(bot_dir):
        shown = str(path)
        doc = load_yaml_file(path, display_path=shown)
        if not isinstance(doc, YamlMap) or key not in doc:
            continue
        items = doc[key]
        if not isinstance(items, YamlSeq):
            problems.append(Problem(shown, doc.line_of(key), f"'{key}' must be a list"))
            continue
        for item, line in zip(items, items.item_lines, strict=True):
            yield shown, item, line


def load_training_data(bot_dir: Path) -> TrainingData:
    """Read and check every NLU file of ``bot_dir``; raise ``BotDataError`` on any defect."""
    files = data_files(bot_dir)
    if not files:
        raise BotDataError([Problem(str(bot_dir / "data"), None,
                                    "no training data: expected YAML files under data/")])
    reader = _Reader()
    for path in files:
        reader.read_file(path, _display(path, bot_dir))
    data = reader.finish(str(bot_dir / "data"))
    if not data.retrieval_intents:
        return data
    responses = read_retrieval_responses(bot_dir)
    return TrainingData(data.examples, data.synonyms, data.regexes, data.lookups,
                        {k: v for k, v in responses.items()
                         if k.removeprefix("utter_") in data.intent_response_keys})


def load_data_file(path: Path) -> TrainingData:
    """Read and check one NLU file (held-out test data, e.g.); ``BotDataError`` on defects."""
    if not path.is_file():
        raise BotDataError([Problem(str(path), None, "no such NLU data file")])
    reader = _Reader()
    reader.read_file(path, str(path))
    return reader.finish(str(path))


def _display(path: Path, bot_dir: Path) -> str:
    try:
        return str(path.relative_to(bot_dir.parent))
    except ValueError:
        return str(path)


@dataclass
class _Reader:
    """Accumulates items over files; keeps going after a defect to report them all."""

    problems: list[Problem] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)
    regexes: list[RegexPattern] = field(default_factory=list)
    lookups: dict[str, list[str]] = field(default_factory=dict)
    seen: dict[str, Example] = field(default_factory=dict)
    kinds: dict[str, Example] = field(default_factory=dict)  # intent → first example

    def read_file(self, path: Path, shown: str) -> None:
        try:
            document = load_yaml_file(path, display_path=shown)
        except BotDataError as exc:
            self.problems.extend(exc.problems)
            return
        if document is None:
            return
        if not isinstance(document, YamlMap):
            self.problems.append(Problem(shown, 1, "a data file must be a mapping with an "
                                         "'nlu:' (or 'rules:'/'stories:') key"))
            return
        for key in document:
            if key not in _TOP_LEVEL_KEYS:
                self.problems.append(Problem(shown, document.line_of(key),
                                             f"unknown top-level key '{key}' (expected one "
                                             f"of: {', '.join(sorted(_TOP_LEVEL_KEYS))})"))
        self._check_version(document, shown)
        items = document.get("nlu")
        if items is None:
            return
        if not isinstance(items, YamlSeq):
            self.problems.append(Problem(shown, document.line_of("nlu"),
                                         "'nlu' must be a list of intent/synonym/regex/"
                                         "lookup items"))
            return
        for item, line in zip(items, items.item_lines, strict=True):
            self._read_item(item, line, shown)

    def _check_version(self, document: YamlMap, shown: str) -> None:
        version = document.get("version")
        if version is not None and not str(version).startswith("3."):
            self.problems.append(Problem(shown, document.line_of("version"),
                                         f"unsupported format version '{version}' "
                                         "(Parley reads the Rasa 3.x format: version \"3.1\")"))

    def _read_item(self, item: Any, line: int, shown: str) -> None:
        if not isinstance(item, YamlMap):
            self.problems.append(Problem(shown, line, "each 'nlu' item must be a mapping such "
                                         "as 'intent: greet' with 'examples'"))
            return
        kinds = [k for k in _ITEM_KINDS if k in item]
        if len(kinds) != 1:
            self.problems.append(Problem(shown, line, "an 'nlu' item needs exactly one of "
                                         f"{', '.join(_ITEM_KINDS)}; found {kinds or 'none'}"))
            return
        kind = kinds[0]
        name = item[kind]
        for key in item:
            if key != kind and key not in _ITEM_KEYS:
                self.problems.append(Problem(shown, item.line_of(key), f"unknown key '{key}' "
                                             f"in {kind} '{name}' (expected: examples, metadata)"))
        if not isinstance(name, str) or not name.strip():
            self.problems.append(Problem(shown, line, f"'{kind}' needs a name"))
            return
        if kind == "intent" and not self._check_intent_name(name.strip(), shown, line):
            return
        lines = list(self._example_lines(item, shown, f"{kind} '{name}'"))
        if not lines and "examples" in item:
            self.problems.append(Problem(shown, item.line_of("examples"),
                                         f"{kind} '{name}' has no examples"))
        getattr(self, f"_add_{kind}")(name.strip(), lines, shown)

    def _example_lines(self, item: YamlMap, shown: str, what: str) -> Iterator[tuple[str, int]]:
        if "examples" not in item:
            self.problems.append(Problem(shown, item.line, f"{what} has no 'examples'"))
            return
        block, first = item["examples"], item.line_of("examples")
        if isinstance(block, YamlSeq):  # the long form: - text: "..." [metadata: ...]
            for entry, line in zip(block, block.item_lines, strict=True):
                text = entry.get("text") if isinstance(entry, YamlMap) else entry
                if isinstance(text, str) and text.strip():
                    yield text.strip(), line
                else:
                    self.problems.append(Problem(shown, line, f"{what}: an example needs a text"))
            return
        if not isinstance(block, str):
            self.problems.append(Problem(shown, first, f"{what}: 'examples' must be a block "
                                         "of '- ' lines (examples: |)"))
            return
        offset = 1 if "\n" in block else 0
        for number, raw in enumerate(block.splitlines()):
            stripped = raw.strip()
            if not stripped:
                continue
            if not stripped.startswith("- "):
                self.problems.append(Problem(shown, first + offset + number,
                                             f"{what}: example lines must start with '- ', "
                                             f"got '{stripped[:40]}'"))
                continue
            yield stripped[2:].strip(), first + offset + number

    def _add_intent(self, name: str, lines: list[tuple[str, int]], shown: str) -> None:
        base, sub = split_intent(name)
        for marked, line in lines:
            try:
                text, entities = parse_annotated_text(marked)
            except AnnotationError as exc:
                self.problems.append(Problem(shown, line, f"intent '{name}': {exc}"))
                continue
            example = Example(text, base, entities, shown, line, name if sub else None)
            key = re.sub(r"\s+", " ", text.lower()).strip()
            earlier = self.seen.get(key)
            if earlier is not None and earlier.label != name:
                self.problems.append(Problem(shown, line, f"example '{text}' is in intent "
                                             f"'{name}' and in '{earlier.label}' "
                                             f"({earlier.path}:{earlier.line})"))
                continue
            if earlier is None:
                self.seen[key] = example
                self.examples.append(example)
            for ann in entities:
                if ann.value != ann.text:
                    self.synonyms[ann.text.lower()] = ann.value

    def _check_intent_name(self, name: str, shown: str, line: int) -> bool:
        """``faq/ask_hours`` names one sub-intent; ``faq`` may not also have plain examples
        (they would be a class the response selection has no response for)."""
        base, sub = split_intent(name)
        if name.count(DELIMITER) > 1 or not base or (DELIMITER in name and not sub):
            self.problems.append(Problem(shown, line, f"intent '{name}': a retrieval intent "
                                         "is written 'intent/sub_intent', with one '/'"))
            return False
        earlier = self.kinds.setdefault(base, Example("", base, (), shown, line,
                                                      name if sub else None))
        if (earlier.intent_response_key is None) != (sub is None):
            sub_intent = name if sub else earlier.intent_response_key
            self.problems.append(Problem(shown, line, f"intent '{base}' has examples of its "
                                         f"own and of sub-intent '{sub_intent}' (also at "
                                         f"{earlier.path}:{earlier.line}); a retrieval intent "
                                         "has examples only under its sub-intents"))
            return False
        return True

    def _add_synonym(self, name: str, lines: list[tuple[str, int]], shown: str) -> None:
        for text, _ in lines:
            self.synonyms[text.lower()] = name

    def _add_regex(self, name: str, lines: list[tuple[str, int]], shown: str) -> None:
        for pattern, line in lines:
            try:
                re.compile(pattern)
            except re.error as exc:
                self.problems.append(Problem(shown, line, f"regex '{name}': invalid pattern "
                                             f"'{pattern}': {exc}"))
                continue
            self.regexes.append(RegexPattern(name, pattern, shown, line))

    def _add_lookup(self, name: str, lines: list[tuple[str, int]], shown: str) -> None:
        self.lookups.setdefault(name, []).extend(text for text, _ in lines)

    def finish(self, where: str) -> TrainingData:
        if not self.examples and not self.problems:
            self.problems.append(Problem(where, None, "no intent examples found in any "
                                         "'nlu:' section"))
        if self.problems:
            raise BotDataError(self.problems)
        lookups = tuple(LookupTable(n, tuple(dict.fromkeys(v))) for n, v in self.lookups.items())
        return TrainingData(tuple(self.examples), dict(self.synonyms), tuple(self.regexes),
                            lookups)
