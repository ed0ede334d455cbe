"""Trains Parley's spaCy pipeline from a bot's training data.

The pipeline, in order: ``parley_normaliser`` → ``parley_intent_classifier`` → ``ner``
(only when examples annotate entities) → ``entity_ruler`` (lookup tables) →
``parley_regex_entities`` (regex sections). It starts from ``spacy.blank("en")``: no
pretrained pipeline can be downloaded on our machines, and none is needed for intents.
Training is reproducible for a given seed: every random source is seeded from it.
Retrieval intents' examples are learned under their full labels (``faq/ask_hours``); the
parse folds them up (``brain.nlu.retrieval``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import spacy
from spacy.language import Language
from spacy.pipeline import EntityRuler
from spacy.tokens import Doc
from spacy.training import Example as SpacyExample
from spacy.util import minibatch
from thinc.api import compounding, fix_random_seed

from brain.nlu.config import NluConfig
from brain.nlu.entity_rules import RegexEntities, lookup_patterns
from brain.nlu.intent_classifier import IntentClassifier
from brain.nlu.model import NluModel
from brain.nlu.training_data import Example, TrainingData

__all__ = ["ProgressCallback", "TrainingEvent", "build_pipeline", "train_model", "train_pipeline"]

_log = logging.getLogger("parley.brain.nlu.training")

# A small NER network: a few hundred examples do not need spaCy's default width, and the
# smaller one trains several times faster on two cores.
_NER_MODEL: dict[str, Any] = {
    "@architectures": "spacy.TransitionBasedParser.v2",
    "state_type": "ner", "extra_state_tokens": False, "hidden_width": 64,
    "maxout_pieces": 2, "use_upper": True, "nO": None,
    "tok2vec": {
        "@architectures": "spacy.HashEmbedCNN.v2", "pretrained_vectors": None, "width": 64,
        "depth": 2, "embed_size": 2000, "window_size": 1, "maxout_pieces": 3,
        "subword_features": True,
    },
}


@dataclass(frozen=True, slots=True)
class TrainingEvent:
    """Progress of one training stage, for a progress bar: ``epoch`` of ``epochs`` done."""

    stage: str
    epoch: int
    epochs: int
    loss: float | None


ProgressCallback = Callable[[TrainingEvent], None]


def build_pipeline(data: TrainingData, config: NluConfig) -> Language:
    """An untrained pipeline with the components this data needs."""
    nlp = spacy.blank(config.language)
    nlp.add_pipe("parley_normaliser")
    nlp.add_pipe("parley_intent_classifier", config={"c": config.classifier_c})
    if any(e.entities for e in data.examples):
        nlp.add_pipe("ner", config={"model": _NER_MODEL})
    if data.lookups:
        nlp.add_pipe("entity_ruler", config={"overwrite_ents": True})
    if data.regexes:
        nlp.add_pipe("parley_regex_entities")
    return nlp


def train_pipeline(data: TrainingData, config: NluConfig, *, seed: int,
                   progress: ProgressCallback | None = None) -> tuple[Language, dict[str, Any]]:
    """Train every component; return the pipeline and training metrics."""
    fix_random_seed(seed)
    nlp = build_pipeline(data, config)
    report = progress or (lambda event: None)
    normalise = nlp.get_pipe("parley_normaliser")
    docs = [normalise(nlp.make_doc(e.text)) for e in data.examples]
    metrics: dict[str, Any] = {"examples": len(docs), "intents": len(data.intents)}

    started = time.perf_counter()
    report(TrainingEvent("intent classifier", 0, 1, None))
    classifier = cast(IntentClassifier, nlp.get_pipe("parley_intent_classifier"))
    loss = classifier.fit(docs, [e.label for e in data.examples], seed=seed)
    report(TrainingEvent("intent classifier", 1, 1, loss))
    metrics["intent_train_log_loss"] = round(loss, 5)
    metrics["intent_seconds"] = round(time.perf_counter() - started, 2)

    # initialize() resets rule components, so their patterns are added after it.
    ner_examples = _ner_examples(nlp, docs, data.examples) if "ner" in nlp.pipe_names else []
    optimizer = nlp.initialize(lambda: ner_examples)
    if ner_examples:
        started = time.perf_counter()
        metrics["ner_final_loss"] = _train_ner(nlp, ner_examples, optimizer, config.ner_epochs,
                                               seed, report)
        metrics["ner_seconds"] = round(time.perf_counter() - started, 2)
    if "entity_ruler" in nlp.pipe_names:
        ruler = cast(EntityRuler, nlp.get_pipe("entity_ruler"))
        ruler.add_patterns(lookup_patterns(nlp, data.lookups))
    if "parley_regex_entities" in nlp.pipe_names:
        regex_pipe = cast(RegexEntities, nlp.get_pipe("parley_regex_entities"))
        regex_pipe.set_patterns(data.regexes)
    return nlp, metrics


def _ner_examples(nlp: Language, docs: Sequence[Doc],
                  examples: Sequence[Example]) -> list[SpacyExample]:
    result = []
    for doc, example in zip(docs, examples, strict=True):
        spans = []
        for ann in example.entities:
            span = doc.char_span(ann.start, ann.end, label=ann.entity, alignment_mode="expand")
            if span is None:
                _log.warning("%s:%d: entity '%s' does not align with tokens; skipped",
                             example.path, example.line, ann.text)
                continue
            spans.append(span)
        reference = nlp.make_doc(example.text)
        aligned = [reference.char_span(s.start_char, s.end_char, label=s.label_)
                   for s in spacy.util.filter_spans(spans)]
        reference.ents = [s for s in aligned if s is not None]
        result.append(SpacyExample(doc, reference))
    return result


def _train_ner(nlp: Language, examples: list[SpacyExample], optimizer: Any, epochs: int,
               seed: int, report: ProgressCallback) -> float:
    shuffler = random.Random(seed)
    loss = 0.0
    for epoch in range(1, epochs + 1):
        shuffler.shuffle(examples)
        losses: dict[str, float] = {}
        batches = minibatch(examples, size=compounding(8.0, 64.0, 1.05))  # type: ignore[no-untyped-call]
        for batch in batches:
            nlp.update(batch, drop=0.2, sgd=optimizer, losses=losses)
        loss = losses.get("ner", 0.0)
        report(TrainingEvent("entity recogniser", epoch, epochs, loss))
    return round(float(loss), 4)


def train_model(data: TrainingData, config: NluConfig, *, seed: int = 0,
                progress: ProgressCallback | None = None) -> NluModel:
    """Train a complete, saveable model (pipeline, settings, synonyms, metadata)."""
    started = time.perf_counter()
    nlp, metrics = train_pipeline(data, config, seed=seed, progress=progress)
    metrics["train_seconds"] = round(time.perf_counter() - started, 2)
    meta = {
        "seed": seed,
        "data_fingerprint": data.fingerprint(),
        "example_digests": data.example_digests(),
        "intents": data.intents,
        "entities": data.entity_types,
        "retrieval_intents": data.retrieval_intents,
        "retrieval_responses": {k: list(v) for k, v in sorted(data.responses.items())},
        "pipeline": list(nlp.pipe_names),
        "metrics": metrics,
    }
    return NluModel(nlp=nlp, config=config, synonyms=dict(data.synonyms), meta=meta)
