"""Rule-based entity extraction: lookup tables through spaCy's ``entity_ruler``, and the
``parley_regex_entities`` component for a bot's ``regex:`` sections.

Both write ``doc.ents`` after the statistical NER and win where they overlap it: a rule the
bot's author wrote is more precise than a model trained on a few examples. Each span keeps
its origin in ``ent_id_`` (``lookup`` / ``regex``; empty for the NER).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span

from brain.nlu.training_data import LookupTable, RegexPattern

__all__ = ["LOOKUP_ID", "REGEX_ID", "RegexEntities", "lookup_patterns"]

LOOKUP_ID = "lookup"
REGEX_ID = "regex"
_FUZZY_MIN_LENGTH = 5  # shorter words would fuzzily match too many others


def lookup_patterns(nlp: Language, tables: Sequence[LookupTable]) -> list[dict[str, Any]]:
    """``entity_ruler`` token patterns for lookup tables, tolerant of typos in long words."""
    patterns: list[dict[str, Any]] = []
    for table in tables:
        for element in table.elements:
            tokens = [t.lower_ for t in nlp.make_doc(element)]
            pattern = [
                {"LOWER": {"FUZZY": word}} if len(word) >= _FUZZY_MIN_LENGTH and word.isalpha()
                else {"LOWER": word}
                for word in tokens
            ]
            patterns.append({"label": table.name, "pattern": pattern, "id": LOOKUP_ID})
    return patterns


class RegexEntities:
    """Marks matches of named regexes as entities of that name."""

    def __init__(self, name: str = "parley_regex_entities") -> None:
        self.name = name
        self._patterns: list[tuple[str, re.Pattern[str]]] = []

    def set_patterns(self, patterns: Iterable[RegexPattern]) -> None:
        self._patterns = [(p.name, re.compile(p.pattern)) for p in patterns]

    def __call__(self, doc: Doc) -> Doc:
        if not self._patterns:
            return doc
        found: list[Span] = []
        for label, regex in self._patterns:
            for match in regex.finditer(doc.text):
                span = doc.char_span(match.start(), match.end(), label=label,
                                     span_id=REGEX_ID, alignment_mode="expand")
                if span is not None and not any(_overlaps(span, s) for s in found):
                    found.append(span)
        kept = [e for e in doc.ents if not any(_overlaps(e, s) for s in found)]
        doc.ents = sorted(kept + found, key=lambda s: s.start)
        return doc

    def to_disk(self, path: Path, *, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        data = [[label, regex.pattern] for label, regex in self._patterns]
        (path / "patterns.json").write_text(json.dumps(data), encoding="utf-8")

    def from_disk(self, path: Path, *, exclude: Iterable[str] = ()) -> RegexEntities:
        data = json.loads((Path(path) / "patterns.json").read_text(encoding="utf-8"))
        self._patterns = [(label, re.compile(pattern)) for label, pattern in data]
        return self


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


@Language.factory("parley_regex_entities")
def make_regex_entities(nlp: Language, name: str) -> RegexEntities:
    return RegexEntities(name)
